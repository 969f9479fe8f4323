// Periodic refresh without pile-ups: the next load starts `interval` ms after
// the previous one finished, never two at once, and nothing runs while the
// tab is hidden (it refreshes as soon as it is shown again).

/**
 * @template T
 * @param {(signal: AbortSignal) => Promise<T>} load
 * @param {{ interval: number, onData: (data: T) => void, onError: (err: any) => void }} handlers
 * @returns {{ stop: () => void, refresh: () => void }}
 */
export function poll(load, { interval, onData, onError }) {
  let stopped = false;
  let timer = 0;
  let current = null; // AbortController of the load in flight

  async function tick() {
    clearTimeout(timer);
    timer = 0;
    if (stopped || document.hidden) return;
    current?.abort();
    const ctrl = (current = new AbortController());
    try {
      const data = await load(ctrl.signal);
      if (ctrl === current && !stopped) onData(data);
    } catch (err) {
      if (ctrl === current && !stopped && !ctrl.signal.aborted) onError(err);
    } finally {
      if (ctrl === current && !stopped) {
        current = null;
        timer = setTimeout(tick, interval);
      }
    }
  }

  function onVisibility() {
    if (!document.hidden && !current) tick();
  }

  document.addEventListener('visibilitychange', onVisibility);
  tick();

  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      current?.abort();
      document.removeEventListener('visibilitychange', onVisibility);
    },
    refresh: tick,
  };
}
