// Browser test of signing in, roles and the admin pages, against a running
// crawlhub (the Makefile starts the all-in-one for it; its start token acts
// as the user admin). Users for each test are made with the admin's token.
//
//   CRAWLHUB_E2E_URL=http://127.0.0.1:8080 CRAWLHUB_E2E_TOKEN=… node --test web/test/access.test.mjs
//
// Every wrong password counts against the server's sign-in throttle for
// 127.0.0.1 (20 in 15 minutes lock the address out), so the file makes
// only the six the tests need.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOKEN, api, assertNoSecretsInStorage, newUser, shot, signIn, url, useBrowser, withPage } from './browser.mjs';

useBrowser();

/** GET api/me with a bearer token, from the test: the status and the body. */
async function meWith(token) {
  const res = await fetch(url('api/me'), { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json().catch(() => null) };
}

const navText = (page) => page.locator('nav a[data-section]').allInnerTexts().then((a) => a.join(' '));

test('an operator signs in with a username and password, sees no admin pages, and signs out', async (t) => {
  const op = await newUser('operator');
  await withPage(t, async (page) => {
    await page.goto(url('#/tasks'));
    const form = page.locator('#login-form');
    await form.waitFor();
    await shot(t, page, 'sign-in.png');

    // A wrong password: a clear message, still on the sign-in page.
    await form.locator('#username').fill(op.username);
    await form.locator('#password').fill(`${op.password}-wrong`);
    await form.locator('button[type="submit"]').click();
    await page.locator('#login-message', { hasText: 'Wrong username or password' }).waitFor();
    assert.equal(await page.locator('nav a').count(), 0);

    await form.locator('#password').fill(op.password);
    await form.locator('button[type="submit"]').click();
    await page.locator('#account-name', { hasText: op.username }).waitFor();
    assert.equal(await page.locator('#account-role').innerText(), 'operator');
    await page.locator('#tasks-table, .empty').first().waitFor();
    assert.equal(new URL(page.url()).hash, '#/tasks', 'signing in keeps the page that was asked for');
    assert.equal(await navText(page), 'Overview Nodes Spiders Schedules Tasks Tokens');
    await assertNoSecretsInStorage(page);

    // An operator is offered Run; an admin page says it is not theirs.
    await page.goto(url('#/spiders'));
    await page.locator('#spiders-table tr[data-spider-name="sample"] button[data-action="run"]').waitFor();
    assert.equal(await page.locator('#new-spider').count(), 1);
    await page.goto(url('#/users'));
    await page.locator('#forbidden').waitFor();
    assert.equal(await page.locator('#users-table').count(), 0);

    await page.locator('#sign-out').click();
    await page.locator('#login-form').waitFor();
    await page.locator('#login-message', { hasText: 'Signed out' }).waitFor();
    assert.equal(await page.locator('nav a').count(), 0);

    // The session is gone on the server too: a reload asks to sign in, and the API says 401.
    await page.reload();
    await page.locator('#login-form').waitFor();
    assert.equal(await page.evaluate(() => fetch('api/me').then((r) => r.status)), 401);
  });
});

test('too many failed sign-ins: the page says how long to wait, and offers no button until then', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url());
    const form = page.locator('#login-form');
    await form.waitFor();
    // A username nobody has: the server answers the same, and locks it after five failures.
    await form.locator('#username').fill(`e2e-nobody-${Date.now().toString(36)}`);
    const submit = form.locator('button[type="submit"]');
    for (let i = 1; i <= 5; i++) {
      await form.locator('#password').fill(`wrong-${i}`);
      await submit.click();
      if (i < 5) await page.locator('#login-message', { hasText: 'Wrong username or password' }).waitFor();
      // The next attempt waits for this answer (the button is off while it is out).
      await page.waitForFunction(() => !document.querySelector('#login-form button[type="submit"]').textContent.includes('…'));
    }
    await page.locator('#login-message', { hasText: 'Too many sign-in attempts' }).waitFor();
    assert.match(await page.locator('#login-wait').innerText(), /^Try again in \d+ s\.$/);
    assert.equal(await submit.isDisabled(), true, 'no sign-in while locked out');
    await shot(t, page, 'sign-in-throttled.png');
  });
});

