// Browser test of the dashboard against a running crawlhub (the Makefile
// starts the all-in-one for it, which creates the sample spider "sample").
// Uses Debian's Chromium through playwright-core (web/test/browser.mjs).
//
//   CRAWLHUB_E2E_URL=http://127.0.0.1:8080 CRAWLHUB_E2E_TOKEN=… npm run test:e2e
//
// Optional: CRAWLHUB_CHROMIUM (default /usr/bin/chromium) and
// CRAWLHUB_E2E_ARTIFACTS (where screenshots go; default a new temp dir).

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TOKEN, api, artifactsDir, assertNoSecretsInStorage, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

test('the login URL signs in as admin, hides the token and lists an online node with its system info', async (t) => {
  await withPage(t, async (page) => {
    // What an older dashboard left behind goes.
    await page.evaluate((token) => localStorage.setItem('crawlhub.token', token), TOKEN);
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}`));
    // The dashboard opens on the overview; the nodes are one click away.
    await page.waitForURL((u) => u.hash === '#/overview');
    await page.locator('nav a[data-section="nodes"]').click();

    const online = page.locator('#nodes-table tbody tr[data-status="online"]').first();
    await online.waitFor();
    assert.equal(await online.locator('.badge[data-status]').first().innerText(), 'Online');

    const address = new URL(page.url());
    assert.equal(address.searchParams.has('token'), false, `token still in the address bar: ${page.url()}`);
    assert.ok(!page.url().includes(TOKEN), `token still in the address bar: ${page.url()}`);
    assert.equal(await page.locator('#account-name').innerText(), 'admin');
    assert.equal(await page.locator('#account-role').innerText(), 'admin');
    await assertNoSecretsInStorage(page);

    const nodesShot = path.join(artifactsDir(), 'nodes.png');
    await page.screenshot({ path: nodesShot, fullPage: true });
    t.diagnostic(`nodes page: ${nodesShot}`);

    const id = await online.getAttribute('data-node-id');
    await online.locator('a').first().click();
    await page.waitForURL((u) => u.hash === `#/nodes/${encodeURIComponent(id)}`);

    const cpus = page.locator('[data-field="cpus"]');
    await cpus.waitFor();
    const count = Number(await cpus.innerText());
    assert.ok(count > 0, `CPU count ${count}, want > 0`);
    await page.locator('#executables').waitFor();

    const detail = path.join(artifactsDir(), 'node.png');
    await page.screenshot({ path: detail, fullPage: true });
    t.diagnostic(`node page: ${detail}`);
  });
});

test('without a session the sign-in page is shown, and pasting the token signs in', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url());
    await page.locator('#login-form').waitFor();
    assert.equal(await page.locator('#nodes-table').count(), 0);
    assert.equal(await page.locator('nav a').count(), 0, 'no nav before signing in');

    await page.locator('.login-token summary').click();
    const form = page.locator('#token-form');
    await form.locator('#token').fill(url(`?token=${encodeURIComponent(TOKEN)}`));
    await form.locator('button[type="submit"]').click();
    await page.locator('#stat-ended').waitFor();
    await assertNoSecretsInStorage(page);
  });
});

