// Tiny DOM helpers. Everything the app shows is built with h(), which sets
// text with text nodes and attributes with setAttribute, never innerHTML, so
// data from the server cannot inject markup.

/**
 * Create an element.
 *
 *   h('a', { href: '#/nodes', class: 'link' }, 'Nodes')
 *
 * props: "class" sets className, "dataset" and "style" objects are merged,
 * "on<event>" functions become listeners, true renders a boolean attribute,
 * null/undefined/false are skipped. Children may be nodes, strings, numbers,
 * nested arrays or null (skipped).
 *
 * @param {string} tag
 * @param {Record<string, any> | null} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (see h) to a parent node. */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

/** Replace all children of a node. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}