test('a viewer sees no Run, Cancel or other changing buttons, and a forged call from their page is refused', async (t) => {
  const viewer = await newUser('viewer');
  // A task of the viewer's list, which would offer Cancel or Restart.
  const sample = (await api('GET', 'spiders')).items.find((s) => s.name === 'sample');
  const run = await api('POST', 'tasks', { spider_id: sample.id, mode: 'any' });
  const taskID = run.items[0].id;
  try {
    await withPage(t, async (page) => {
      await signIn(page, viewer, '#/tasks');
      assert.equal(await page.locator('#account-role').innerText(), 'viewer');
      assert.equal(await navText(page), 'Overview Nodes Spiders Schedules Tasks Tokens');

      const row = page.locator(`#tasks-table tbody tr[data-task-id="${taskID}"]`);
      await row.waitFor();
      assert.equal(await page.locator('#tasks-table button[data-action="cancel"], #tasks-table button[data-action="restart"]').count(), 0, 'no Cancel or Restart in the task list');
      await shot(t, page, 'tasks-viewer.png');

      await page.goto(url(`#/tasks/${taskID}`));
      await page.locator('#task-id', { hasText: taskID }).waitFor();
      assert.equal(await page.locator('#cancel-task, #restart-task').count(), 0, 'no Cancel or Restart on the task page');

      await page.goto(url('#/spiders'));
      await page.locator('#spiders-table tr[data-spider-name="sample"]').waitFor();
      assert.equal(await page.locator('#spiders-table button[data-action]').count(), 0, 'no Run, Deploy or Delete');
      assert.equal(await page.locator('#new-spider').count(), 0, 'no upload');
      await shot(t, page, 'spiders-viewer.png');

      await page.goto(url(`#/spiders/${sample.id}`));
      await page.locator('#spider-id').waitFor();
      assert.equal(await page.locator('#edit-spider').count(), 0, 'no Edit');

      await page.goto(url('#/schedules'));
      await page.locator('#schedules-table, .empty').first().waitFor();
      assert.equal(await page.locator('#new-schedule').count(), 0, 'no New schedule');
      assert.equal(await page.locator('#schedules-table button[data-action]').count(), 0, 'no Run now, Edit or Delete');

      // The server refuses what the page does not offer, even with the
      // session's own CSRF token (a forged call from this very page).
      const before = (await api('GET', 'tasks?limit=1')).total;
      const forged = await page.evaluate(async ({ spiderID, taskID }) => {
        const me = await fetch('api/me').then((r) => r.json());
        const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf };
        const runIt = await fetch('api/tasks', { method: 'POST', headers, body: JSON.stringify({ spider_id: spiderID }) });
        const cancel = await fetch(`api/tasks/${taskID}/cancel`, { method: 'POST', headers, body: '{}' });
        return { role: me.role, hasCSRF: Boolean(me.csrf), run: runIt.status, body: await runIt.json(), cancel: cancel.status };
      }, { spiderID: sample.id, taskID });
      assert.equal(forged.role, 'viewer');
      assert.ok(forged.hasCSRF, 'the session has a CSRF token');
      assert.equal(forged.run, 403, JSON.stringify(forged.body));
      assert.match(forged.body.message, /operator/);
      assert.equal(forged.cancel, 403);
      assert.equal((await api('GET', 'tasks?limit=1')).total, before, 'no task was made');
      assert.equal((await api('GET', `tasks/${taskID}`)).cancelled_by ?? '', '', 'the viewer did not cancel the task');
    });
  } finally {
    await api('POST', `tasks/${taskID}/cancel`, { reason: 'end of the viewer test' }).catch(() => {});
  }
});

