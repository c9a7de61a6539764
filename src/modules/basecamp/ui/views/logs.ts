/**
 * Logs: the node's log entries, live. Filters by module and by level run on the node (the subscription and the tail
 * ask for just those); the text filter runs here. Changing a filter, and every reconnect, reads the tail again from
 * the node and then follows, so nothing on screen is older than the node's own record.
 */
import { ConnectionLost } from '../client.ts'
import type { Subscription } from '../client.ts'
import { fill, h, select, setText } from '../dom.ts'
import { formatClock } from '../format.ts'
import { errorText } from '../toasts.ts'
import { LOG_LEVELS } from '../types.ts'
import type { LogEntry, LogLevel } from '../types.ts'
import type { View, ViewContext } from './view.ts'

/** Entries kept on screen; the oldest go first. */
const MAX_ROWS = 2_000
/** Entries read from the node's tail when a filter changes (the node keeps 1000 per module). */
const TAIL = 500

function keyOf (e: LogEntry): string {
  return `${e.at}\u0000${e.module}\u0000${e.level}\u0000${e.message}`
}

export class LogsView implements View {
  readonly el: HTMLElement
  private readonly ctx: ViewContext
  private readonly moduleSelect: HTMLSelectElement
  private readonly levelSelect: HTMLSelectElement
  private readonly moduleLevel: HTMLSelectElement
  private readonly text: HTMLInputElement
  private readonly follow: HTMLInputElement
  private readonly list: HTMLElement
  private readonly count: HTMLElement
  private readonly error: HTMLElement
  private readonly offs: Array<() => void> = []
  private sub: Subscription | undefined
  /** Bumped at each restart: answers and entries of an older filter are dropped. */
  private generation = 0

  constructor (ctx: ViewContext) {
    this.ctx = ctx
    this.moduleSelect = select({ 'aria-label': 'Module', 'data-testid': 'log-module', onchange: () => { void this.restart() } }, [{ value: '', label: 'all modules' }])
    this.levelSelect = select({ 'aria-label': 'Level', 'data-testid': 'log-level', onchange: () => { void this.restart() } }, LOG_LEVELS.map(l => ({ value: l, label: `${l} and above` })), 'trace')
    this.moduleLevel = select({ 'aria-label': 'The module\'s log level', 'data-testid': 'module-log-level', onchange: () => { void this.setModuleLevel() } }, LOG_LEVELS.map(l => ({ value: l, label: l })))
    this.text = h('input', { type: 'search', placeholder: 'text', 'aria-label': 'Text filter', 'data-testid': 'log-text', oninput: () => { this.applyText() } })
    this.follow = h('input', { type: 'checkbox', checked: true, 'data-testid': 'log-follow' })
    this.list = h('div', { class: 'log-list', 'data-testid': 'log-list', role: 'log' })
    this.count = h('span', { class: 'muted' })
    this.error = h('div', { class: 'inline-error', role: 'alert', hidden: true })
    this.el = h('section', { class: 'view logs-view', 'data-view': 'logs' },
      h('h1', {}, 'Logs'),
      h('div', { class: 'toolbar' },
        this.moduleSelect, this.levelSelect, this.text,
        h('label', { class: 'check' }, this.follow, ' follow'),
        h('label', { class: 'module-level', hidden: true }, 'its level ', this.moduleLevel),
        h('button', { type: 'button', onclick: () => { fill(this.list); this.updateCount() } }, 'Clear'),
        h('button', { type: 'button', onclick: () => { void this.copy() } }, 'Copy'),
        this.count),
      this.error,
      this.list)
    this.offs.push(ctx.store.onChange(() => { this.updateModules() }))
    this.offs.push(ctx.client.onOpen(() => { void this.restart() }))
    this.updateModules()
    void this.restart()
  }

  dispose (): void {
    this.sub?.close()
    for (const off of this.offs) off()
  }

  show (): void {
    if (this.follow.checked) this.list.scrollTop = this.list.scrollHeight
  }

  private updateModules (): void {
    const names = this.ctx.store.modules.map(m => m.name)
    const have = [...this.moduleSelect.options].slice(1).map(o => o.value)
    if (names.join() === have.join()) return
    const current = this.moduleSelect.value
    fill(this.moduleSelect, h('option', { value: '' }, 'all modules'), names.map(n => h('option', { value: n }, n)))
    // A module that went away stays selectable until the user picks another (its entries are still there).
    if (current !== '' && !names.includes(current)) this.moduleSelect.append(h('option', { value: current }, current))
    this.moduleSelect.value = current
  }

