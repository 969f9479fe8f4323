// Charts: uPlot (small and fast; https://github.com/leeoniya/uPlot), themed
// from the dashboard's colour variables so they follow light and dark.
// Pages never draw a chart by hand: they call lineChart, barChart or
// sparkline and get back { setData, destroy }.

import uPlot from 'uplot';

/** The dashboard's colours, read from the CSS variables now (light or dark). */
export function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v('--text'),
    muted: v('--muted'),
    grid: v('--border'),
    accent: v('--accent'),
    ok: v('--ok'),
    bad: v('--bad'),
    warn: v('--warn'),
    info: v('--info'),
    neutral: v('--border-strong'),
    font: `12px ${v('--font') || 'sans-serif'}`,
  };
}

function axes(p, yValues, ySize = 56) {
  const axis = { stroke: p.muted, grid: { stroke: p.grid, width: 1 }, ticks: { stroke: p.grid, width: 1 }, font: p.font };
  return [axis, { ...axis, size: ySize, ...(yValues ? { values: yValues } : {}) }];
}

function barRange(u, min, max) {
  const xs = u.data[0];
  const half = xs.length > 1 ? (xs[1] - xs[0]) / 2 : 1800;
  return [min - half, max + half];
}

/**
 * Stacks series: [xs, a, b, c] becomes [xs, a+b+c, a+b, a], the tallest
 * first, so that drawn in that order (uPlot draws later series on top)
 * each lower part shows over the total above it. Missing values count 0.
 */
export function stack(data) {
  const [xs, ...ys] = data;
  const sums = [];
  let acc = xs.map(() => 0);
  for (const y of ys) {
    acc = acc.map((v, i) => v + (y[i] ?? 0));
    sums.push(acc);
  }
  return [xs, ...sums.reverse()];
}

/**
 * Draws a chart in el that fills el's width, redrawn as el resizes and when
 * the colour scheme changes. series: [{ label, color (a palette key), fill? }].
 * data: [xs (Unix seconds), ys1, ys2, …]. With stacked (bars or areas),
 * each series is drawn on top of the ones before it, and the legend lists
 * them top first with their own values, not the stacked sums. ySize is the
 * y axis's width in px (wider for labels like "23.5 GiB"); yMax, a number
 * or a function giving one, makes the y scale run from 0 to at least it
 * (100 for a percentage, a machine's memory for the memory used).
 * @returns {{ setData(data: any[]): void, destroy(): void, plot: () => any }}
 */
export function lineChart(el, { series, data, height = 220, yValues, ySize, yMax, bars = false, stacked = false, title } = {}) {
  let plot = null;
  let current = data;
  const shown = (d) => (stacked ? stack(d) : d);
  // Drawn order: stacked series top first.
  const order = stacked ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i);
  const build = () => {
    const p = palette();
    plot?.destroy();
    const opts = {
      title,
      width: Math.max(el.clientWidth, 200),
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true },
      axes: axes(p, yValues, ySize),
      // Bars are centred on their x: half a step of room at each end.
      scales: {
        x: { time: true, ...(bars ? { range: barRange } : {}) },
        ...(yMax === undefined
          ? {}
          : { y: { range: (_u, _min, max) => [0, Math.max(max || 0, (typeof yMax === 'function' ? yMax() : yMax) || 0) || 1] } }),
      },
      series: [
        {},
        ...order.map((k) => {
          const s = series[k];
          return {
            label: s.label,
            stroke: p[s.color] || s.color || p.accent,
            fill: s.fill ? (p[s.fill] || s.fill) : undefined,
            width: bars ? 0 : 1.5,
            points: { show: bars ? false : lonePoint },
            ...(bars ? { paths: uPlot.paths.bars({ size: [0.8, 40] }) } : {}),
            ...(stacked ? { value: (_u, _v, _si, i) => (i == null ? '–' : String(current[k + 1]?.[i] ?? 0)) } : {}),
          };
        }),
      ],
    };
    plot = new uPlot(opts, shown(current), el);
  };
  build();
  const ro = new ResizeObserver(() => plot?.setSize({ width: Math.max(el.clientWidth, 200), height }));
  ro.observe(el);
  const scheme = matchMedia('(prefers-color-scheme: dark)');
  scheme.addEventListener('change', build);
  return {
    setData(d) {
      current = d;
      plot?.setData(shown(d));
    },
    destroy() {
      ro.disconnect();
      scheme.removeEventListener('change', build);
      plot?.destroy();
      plot = null;
    },
    plot: () => plot,
  };
}

/**
 * Points are drawn only when a series has a single one: a line needs two,
 * and a chart of a single point would otherwise look empty.
 */
function lonePoint(u, seriesIdx, i0, i1) {
  return i1 - i0 < 1 && u.data[seriesIdx]?.[i0] != null;
}

/** A tiny line without axes or legend, for a table cell. data: [xs, ys]. */
export function sparkline(el, { data, color = 'accent', width = 96, height = 24, max } = {}) {
  const p = palette();
  const plot = new uPlot(
    {
      width,
      height,
      pxAlign: false,
      cursor: { show: false },
      legend: { show: false },
      select: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: false }, y: max === undefined ? {} : { range: [0, max] } },
      series: [{}, { stroke: p[color] || color, width: 1.25, points: { show: lonePoint, size: 4 } }],
    },
    data,
    el,
  );
  return { setData: (d) => plot.setData(d), destroy: () => plot.destroy(), plot: () => plot };
}
