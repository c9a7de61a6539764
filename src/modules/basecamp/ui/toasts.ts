/** Messages in the corner: errors stay until closed (they are never swallowed), the rest fade after a few seconds. */
import { h } from './dom.ts'
import { ConnectionLost, RpcError } from './client.ts'

export interface ToastOptions {
  kind: 'error' | 'info' | 'ok'
  title: string
  detail?: string
  action?: { label: string, run: () => void }
}

/** At most this many toasts on screen; the oldest goes first. */
const MAX_TOASTS = 6
const FADE_MS = 5_000

export class Toasts {
  readonly el: HTMLElement

  constructor () {
    this.el = h('div', { class: 'toasts', 'aria-live': 'polite' })
  }

  show (options: ToastOptions): HTMLElement {
    const close = (): void => { toast.remove() }
    const toast = h('div', { class: `toast toast-${options.kind}`, role: options.kind === 'error' ? 'alert' : 'status' },
      h('div', { class: 'toast-title' }, options.title),
      options.detail === undefined ? null : h('div', { class: 'toast-detail' }, options.detail),
      h('div', { class: 'toast-actions' },
        options.action === undefined ? null : h('button', { type: 'button', onclick: () => { close(); options.action?.run() } }, options.action.label),
        h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: close }, '×')
      )
    )
    this.el.append(toast)
    while (this.el.children.length > MAX_TOASTS) this.el.firstElementChild?.remove()
    if (options.kind !== 'error') setTimeout(close, FADE_MS)
    return toast
  }

  /** An error as the node gave it: its ERR_ code and message (what failed is the title). */
  error (what: string, err: unknown, action?: ToastOptions['action']): void {
    const options: ToastOptions = { kind: 'error', title: what, detail: errorText(err) }
    if (action !== undefined) options.action = action
    this.show(options)
  }
}

/** `ERR_CODE: message` for the node's errors, the message for anything else. */
export function errorText (err: unknown): string {
  if (err instanceof RpcError || err instanceof ConnectionLost) return `${err.code}: ${err.message}`
  if (err instanceof Error) return err.message
  return String(err)
}

/** The node's error code, if it is one of its errors. */
export function errorCode (err: unknown): string | undefined {
  return err instanceof RpcError ? err.code : undefined
}