test('an admin creates a token (its secret shown once), revokes it, and manages a user', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tokens`));
    await page.locator('#account-name', { hasText: 'admin' }).waitFor();
    assert.equal(await navText(page), 'Overview Nodes Spiders Schedules Tasks Tokens Users Alerts Audit');

    // A token: name, a lower role, an expiry; the secret once.
    const name = `e2e-script-${Date.now().toString(36)}`;
    await page.locator('#new-token').click();
    const dialog = page.locator('#token-dialog');
    await dialog.waitFor();
    await dialog.locator('#token-name').fill(name);
    await dialog.locator('#token-role').selectOption('operator');
    await dialog.locator('#token-expiry').selectOption('7d');
    await dialog.locator('button[data-role="submit"]').click();
    const shown = page.locator('#token-secret-dialog');
    await shown.waitFor();
    await shown.getByText('shown only this once').waitFor();
    const secret = await shown.locator('#token-secret').inputValue();
    assert.ok(secret.length >= 20, `secret ${secret}`);
    await shot(t, page, 'token-created.png');
    await shown.locator('#copy-token').click();
    await shown.locator('#copy-state', { hasText: /Copied|Could not copy/ }).waitFor();

    const me = await meWith(secret);
    assert.equal(me.status, 200);
    assert.equal(me.body.role, 'operator', 'the token has the role chosen, not its owner’s');

    await shown.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached' });
    assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page once the dialog closes');
    const row = page.locator(`#tokens-table tbody tr[data-token-name="${name}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /operator/);
    assert.match(await row.locator('[data-field="owner"]').innerText(), /admin/);
    assert.notEqual(await row.locator('[data-field="expires"]').innerText(), 'never');
    await assertNoSecretsInStorage(page);
    await shot(t, page, 'tokens.png');

    await row.locator('button[data-action="revoke"]').click();
    await page.locator('#revoke-dialog button[data-role="submit"]').click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await meWith(secret)).status, 401, 'a revoked token stops working at once');

    // A user: create, change the role, disable, delete.
    const username = `e2e-made-${Date.now().toString(36)}`;
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    await page.locator('nav a[data-section="users"]').click();
    await page.locator('#users-table').waitFor();
    await page.locator('#new-user').click();
    const create = page.locator('#user-dialog');
    await create.locator('#user-name').fill(username);
    await create.locator('#user-password').fill(password);
    await create.locator('#user-role').selectOption('viewer');
    await create.locator('button[data-role="submit"]').click();
    const user = page.locator(`#users-table tbody tr[data-username="${username}"]`);
    await user.waitFor();
    assert.equal(await user.getAttribute('data-role'), 'viewer');
    const login = await fetch(url('api/auth/login'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
    assert.equal(login.status, 200, 'the new user can sign in');
    await shot(t, page, 'users.png');

    await user.locator('button[data-action="role"]').click();
    await page.locator('#role-dialog #user-role').selectOption('operator');
    await page.locator('#role-dialog button[data-role="submit"]').click();
    await page.locator(`#users-table tbody tr[data-username="${username}"][data-role="operator"]`).waitFor();

    await page.locator(`#users-table tbody tr[data-username="${username}"] button[data-action="disable"]`).click();
    await page.locator('#disable-dialog button[data-role="submit"]').click();
    await page.locator(`#users-table tbody tr[data-username="${username}"][data-disabled="true"]`).waitFor();

    await page.locator(`#users-table tbody tr[data-username="${username}"] button[data-action="delete"]`).click();
    await page.locator('#delete-dialog button[data-role="submit"]').click();
    await page.locator(`#users-table tbody tr[data-username="${username}"]`).waitFor({ state: 'detached' });

    // The audit log has it, newest first, and filters by action.
    await page.locator('nav a[data-section="audit"]').click();
    await page.locator('#audit-table').waitFor();
    await page.locator('#filter-action').fill('token.revoke');
    await page.locator('#filter-action').press('Enter');
    const entry = page.locator('#audit-table tbody tr[data-action="token.revoke"]').first();
    await entry.waitFor();
    assert.equal(await page.locator('#audit-table tbody tr:not([data-action="token.revoke"])').count(), 0, 'only the filtered action');
    assert.match(new URL(page.url()).hash, /action=token\.revoke/);
    await shot(t, page, 'audit.png');

    // New entries arrive on the first page as they are recorded (the audit channel).
    const rows = page.locator('#audit-table tbody tr');
    const shownBefore = await rows.count();
    const made = await api('POST', 'tokens', { name: `e2e-live-${Date.now().toString(36)}` });
    await api('DELETE', `tokens/${made.credential.id}`);
    await page.locator(`#audit-table tbody tr[data-action="token.revoke"]:has-text("${made.credential.name}")`).waitFor({ timeout: 5000 });
    assert.equal(await rows.count(), shownBefore + 1, 'the token.create entry is filtered out');
  });
});

