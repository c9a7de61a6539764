/**
 * Building DOM nodes without HTML strings: everything a module says (names, log messages, results, error messages)
 * becomes text nodes, never markup, so nothing a module returns can inject script into the page.
 */

export type Child = Node | string | number | null | undefined | false | Child[]
type Handler = (event: Event) => void
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (typeof value === 'function') {
      el.addEventListener(key.replace(/^on/, ''), value)
    } else if (key === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(value)
    } else if (key === 'checked' && 'checked' in el) {
      (el as HTMLInputElement).checked = value === true
    } else {
      el.setAttribute(key, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

export function append (parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue
    if (Array.isArray(c)) append(parent, c)
    else parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
  }
}

/** Replaces an element's children. */
export function fill (el: Element, ...children: Child[]): void {
  el.replaceChildren()
  append(el, children)
}

/** Sets text only when it changed (keeps selections and avoids layout work on every poll). */
export function setText (el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text
}

/** A `<select>` of options; `selected` picks one. */
export function select (attrs: Attrs, options: Array<{ value: string, label: string }>, selected?: string): HTMLSelectElement {
  const el = h('select', attrs, options.map(o => h('option', { value: o.value }, o.label)))
  if (selected !== undefined) el.value = selected
  return el
}
