// The "cluster bus unavailable" banner. The master says on the system
// channel whether it reaches the cluster bus (Redis): first when the
// channel is subscribed (again after every reconnect), then at each
// change. While it does not, a banner under the top bar says so, so that
// a quiet log or a failing call is not mistaken for a stuck task; it goes
// when the bus is back.

import { h } from './dom.js';

/**
 * Follow the master's bus state on socket and show it in a banner inserted
 * before `before`. Returns a function that stops following and removes it.
 * @param {{ subscribe: Function }} socket
 * @param {Element} before
 */
export function watchBus(socket, before) {
  const banner = h(
    'div',
    { id: 'bus-banner', class: 'bus-banner', role: 'status', hidden: true },
    h('strong', { class: 'bus-banner-title' }, 'Cluster bus unavailable'),
    h('span', { class: 'bus-banner-message' }),
  );
  before.before(banner);
  const message = banner.querySelector('.bus-banner-message');
  const sub = socket.subscribe('system', {
    onData(st) {
      if (!st || typeof st.bus !== 'string') return;
      const down = st.bus === 'down';
      banner.hidden = !down;
      banner.dataset.bus = st.bus;
      if (down) {
        const since = st.since ? ` since ${new Date(st.since).toLocaleTimeString()}` : '';
        message.textContent = ` — this server cannot reach Redis${since}. Running tasks go on and keep their output; live logs, node calls and new tasks wait until it is back.`;
      }
    },
    onError(err) {
      // An older server without the channel: nothing to show.
      console.warn('system channel refused:', err.message);
    },
  });
  return () => {
    sub.unsubscribe();
    banner.remove();
  };
}