test('a wrong token in the login URL leads to the sign-in page, and the token leaves the address bar', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=not-${encodeURIComponent(TOKEN)}`));
    await page.locator('#login-form').waitFor();
    await page.getByText('The sign-in link was not accepted').waitFor();
    assert.ok(!page.url().includes('token='), `token still in the address bar: ${page.url()}`);
  });
});

test('run the sample spider from the Spiders page, watch its log live, cancel it and find it in the task list', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/spiders`));
    assert.equal(await page.locator('nav a[data-section]').allInnerTexts().then((a) => a.join(' ')), 'Overview Nodes Spiders Schedules Tasks Tokens Users Alerts Audit');
    const row = page.locator('#spiders-table tbody tr[data-spider-name="sample"]');
    await row.waitFor();
    assert.equal(await row.locator('code.command').innerText(), 'sh run.sh');
    assert.match(await row.locator('td').nth(2).innerText(), /^[0-9a-f]{8}$/, 'short MD5');
    await shot(t, page, 'spiders.png');

    await row.locator('button[data-action="run"]').click();
    const dialog = page.locator('#run-dialog');
    await dialog.waitFor();
    assert.equal(await dialog.locator('input[name="mode"]:checked').getAttribute('value'), 'any', 'mode any by default');
    assert.equal(await dialog.locator('#run-nodes').isVisible(), false, 'no node picker for mode any');
    await dialog.locator('input[name="mode"][value="nodes"]').check();
    await dialog.locator('#run-nodes input[name="node"]').first().waitFor();
    await shot(t, page, 'run-dialog.png');
    await dialog.locator('input[name="mode"][value="any"]').check();
    await dialog.locator('button[data-role="submit"]').click();

    // Lands on the new task's page.
    await page.waitForURL((u) => /^#\/tasks\/[0-9a-f]{24}$/.test(u.hash));
    const id = new URL(page.url()).hash.split('/')[2];
    assert.equal(await page.locator('#task-id').innerText(), id);

    // The first lines appear live, numbered, some in colour.
    const first = page.locator('.log-scroll .logline', { hasText: 'line 1: crawling page 1' });
    await first.waitFor();
    assert.equal(await first.locator('.ln').innerText(), '2');
    await page.locator('#task-status .badge[data-status="running"]').waitFor();
    await page.locator('.log-scroll .logline .ansi-fg-2', { hasText: 'line 3: fetched' }).waitFor();
    assert.equal(await page.locator('#log-follow').getAttribute('aria-pressed'), 'true');
    await page.locator('.log-scroll .logline', { hasText: 'line 5:' }).waitFor();
    await shot(t, page, 'task-running.png');

    // Cancel it from the page.
    await page.locator('#cancel-task').click();
    const confirm = page.locator('#cancel-dialog');
    await confirm.waitFor();
    await confirm.locator('#cancel-reason').fill('browser test');
    await confirm.locator('button[data-role="submit"]').click();
    await page.locator('#task-status .badge[data-status="cancelled"]').waitFor();
    const end = page.locator('.log-end');
    await end.waitFor();
    const endText = (await end.textContent()).replace(/\s+/g, ' ').trim();
    assert.match(endText, /^Cancelled — \d+ lines?$/);
    assert.match(await page.locator('#task-status .reason').innerText(), /browser test/);
    await page.locator('#restart-task').waitFor();
    assert.equal(await page.locator('#cancel-task').count(), 0);

    // Every line once and in order: line i (from 1) is the spider's "line i".
    const texts = await page.locator('.log-scroll .logline .lt').allInnerTexts();
    assert.ok(texts.length >= 6, `only ${texts.length} lines`);
    assert.match(texts[0], /^sample spider starting/);
    texts.slice(1).forEach((text, i) => assert.match(text, new RegExp(`^line ${i + 1}:`), `line ${i + 1}`));
    const total = Number(endText.match(/(\d+) line/)[1]);
    assert.equal(total, texts.length, 'the end notice counts the lines shown');
    await shot(t, page, 'task-cancelled.png');

    // The task list shows it.
    await page.locator('nav a[data-section="tasks"]').click();
    const taskRow = page.locator(`#tasks-table tbody tr[data-task-id="${id}"]`);
    await taskRow.waitFor();
    assert.equal(await taskRow.getAttribute('data-status'), 'cancelled');
    assert.equal(await taskRow.locator('.badge[data-status]').innerText(), 'Cancelled');
    await taskRow.locator('button[data-action="restart"]').waitFor();
    await shot(t, page, 'tasks.png');
  });
});

