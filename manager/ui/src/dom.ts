/**
 * The only way the UI builds markup: elements from tag names, attributes set with
 * setAttribute and text set as text nodes. Nothing user-supplied is ever parsed as HTML, so
 * a member named `<img onerror=…>` is shown as those characters.
 */

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  [attribute: string]: string | number | boolean | undefined | EventListener;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') {
      element.addEventListener(name.replace(/^on/, ''), value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element: Element): void {
  element.replaceChildren();
}

/** A labelled input: every form control of the UI has a visible label. */
export function field(
  label: string,
  props: Props & { name: string },
  hint?: string,
): HTMLDivElement {
  const id = `f-${props.name}-${String(nextId++)}`;
  const hintId = hint === undefined ? undefined : `${id}-hint`;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', { id, 'aria-describedby': hintId, ...props }),
    hint === undefined ? null : h('small', { id: hintId }, hint),
  );
}
let nextId = 0;

export function formValue(form: HTMLFormElement, name: string): string {
  const value = new FormData(form).get(name);
  return typeof value === 'string' ? value.trim() : '';
}

/** A table from a header row and rows of cells; an empty list says so instead. */
export function table(caption: string, headers: string[], rows: Child[][], empty: string): Node {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...headers.map((name) => h('th', { scope: 'col' }, name)))),
      h(
        'tbody',
        {},
        ...rows.map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell)))),
      ),
    ),
  );
}

export function time(iso: string | undefined): Node | string {
  if (iso === undefined) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return h('time', { datetime: iso, title: iso }, date.toLocaleString());
}

/** A modal confirmation (a native <dialog>: focus is trapped and Escape cancels). */
export function confirmDialog(message: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { 'aria-labelledby': 'confirm-message' },
      h(
        'form',
        { method: 'dialog' },
        h('p', { id: 'confirm-message' }, message),
        h(
          'div',
          { class: 'actions' },
          h('button', { value: 'cancel', type: 'submit', autofocus: true }, 'Cancel'),
          h('button', { value: 'confirm', type: 'submit', class: 'danger' }, action),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}
