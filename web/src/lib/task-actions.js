// Cancel and Restart, shared by the task list and the task page.

import { cancelTask, restartTask } from './api.js';
import { confirmDialog } from './dialog.js';
import { h } from './dom.js';
import { href } from './router.js';
import { toast } from './toast.js';

/**
 * Ask, with an optional reason, then cancel. The new status arrives on the
 * tasks channel. Resolves true when the cancel was sent.
 * @param {{ id: string, spider_name?: string, status: string }} task
 */
export function cancelWithConfirm(task) {
  const reason = h('input', { id: 'cancel-reason', name: 'reason', type: 'text', autocomplete: 'off', maxlength: '200', placeholder: 'e.g. wrong parameters' });
  const running = task.status === 'running';
  return confirmDialog({
    id: 'cancel-dialog',
    title: `Cancel this ${task.spider_name ? `${task.spider_name} ` : ''}task?`,
    message: running
      ? 'The node stops the process (it gets a moment to exit cleanly). What it logged so far stays.'
      : 'It has not started yet: it will not run.',
    body: h('div', { class: 'field' }, h('label', { for: 'cancel-reason' }, 'Reason', h('span', { class: 'optional' }, ' optional')), reason, h('div', { class: 'help' }, 'Kept with the task, so others know why.')),
    confirmLabel: 'Cancel task',
    cancelLabel: 'Keep running',
    danger: true,
    onConfirm: () => cancelTask(task.id, reason.value.trim()),
  });
}

/**
 * Run an ended task again (same spider, parameters, timeout; the same node
 * unless it ran on any). Resolves to the new task, or null on failure
 * (already shown).
 * @param {{ id: string, spider_name?: string }} task
 */
export async function restart(task, { navigate = true } = {}) {
  try {
    const t = await restartTask(task.id);
    toast(`Restarted ${task.spider_name || 'the task'}`, { detail: 'A new task with the same settings.' });
    if (navigate) location.hash = href('/tasks', t.id);
    return t;
  } catch (err) {
    if (err.status !== 401) toast('Could not restart the task', { kind: 'error', detail: err.message });
    return null;
  }
}