test('the task list changes state live, without a reload, and filters by status', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks`));
    await page.locator('#tasks-table, .empty').first().waitFor();
    await page.locator('.live[data-state="open"]').waitFor();
    const reloads = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && reloads.push(f.url()));

    const { items } = await api('POST', 'tasks', { spider: 'sample' });
    const id = items[0].id;
    const row = page.locator(`#tasks-table tbody tr[data-task-id="${id}"]`);
    await row.waitFor();
    await page.locator(`#tasks-table tbody tr[data-task-id="${id}"][data-status="running"]`).waitFor();
    await row.locator('button[data-action="cancel"]').waitFor();

    await api('POST', `tasks/${id}/cancel`, { reason: 'from the test' });
    await page.locator(`#tasks-table tbody tr[data-task-id="${id}"][data-status="cancelled"]`).waitFor();
    assert.match(await row.locator('.reason').innerText(), /from the test/);
    assert.deepEqual(reloads, [], 'the page did not reload');

    await page.locator('#filter-status').selectOption('cancelled');
    await page.waitForURL((u) => u.hash === '#/tasks?status=cancelled');
    await page.locator(`#tasks-table tbody tr[data-task-id="${id}"]`).waitFor();
    for (const status of await page.locator('#tasks-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.status))) {
      assert.equal(status, 'cancelled');
    }
  });
});

