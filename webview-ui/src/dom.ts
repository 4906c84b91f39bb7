/** Small DOM helpers: build elements without innerHTML (nothing from a message is ever parsed as HTML). */

type Child = Node | string | null | undefined | false;

export interface ElProps {
  class?: string;
  text?: string;
  attrs?: Record<string, string | number | boolean | undefined>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: ElProps = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) {
    if (v === undefined || v === false) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Replace all children. */
export function setChildren(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`panel page: element #${id} missing`);
  return node as T;
}

/** A thumbnail, or a placeholder box saying why there is none. */
export function thumbnail(uri: string | null | undefined, alt: string, className = 'thumb'): HTMLElement {
  if (uri)
    return el('img', {
      class: className,
      attrs: { src: uri, alt, loading: 'lazy', decoding: 'async', draggable: 'false' },
    });
  return el('span', {
    class: `${className} thumb-placeholder`,
    text: uri === null ? 'no preview' : '',
    attrs: { role: 'img', 'aria-label': uri === null ? `${alt} (no preview)` : `${alt} (loading)` },
  });
}
