/**
 * The live trace: calls (who called what, how long, the outcome, linked to their parent call), events, lifecycle
 * changes and supervision (crashes, restarts, rollbacks), as the node records them. The filters are the node's own
 * (types, modules, errors only); Pause stops the subscription, so a paused page costs the node nothing.
 */
import type { Subscription } from '../client.ts'
import { fill, h, setText } from '../dom.ts'
import { describeRecord, formatClock, isFailure } from '../format.ts'
import { TRACE_TYPES } from '../types.ts'
import type { TraceRecord, TraceType } from '../types.ts'
import type { View, ViewContext } from './view.ts'

/** Records kept on screen; the oldest go first. */
const MAX_ROWS = 1_000

export class TraceView implements View {
  readonly el: HTMLElement
  private readonly ctx: ViewContext
  private readonly types = new Map<TraceType, HTMLInputElement>()
  private readonly modules: HTMLInputElement
  private readonly errorsOnly: HTMLInputElement
  private readonly pause: HTMLButtonElement
  private readonly list: HTMLElement
  private readonly count: HTMLElement
  private sub: Subscription | undefined
  private paused = false

  constructor (ctx: ViewContext) {
    this.ctx = ctx
    for (const t of TRACE_TYPES) this.types.set(t, h('input', { type: 'checkbox', checked: true, 'data-type': t, onchange: () => { this.resubscribe() } }))
    this.modules = h('input', { type: 'text', placeholder: 'modules, comma-separated', 'aria-label': 'Modules', 'data-testid': 'trace-modules', onchange: () => { this.resubscribe() } })
    this.errorsOnly = h('input', { type: 'checkbox', 'data-testid': 'trace-errors', onchange: () => { this.resubscribe() } })
    this.pause = h('button', { type: 'button', 'data-testid': 'trace-pause', onclick: () => { this.togglePause() } }, 'Pause')
    this.list = h('ol', { class: 'trace-list', 'data-testid': 'trace-list', reversed: true })
    this.count = h('span', { class: 'muted' })
    this.el = h('section', { class: 'view trace-view', 'data-view': 'trace' },
      h('h1', {}, 'Trace'),
      h('div', { class: 'toolbar' },
        [...this.types].map(([t, box]) => h('label', { class: 'check' }, box, ` ${t}`)),
        this.modules,
        h('label', { class: 'check' }, this.errorsOnly, ' errors only'),
        this.pause,
        h('button', { type: 'button', onclick: () => { fill(this.list); this.updateCount() } }, 'Clear'),
        this.count),
      this.list)
    this.resubscribe()
  }

  dispose (): void {
    this.sub?.close()
  }

  private togglePause (): void {
    this.paused = !this.paused
    setText(this.pause, this.paused ? 'Resume' : 'Pause')
    this.resubscribe()
  }

  private resubscribe (): void {
    this.sub?.close()
    this.sub = undefined
    if (this.paused) return
    const params: Record<string, unknown> = { types: [...this.types].filter(([, box]) => box.checked).map(([t]) => t) }
    const modules = this.modules.value.split(',').map(s => s.trim()).filter(s => s !== '')
    if (modules.length > 0) params.modules = modules
    if (this.errorsOnly.checked) params.errorsOnly = true
    this.sub = this.ctx.client.subscribe('trace.subscribe', params, (items) => { this.add(items as TraceRecord[]) }, (dropped) => {
      this.list.prepend(h('li', { class: 'dropped' }, `${dropped} records were dropped on the way (this page read too slowly)`))
    })
  }

  private add (records: TraceRecord[]): void {
    for (const r of records) {
      const indent = r.type === 'call' ? r.depth : 0
      const id = r.type === 'call' ? `#${r.id}${r.parentId === undefined ? '' : ` ← #${r.parentId}`}` : ''
      this.list.prepend(h('li', { class: `trace-row type-${r.type}${isFailure(r) ? ' failed' : ''}`, 'data-type': r.type, 'data-depth': indent },
        h('span', { class: 'time' }, formatClock(r.at)),
        h('span', { class: 'type' }, r.type),
        h('span', { class: 'what' }, '  '.repeat(indent), describeRecord(r)),
        id === '' ? null : h('span', { class: 'muted id' }, id)))
    }
    while (this.list.children.length > MAX_ROWS) this.list.lastElementChild?.remove()
    this.updateCount()
  }

  private updateCount (): void {
    setText(this.count, `${this.list.children.length} records${this.paused ? ' (paused)' : ''}`)
  }
}