test('uploading a hostile archive shows the server’s refusal; a good one is listed and can be deleted', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crawlhub-e2e-zip-'));
  try {
    const evil = path.join(dir, 'evil.zip');
    const good = path.join(dir, 'good.zip');
    await writeFile(evil, zip({ '../escape.sh': 'echo escaped\n' }));
    await writeFile(good, zip({ 'run.sh': 'echo hello from the browser test\n' }));
    const name = `e2e-${Date.now().toString(36)}`;

    await withPage(t, async (page) => {
      await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/spiders`));
      await page.locator('#spiders-table').waitFor();
      await page.locator('#new-spider').click();
      const dialog = page.locator('#upload-dialog');
      await dialog.waitFor();
      await dialog.locator('#spider-name').fill(name);
      await dialog.locator('#spider-command').fill('sh run.sh');
      await dialog.locator('#spider-env').fill('GREETING=hello\nnot a variable');
      await dialog.locator('#spider-file').setInputFiles(evil);
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.getByText('Line 2: "not a variable" has no "="').waitFor();

      await dialog.locator('#spider-env').fill('GREETING=hello');
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.getByText('archive refused').waitFor();
      assert.match(await dialog.locator('.callout-error').innerText(), /escape/);
      await shot(t, page, 'upload-refused.png');

      await dialog.locator('#spider-file').setInputFiles(good);
      await dialog.locator('#spider-dedup-keys').fill('url, title');
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.waitFor({ state: 'detached' });
      const row = page.locator(`#spiders-table tbody tr[data-spider-name="${name}"]`);
      await row.waitFor();
      assert.match(await row.innerText(), /1 environment variable/);
      const sp = await api('GET', `spiders/${name}`);
      assert.deepEqual(sp.env, { GREETING: 'hello' });
      assert.deepEqual([sp.dedup_keys, sp.dedup], [['url', 'title'], 'ignore'], 'dedup from the form, ignore by default');

      // Deploy: the node's answer comes back on the spiders channel.
      await row.locator('button[data-action="deploy"]').click();
      const confirmed = page.locator('.toast-ok', { hasText: `${name} is on its node` });
      await confirmed.waitFor();
      assert.match(await confirmed.innerText(), /Downloaded now\./);

      await row.locator('button[data-action="delete"]').click();
      const confirm = page.locator('#delete-dialog');
      await confirm.waitFor();
      await confirm.locator('button[data-role="submit"]').click();
      await row.waitFor({ state: 'detached' });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a schedule made in the form shows its fire times as typed, fires live, lists its tasks, can be disabled and deleted', async (t) => {
  const name = `e2e-every-2s-${Date.now().toString(36)}`;
  let scheduleID = '';
  let createdID = '';
  try {
    await withPage(t, async (page) => {
      await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/schedules`));
      await page.locator('#schedules-table, .empty').first().waitFor();
      await page.locator('.live[data-state="open"]').waitFor();
      const reloads = [];
      page.on('framenavigated', (f) => f === page.mainFrame() && reloads.push(f.url()));

      await page.locator('#new-schedule').click();
      const dialog = page.locator('#schedule-dialog');
      await dialog.waitFor();
      const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
      assert.equal(await dialog.locator('#sched-tz').inputValue(), zone, 'the time zone defaults to the browser’s');
      await dialog.locator('#sched-spider option', { hasText: 'sample' }).waitFor({ state: 'attached' });
      await dialog.locator('#sched-spider').selectOption({ label: 'sample' });
      await dialog.locator('#sched-name').fill(name);
      const save = dialog.locator('button[data-role="submit"]');

      // A wrong expression: the server's reason, and no saving.
      await dialog.locator('#sched-cron').fill('61 * * * *');
      const wrong = dialog.locator('#cron-preview .callout-error');
      await wrong.waitFor();
      assert.match(await wrong.innerText(), /61/);
      assert.equal(await save.isDisabled(), true, 'Save is disabled while the cron is wrong');
      assert.equal(await dialog.locator('#sched-cron').getAttribute('aria-invalid'), 'true');
      await shot(t, page, 'schedule-form-invalid.png');

      // A right one: five fire times in each zone, two seconds apart.
      await dialog.locator('#sched-cron').fill('@every 2s');
      await dialog.locator('#sched-tz').fill('Asia/Kolkata');
      const local = dialog.locator('#cron-preview [data-zone="local"] .fire-times li');
      const theirs = dialog.locator('#cron-preview [data-zone="schedule"] .fire-times li');
      await page.waitForFunction(() => document.querySelector('#cron-preview [data-zone="schedule"]')?.textContent.includes('Asia/Kolkata'));
      assert.equal(await local.count(), 5);
      assert.equal(await theirs.count(), 5);
      const times = await local.locator('time').evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute('datetime'))));
      times.slice(1).forEach((tm, i) => assert.equal(tm - times[i], 2000, 'two seconds apart'));
      assert.match(await theirs.first().innerText(), /GMT\+5:30/, 'shown on the schedule’s clocks');
      assert.equal(await save.isDisabled(), false);
      await dialog.locator('#cron-preview').scrollIntoViewIfNeeded();
      await shot(t, page, 'schedule-form.png');
      assert.equal(await dialog.locator('input[name="overlap"]:checked').getAttribute('value'), 'skip', 'overlap skip by default');
      assert.equal(await dialog.locator('#sched-enabled').isChecked(), true);
      await dialog.locator('#sched-enabled').scrollIntoViewIfNeeded();
      await shot(t, page, 'schedule-form-end.png');
      await save.click();
      await dialog.waitFor({ state: 'detached' });

      // In the list; it fires and the row follows without a reload.
      const row = page.locator(`#schedules-table tbody tr[data-schedule-name="${name}"]`);
      await row.waitFor();
      scheduleID = await row.getAttribute('data-schedule-id');
      createdID = scheduleID;
      assert.match(await row.locator('[data-field="cron"]').innerText(), /@every 2s[\s\S]*Asia\/Kolkata/);
      assert.equal(await row.locator('button[role="switch"]').getAttribute('aria-checked'), 'true');
      // It fires within two seconds: the row shows the fire and its task, live.
      await row.locator('[data-field="last-fire"] a.last-task .badge[data-status="pending"], [data-field="last-fire"] a.last-task .badge[data-status="running"]').first().waitFor();
      assert.deepEqual(reloads, [], 'the page did not reload');
      await shot(t, page, 'schedules.png');

      // Its page: fields, the next five fire times, its task. The sample
      // spider runs for 30 s, so with overlap "skip" (the default) the next
      // fire times are skipped, and the page says why.
      await row.locator('a.strong-link').click();
      await page.waitForURL((u) => u.hash === `#/schedules/${scheduleID}`);
      reloads.length = 0; // that was following the link
      await page.locator('#next-fires li').first().waitFor();
      assert.equal(await page.locator('#next-fires li time[data-zone="local"]').count(), 5);
      assert.match(await page.locator('#next-fires li [data-zone="schedule"]').first().innerText(), /GMT\+5:30/);
      assert.equal(await page.locator('[data-field="timezone"]').innerText(), 'Asia/Kolkata');
      assert.match(await page.locator('[data-field="overlap"]').innerText(), /^Skip/);
      const taskRows = page.locator('#schedule-tasks-table tbody tr');
      await taskRows.first().waitFor();
      assert.equal(await taskRows.count(), 1);
      const first = await taskRows.first().getAttribute('data-task-id');
      await page.locator('[data-field="last-skip"]', { hasText: /still (running|pending)/ }).waitFor();
      await shot(t, page, 'schedule.png', { fullPage: true });

      // Once that task ends, the next fire time starts another: it appears
      // here without a reload, and the last task's status follows.
      await api('POST', `tasks/${first}/cancel`, { reason: 'browser test' });
      await page.locator(`#schedule-tasks-table tbody tr[data-task-id="${first}"][data-status="cancelled"]`).waitFor();
      await page.locator(`#schedule-tasks-table tbody tr:not([data-task-id="${first}"])`).first().waitFor();
      await page.locator('[data-field="last-fire"] a.last-task .badge[data-status="pending"], [data-field="last-fire"] a.last-task .badge[data-status="running"]').first().waitFor();
      const { items: fired } = await api('GET', `tasks?schedule_id=${scheduleID}`);
      assert.deepEqual(new Set(await taskRows.evaluateAll((rows) => rows.map((r) => r.dataset.taskId))), new Set(fired.map((tk) => tk.id)), 'the page lists the schedule’s tasks');
      assert.ok(fired.every((tk) => tk.spider_name === 'sample'));
      assert.deepEqual(reloads, [], 'the page did not reload');
      await shot(t, page, 'schedule-fired.png', { fullPage: true });

      // Disable it with the switch: it stops firing.
      await page.locator('.page-actions button[role="switch"]').click();
      await page.locator('#schedule-state', { hasText: 'Disabled' }).waitFor();
      assert.equal((await api('GET', `schedules/${scheduleID}`)).enabled, false);
      await cancelTasksOf(scheduleID);
      await page.locator('nav a[data-section="schedules"]').click();
      await page.locator(`#schedules-table tbody tr[data-schedule-id="${scheduleID}"][data-enabled="false"]`).waitFor();
      assert.equal(await row.locator('[data-field="next-fire"]').innerText(), 'disabled');

      // Delete it, with a confirmation.
      await row.locator('button[data-action="delete"]').click();
      const confirm = page.locator('#delete-dialog');
      await confirm.waitFor();
      await confirm.locator('button[data-role="submit"]').click();
      await row.waitFor({ state: 'detached' });
      scheduleID = '';
    });
  } finally {
    // Leave no schedule firing, and none of its tasks running, behind.
    if (scheduleID) await api('DELETE', `schedules/${scheduleID}`).catch(() => {});
    await cancelTasksOf(createdID);
  }
});

test('the schedule list follows changes made elsewhere; the form shows the server’s refusal and edits; Run now links to the task', async (t) => {
  const name = `e2e-yearly-${Date.now().toString(36)}`;
  let s = null;
  try {
    await withPage(t, async (page) => {
      await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/schedules`));
      await page.locator('#schedules-table, .empty').first().waitFor();
      await page.locator('.live[data-state="open"]').waitFor();

      s = await api('POST', 'schedules', { name, spider: 'sample', cron: '0 0 1 1 *', timezone: 'UTC', enabled: false });
      const row = page.locator(`#schedules-table tbody tr[data-schedule-id="${s.id}"]`);
      await row.waitFor();
      assert.equal(await row.locator('button[role="switch"]').getAttribute('aria-checked'), 'false');
      await api('PUT', `schedules/${s.id}`, { enabled: true });
      await page.locator(`#schedules-table tbody tr[data-schedule-id="${s.id}"][data-enabled="true"]`).waitFor();
      assert.match(await row.locator('[data-field="next-fire"]').innerText(), /^in \d+ d$/);

      // The server's refusal is shown in the form: a name already taken.
      await page.locator('#new-schedule').click();
      const dialog = page.locator('#schedule-dialog');
      await dialog.waitFor();
      await dialog.locator('#sched-spider option', { hasText: 'sample' }).waitFor({ state: 'attached' });
      await dialog.locator('#sched-spider').selectOption({ label: 'sample' });
      await dialog.locator('#sched-name').fill(name);
      await dialog.locator('#sched-cron').fill('@hourly');
      await dialog.locator('#cron-preview .fire-times li').first().waitFor();
      await dialog.locator('button[data-role="submit"]').click();
      const refused = dialog.locator('.dialog-message .callout-error');
      await refused.waitFor();
      assert.match(await refused.innerText(), new RegExp(`a schedule named ${name} exists`));
      await shot(t, page, 'schedule-form-refused.png');
      await dialog.locator('.dialog-x').click();
      await dialog.waitFor({ state: 'detached' });

      // Edit: the form holds the schedule; the row shows the change.
      await row.locator('button[data-action="edit"]').click();
      await dialog.waitFor();
      assert.equal(await dialog.locator('#sched-cron').inputValue(), '0 0 1 1 *');
      assert.equal(await dialog.locator('#sched-tz').inputValue(), 'UTC');
      await dialog.locator('#cron-preview .fire-times li').first().waitFor();
      await dialog.locator('#sched-cron').fill('30 6 * * 1');
      await dialog.locator('#sched-tz').fill('America/New_York');
      await page.waitForFunction(() => document.querySelector('#cron-preview [data-zone="schedule"]')?.textContent.includes('America/New_York'));
      assert.match(await dialog.locator('#cron-preview [data-zone="schedule"] li').first().innerText(), /Mon.*06:30:00/);
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.waitFor({ state: 'detached' });
      await row.locator('[data-field="cron"]', { hasText: '30 6 * * 1' }).waitFor();
      const saved = await api('GET', `schedules/${s.id}`);
      assert.deepEqual([saved.cron, saved.timezone, saved.enabled], ['30 6 * * 1', 'America/New_York', true]);

      await row.locator('button[data-action="run"]').click();
      const link = page.locator('.toast a.toast-link').first();
      await link.waitFor();
      await row.locator('[data-field="last-fire"] a.last-task .badge[data-status]').waitFor();
      await link.click();
      await page.waitForURL((u) => /^#\/tasks\/[0-9a-f]{24}$/.test(u.hash));
      const taskID = new URL(page.url()).hash.split('/')[2];
      assert.equal((await api('GET', `schedules/${s.id}`)).last_task_id, taskID);
      await api('POST', `tasks/${taskID}/cancel`, { reason: 'browser test' }).catch(() => {});

      await page.goBack();
      await row.waitFor();
      await api('DELETE', `schedules/${s.id}`);
      await row.waitFor({ state: 'detached' });
      s = null;
    });
  } finally {
    if (s) await api('DELETE', `schedules/${s.id}`).catch(() => {});
  }
});

/** Cancel the tasks of a schedule that have not ended. */
async function cancelTasksOf(scheduleID) {
  if (!scheduleID) return;
  for (const status of ['pending', 'running']) {
    const { items } = await api('GET', `tasks?schedule_id=${scheduleID}&status=${status}&limit=100`).catch(() => ({ items: [] }));
    for (const tk of items) await api('POST', `tasks/${tk.id}/cancel`, { reason: 'browser test done' }).catch(() => {});
  }
}