  private async restart (): Promise<void> {
    const gen = ++this.generation
    this.sub?.close()
    this.sub = undefined
    const module = this.moduleSelect.value
    const level = this.levelSelect.value as LogLevel
    const levelLabel = this.el.querySelector('.module-level') as HTMLElement
    levelLabel.hidden = module === ''
    if (!this.ctx.client.connected) return
    const early: LogEntry[] = []
    let tailed = false
    const params: Record<string, unknown> = { level }
    if (module !== '') params.modules = [module]
    this.sub = this.ctx.client.subscribe('logs.subscribe', params, (items) => {
      if (gen !== this.generation) return
      if (tailed) this.append(items as LogEntry[])
      else early.push(...items as LogEntry[])
    }, (dropped) => { this.append([{ at: Date.now(), module: 'basecamp', level: 'warn', message: `${dropped} log entries were dropped on the way (this page read too slowly)` }]) })
    try {
      const tailParams: Record<string, unknown> = { level, limit: TAIL }
      if (module !== '') tailParams.module = module
      const [tail, current] = await Promise.all([
        this.ctx.client.call<LogEntry[]>('logs.tail', tailParams),
        module === '' ? Promise.resolve(undefined) : this.ctx.client.call<{ level: LogLevel }>('logs.level', { module })
      ])
      if (gen !== this.generation) return
      if (current !== undefined) this.moduleLevel.value = current.level
      this.error.hidden = true
      fill(this.list)
      const seen = new Set(tail.map(keyOf))
      this.append(tail.concat(early.filter(e => !seen.has(keyOf(e)))))
      tailed = true
    } catch (err) {
      if (gen !== this.generation || err instanceof ConnectionLost) return
      setText(this.error, `Reading the logs failed: ${errorText(err)}`)
      this.error.hidden = false
    }
  }

  private append (entries: LogEntry[]): void {
    const needle = this.text.value.toLowerCase()
    for (const e of entries) {
      const fields = e.fields === undefined || Object.keys(e.fields).length === 0 ? '' : JSON.stringify(e.fields)
      const row = h('div', { class: `log-row level-${e.level}`, 'data-module': e.module, 'data-level': e.level },
        h('span', { class: 'time' }, formatClock(e.at)),
        h('span', { class: 'level' }, e.level),
        h('span', { class: 'module' }, e.module),
        h('span', { class: 'message' }, e.message),
        fields === '' ? null : h('span', { class: 'fields' }, fields))
      row.hidden = needle !== '' && !(row.textContent ?? '').toLowerCase().includes(needle)
      this.list.append(row)
    }
    while (this.list.children.length > MAX_ROWS) this.list.firstElementChild?.remove()
    this.updateCount()
    if (this.follow.checked) this.list.scrollTop = this.list.scrollHeight
  }

  private applyText (): void {
    const needle = this.text.value.toLowerCase()
    for (const row of this.list.children) (row as HTMLElement).hidden = needle !== '' && !(row.textContent ?? '').toLowerCase().includes(needle)
    this.updateCount()
  }

  private updateCount (): void {
    const rows = [...this.list.children] as HTMLElement[]
    const shown = rows.filter(r => !r.hidden).length
    setText(this.count, shown === rows.length ? `${rows.length} entries` : `${shown} of ${rows.length} entries`)
  }

  private async setModuleLevel (): Promise<void> {
    const module = this.moduleSelect.value
    if (module === '') return
    try {
      const r = await this.ctx.client.call<{ level: LogLevel, previous: LogLevel }>('logs.setLevel', { module, level: this.moduleLevel.value })
      this.ctx.toasts.show({ kind: 'ok', title: `${module} logs at ${r.level}`, detail: `was ${r.previous}` })
    } catch (err) {
      this.ctx.toasts.error(`Setting ${module}'s log level failed`, err)
    }
  }

  private async copy (): Promise<void> {
    const rows = ([...this.list.children] as HTMLElement[]).filter(r => !r.hidden)
    const text = rows.map(r => [...r.children].map(c => c.textContent).join(' ')).join('\n')
    try {
      await navigator.clipboard.writeText(text)
      this.ctx.toasts.show({ kind: 'ok', title: `Copied ${rows.length} entries` })
    } catch (err) {
      this.ctx.toasts.error('Copying failed', err)
    }
  }
}
