/**
 * A module's interface: what it is (state, host, dependencies), its methods with their schemas and a Call button
 * that takes JSON params and shows the JSON result or the typed error, its events (declared, and as they happen),
 * and its recent calls and errors.
 */
import { ConnectionLost, RpcError } from '../client.ts'
import { fill, h, setText } from '../dom.ts'
import { describeRecord, formatClock, formatDuration, formatJson, formatNanos, paramsTemplate, parseParams } from '../format.ts'
import { errorText } from '../toasts.ts'
import type { EventRecord, MethodInfo, ModuleDescription, RecentActivity } from '../types.ts'
import type { View, ViewContext } from './view.ts'

/** Events of this module kept on screen. */
const MAX_EVENTS = 200
/** The deadline a call gets unless the user sets one (the kernel's own default is of the same order). */
const DEFAULT_CALL_TIMEOUT_MS = 30_000

export class ModuleView implements View {
  readonly el: HTMLElement
  private readonly ctx: ViewContext
  private readonly name: string
  private readonly header: HTMLElement
  private readonly methodsEl: HTMLElement
  private readonly eventsEl: HTMLElement
  private readonly liveEvents: HTMLOListElement
  private readonly recentEl: HTMLElement
  private readonly timeout: HTMLInputElement
  private readonly error: HTMLElement
  /** Method name -> its params text, kept across re-renders (a reconnect must not wipe what the user typed). */
  private readonly drafts = new Map<string, string>()
  private readonly offs: Array<() => void> = []
  private described: ModuleDescription | undefined

  constructor (ctx: ViewContext, name: string) {
    this.ctx = ctx
    this.name = name
    this.header = h('div', { class: 'module-header' })
    this.error = h('div', { class: 'inline-error', role: 'alert', hidden: true, 'data-testid': 'describe-error' })
    this.timeout = h('input', { type: 'number', min: 1, step: 1, value: DEFAULT_CALL_TIMEOUT_MS, 'aria-label': 'Call timeout (ms)' })
    this.methodsEl = h('div', { class: 'methods', 'data-testid': 'methods' })
    this.eventsEl = h('ul', { class: 'events' })
    this.liveEvents = h('ol', { class: 'live-events', 'data-testid': 'live-events', reversed: true })
    this.recentEl = h('div', { class: 'recent' })
    this.el = h('section', { class: 'view module-view', 'data-view': `module/${name}` },
      h('h1', {}, name, ' ', h('button', { type: 'button', class: 'small', onclick: () => { void this.refresh() } }, 'Refresh')),
      this.error,
      this.header,
      h('h2', {}, 'Methods ', h('label', { class: 'muted small' }, 'timeout (ms) ', this.timeout)),
      this.methodsEl,
      h('h2', {}, 'Events'),
      this.eventsEl,
      h('h3', {}, 'As they happen'),
      this.liveEvents,
      h('h2', {}, 'Recent calls and errors'),
      this.recentEl)
    const sub = ctx.client.subscribe('trace.subscribe', { types: ['event'], modules: [name] }, (items) => { this.onEvents(items as EventRecord[]) })
    this.offs.push(() => { sub.close() })
    this.offs.push(ctx.client.onOpen(() => { void this.refresh() }))
    this.offs.push(ctx.store.onChange(() => { this.renderHeader() }))
    if (ctx.client.connected) void this.refresh()
  }

  dispose (): void {
    for (const off of this.offs) off()
  }

  show (): void {
    if (this.ctx.client.connected) void this.refresh()
  }

  private async refresh (): Promise<void> {
    try {
      const [described, recent] = await Promise.all([
        this.ctx.client.call<ModuleDescription>('modules.describe', { name: this.name }),
        this.ctx.client.call<RecentActivity>('modules.recent', { name: this.name, limit: 20 })
      ])
      this.error.hidden = true
      const methodsChanged = JSON.stringify(described.methods) !== JSON.stringify(this.described?.methods)
      this.described = described
      this.renderHeader()
      if (methodsChanged) this.renderMethods(described.methods)
      fill(this.eventsEl, described.events.length === 0
        ? h('li', { class: 'muted' }, 'declares no events')
        : described.events.map(e => h('li', {}, h('code', {}, e.name), e.description === undefined ? null : h('span', { class: 'muted' }, ` ${e.description}`))))
      this.renderRecent(recent)
    } catch (err) {
      if (err instanceof ConnectionLost) return
      setText(this.error, `${this.name}: ${errorText(err)}`)
      this.error.hidden = false
    }
  }

  private renderHeader (): void {
    const d = this.described
    if (d === undefined) return
    const row = this.ctx.store.row(this.name)
    const state = row?.state ?? d.state
    fill(this.header,
      h('dl', {},
        h('dt', {}, 'State'), h('dd', {}, h('span', { class: `badge state-${state}`, 'data-testid': 'module-state' }, state)),
        h('dt', {}, 'Version'), h('dd', {}, d.version),
        h('dt', {}, 'Host'), h('dd', {}, d.host, d.process === undefined ? null : ` (pid ${d.process.pid})`),
        h('dt', {}, 'Uptime'), h('dd', {}, formatDuration(row?.uptimeMs ?? d.uptimeMs)),
        d.description === undefined ? null : [h('dt', {}, 'About'), h('dd', {}, d.description)],
        h('dt', {}, 'Depends on'), h('dd', {}, Object.keys(d.dependencies).length === 0 ? '—' : Object.entries(d.dependencies).map(([n, r]) => `${n} ${r}`).join(', ')),
        h('dt', {}, 'Used by'), h('dd', {}, d.dependents.length === 0 ? '—' : d.dependents.join(', ')),
        d.source === undefined ? null : [h('dt', {}, 'Source'), h('dd', {}, h('code', {}, d.source))],
        d.cause === undefined ? null : [h('dt', {}, 'Cause'), h('dd', { class: 'inline-error' }, `${d.cause.code}: ${d.cause.message}`)]))
  }