test('a lowered role changes what the page offers; a session ended on the server sends the page to the sign-in page, saying why', async (t) => {
  const op = await newUser('operator');
  await withPage(t, async (page) => {
    await signIn(page, op, '#/spiders');
    await page.locator('#spiders-table button[data-action="run"]').first().waitFor();
    await page.goto(url('#/tasks'));
    await page.locator('.live[data-state="open"]').waitFor();

    // An admin lowers their role: the server closes their WebSocket (4001),
    // but the session still works, at the new role; the page follows.
    await api('PUT', `users/${op.id}`, { role: 'viewer' });
    await page.locator('#account-role', { hasText: 'viewer' }).waitFor();
    await page.locator('.live[data-state="open"]').waitFor();
    assert.equal(await page.locator('#login-form').count(), 0, 'still signed in');
    await page.goto(url('#/spiders'));
    await page.locator('#spiders-table tr[data-spider-name="sample"]').waitFor();
    assert.equal(await page.locator('#spiders-table button[data-action="run"]').count(), 0, 'no Run for the viewer they now are');

    // An admin disables the user: the server closes their WebSocket (4001)
    // and the session no longer works.
    await api('PUT', `users/${op.id}`, { disabled: true });
    await page.locator('#login-form').waitFor();
    await page.locator('#login-message', { hasText: /session was ended|sign in again/i }).waitFor();
    assert.equal(await page.locator('nav a').count(), 0);
    await shot(t, page, 'session-ended.png');

    // Enabled again, the same person signs in again and is back on the page they were on.
    await api('PUT', `users/${op.id}`, { disabled: false });
    await page.locator('#username').fill(op.username);
    await page.locator('#password').fill(op.password);
    await page.locator('#login-form button[type="submit"]').click();
    await page.locator('#account-name', { hasText: op.username }).waitFor();
    await page.locator('#spiders-table tr[data-spider-name="sample"]').waitFor();
    await page.goto(url('#/tasks'));
    await page.locator('.live[data-state="open"]').waitFor();
  });
});

test('a viewer changes their own password from the top bar, and signs in with the new one', async (t) => {
  const viewer = await newUser('viewer');
  await withPage(t, async (page) => {
    await signIn(page, viewer, '#/nodes');
    await page.locator('#account-name').click();
    const dialog = page.locator('#own-password-dialog');
    await dialog.waitFor();
    const next = `${viewer.password}-new`;
    await dialog.locator('#current-password').fill(viewer.password);
    await dialog.locator('#own-new-password').fill(next);
    await dialog.locator('#own-new-password-again').fill(next);
    await dialog.locator('button[type="submit"]').click();
    await page.locator('.toast', { hasText: 'Your password was changed' }).waitFor();
    // This session stays signed in.
    assert.equal(await page.evaluate(() => fetch('api/me').then((r) => r.status)), 200);

    await page.locator('#sign-out').click();
    await page.locator('#login-form').waitFor();
    await signIn(page, { username: viewer.username, password: next });
    assert.equal(await page.locator('#account-role').innerText(), 'viewer');
  });
});