  private renderMethods (methods: MethodInfo[]): void {
    if (methods.length === 0) {
      const running = this.described?.state === 'running'
      fill(this.methodsEl, h('p', { class: 'muted' }, running ? 'no methods' : `no methods while ${this.described?.state ?? 'not running'}: start it to see them`))
      return
    }
    fill(this.methodsEl, methods.map(m => this.methodCard(m)))
  }

  private methodCard (m: MethodInfo): HTMLElement {
    const params = h('textarea', { rows: 3, spellcheck: 'false', 'aria-label': `Params of ${m.name}`, placeholder: 'params as JSON (empty: none)' })
    params.value = this.drafts.get(m.name) ?? paramsTemplate(m.params)
    params.addEventListener('input', () => { this.drafts.set(m.name, params.value) })
    const result = h('pre', { class: 'result', 'data-testid': 'result', hidden: true })
    const status = h('div', { class: 'call-status', 'data-testid': 'call-status' })
    const button = h('button', { type: 'button', 'data-action': 'call' }, 'Call')
    button.addEventListener('click', () => { void this.call(m.name, params.value, button, status, result) })
    return h('article', { class: 'method', 'data-method': m.name },
      h('header', {}, h('code', { class: 'method-name' }, m.name), m.description === undefined ? null : h('span', { class: 'muted' }, ` ${m.description}`)),
      h('div', { class: 'schemas' },
        m.params === undefined ? null : h('details', {}, h('summary', {}, 'params schema'), h('pre', {}, formatJson(m.params))),
        m.result === undefined ? null : h('details', {}, h('summary', {}, 'result schema'), h('pre', {}, formatJson(m.result)))),
      params,
      h('div', { class: 'call-row' }, button, status),
      result)
  }

  private async call (method: string, text: string, button: HTMLButtonElement, status: HTMLElement, result: HTMLElement): Promise<void> {
    const parsed = parseParams(text)
    result.hidden = false
    if (!parsed.ok) {
      status.className = 'call-status error'
      setText(status, 'params are not JSON')
      setText(result, parsed.error)
      return
    }
    const timeoutMs = Math.max(1, Math.floor(Number(this.timeout.value) || DEFAULT_CALL_TIMEOUT_MS))
    const request: Record<string, unknown> = { module: this.name, method, timeoutMs }
    if (parsed.value !== undefined) request.params = parsed.value
    button.disabled = true
    status.className = 'call-status'
    setText(status, 'calling…')
    const started = performance.now()
    try {
      const value = await this.ctx.client.call('modules.call', request, { timeoutMs })
      status.className = 'call-status ok'
      setText(status, `ok in ${formatDuration(performance.now() - started)}`)
      setText(result, formatJson(value))
    } catch (err) {
      status.className = 'call-status error'
      setText(status, err instanceof RpcError || err instanceof ConnectionLost ? err.code : 'failed')
      setText(result, err instanceof RpcError && err.wire !== undefined ? formatJson(err.wire) : errorText(err))
    } finally {
      button.disabled = false
    }
  }

  private onEvents (records: EventRecord[]): void {
    for (const r of records) {
      this.liveEvents.prepend(h('li', {}, h('span', { class: 'time' }, formatClock(r.at)), ' ', describeRecord(r)))
    }
    while (this.liveEvents.children.length > MAX_EVENTS) this.liveEvents.lastElementChild?.remove()
  }

  private renderRecent (recent: RecentActivity): void {
    const calls = recent.recentCalls.slice().reverse()
    fill(this.recentEl,
      h('p', { class: 'muted' }, `${recent.calls} calls, ${recent.failed} failed, since the developer interface started`),
      calls.length === 0
        ? h('p', { class: 'muted' }, 'no calls yet')
        : h('table', { class: 'recent-calls' },
          h('thead', {}, h('tr', {}, ['At', 'Caller', 'Method', 'Took', 'Outcome'].map(t => h('th', {}, t)))),
          h('tbody', {}, calls.map(c => h('tr', { class: c.ok ? '' : 'failed' },
            h('td', {}, formatClock(c.at)), h('td', {}, c.caller), h('td', {}, c.method), h('td', {}, formatNanos(c.durationNs)),
            h('td', {}, c.ok ? 'ok' : `${c.error?.code ?? 'failed'}: ${c.error?.message ?? ''}`))))),
      recent.recentErrors.length === 0 ? null : h('div', {}, h('h3', {}, 'Errors'), h('ul', {}, recent.recentErrors.slice().reverse().map(r => h('li', { class: 'inline-error' }, formatClock(r.at), ' ', describeRecord(r))))))
  }
}
