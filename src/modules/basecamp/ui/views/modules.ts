/**
 * The Modules screen: every loaded module with its state, host, process, uptime, restarts, CPU and memory (polled
 * every 2 s), its actions (Start, Stop, Reload, Unload, Methods), and a form to load a module from a folder. Every
 * action's failure shows as a toast and under the module's row, with the node's error code.
 */
import { ConnectionLost } from '../client.ts'
import { fill, h, select, setText } from '../dom.ts'
import { formatBytes, formatClock, formatDuration, formatPercent } from '../format.ts'
import { errorCode, errorText } from '../toasts.ts'
import type { ModuleDescription, ModuleRow, ReloadOutcome } from '../types.ts'
import type { View, ViewContext } from './view.ts'

type Action = 'start' | 'stop' | 'reload' | 'unload'

/** States in which each action makes sense (the node decides in the end; these only grey out buttons). */
const ENABLED: Readonly<Record<Action, readonly string[]>> = {
  start: ['resolved', 'stopped', 'failed'],
  stop: ['running', 'starting', 'restarting'],
  reload: ['running'],
  unload: ['resolved', 'stopped', 'failed', 'running']
}
const LABEL: Readonly<Record<Action, [string, string]>> = {
  start: ['Start', 'Starting…'],
  stop: ['Stop', 'Stopping…'],
  reload: ['Reload', 'Reloading…'],
  unload: ['Unload', 'Unloading…']
}

interface RowEls {
  tr: HTMLTableRowElement
  note: HTMLTableRowElement
  noteCell: HTMLTableCellElement
  cells: Record<string, HTMLTableCellElement>
  buttons: Record<Action, HTMLButtonElement>
}

export class ModulesView implements View {
  readonly el: HTMLElement
  private readonly ctx: ViewContext
  private readonly tbody: HTMLTableSectionElement
  private readonly summary: HTMLElement
  private readonly rows = new Map<string, RowEls>()
  private readonly pending = new Map<string, Action>()
  /** The last failed action per module, shown under its row until its next action. */
  private readonly failures = new Map<string, string>()
  private readonly hostSelect: HTMLSelectElement
  private readonly loadError: HTMLElement
  private readonly off: () => void

  constructor (ctx: ViewContext) {
    this.ctx = ctx
    this.summary = h('div', { class: 'node-card', 'data-testid': 'node-card' })
    this.tbody = h('tbody')
    const dir = h('input', { type: 'text', name: 'dir', placeholder: '/absolute/path/to/module-folder', required: true, 'aria-label': 'Module folder', spellcheck: 'false' })
    this.hostSelect = select({ name: 'host', 'aria-label': 'Host' }, [{ value: '', label: 'its own host' }])
    const start = h('input', { type: 'checkbox', name: 'start', checked: true })
    this.loadError = h('div', { class: 'inline-error', 'data-testid': 'load-error', hidden: true })
    const form = h('form', {
      class: 'load-form',
      onsubmit: (e: Event) => {
        e.preventDefault()
        void this.load(dir.value.trim(), this.hostSelect.value, start.checked, form)
      }
    },
    h('label', {}, 'Load a module from a folder ', dir),
    h('label', {}, 'on ', this.hostSelect),
    h('label', { class: 'check' }, start, ' start it'),
    h('button', { type: 'submit' }, 'Load'))
    this.el = h('section', { class: 'view modules-view', 'data-view': 'modules' },
      h('h1', {}, 'Modules'),
      this.summary,
      h('table', { class: 'modules', 'data-testid': 'modules-table' },
        h('thead', {}, h('tr', {}, ['Module', 'State', 'Host', 'PID', 'Uptime', 'Restarts', 'CPU', 'Memory', 'Calls', ''].map(t => h('th', {}, t)))),
        this.tbody),
      form,
      this.loadError)
    this.off = ctx.store.onChange(() => { this.render() })
    this.render()
  }

  dispose (): void {
    this.off()
  }

  private render (): void {
    const { store } = this.ctx
    this.renderSummary()
    const hosts = store.info?.hosts ?? []
    if (this.hostSelect.options.length !== hosts.length + 1) {
      const current = this.hostSelect.value
      fill(this.hostSelect, h('option', { value: '' }, 'its own host'), hosts.map(name => h('option', { value: name }, name)))
      this.hostSelect.value = current
    }
    const seen = new Set<string>()
    for (const m of store.modules) {
      seen.add(m.name)
      let els = this.rows.get(m.name)
      if (els === undefined) {
        els = this.makeRow(m.name)
        this.rows.set(m.name, els)
      }
      this.updateRow(els, m)
    }
    for (const [name, els] of this.rows) {
      if (seen.has(name)) continue
      els.tr.remove()
      els.note.remove()
      this.rows.delete(name)
    }
    // Keep the table in the store's (alphabetical) order.
    for (const m of store.modules) {
      const els = this.rows.get(m.name) as RowEls
      this.tbody.append(els.tr, els.note)
    }
  }

  private renderSummary (): void {
    const { store } = this.ctx
    const f = store.figures
    const info = store.info
    fill(this.summary,
      h('span', {}, h('b', {}, 'Node'), ` pid ${f?.pid ?? '—'}`),
      h('span', { 'data-testid': 'node-cpu' }, `CPU ${formatPercent(f?.cpuPercent)}`),
      h('span', { 'data-testid': 'node-rss' }, `memory ${formatBytes(f?.rssBytes)}`),
      h('span', {}, `up ${formatDuration(f?.uptimeMs)}`),
      h('span', {}, `${store.modules.length} modules`),
      info === undefined ? null : h('span', {}, `hosts: ${info.hosts.join(', ')}`),
      h('span', { class: 'muted', 'data-testid': 'last-poll' }, store.lastPollAt === undefined ? 'not polled yet' : `polled ${formatClock(store.lastPollAt)}`),
      store.pollError === undefined ? null : h('span', { class: 'inline-error', role: 'alert' }, `poll failed: ${store.pollError}`))
  }

  private makeRow (name: string): RowEls {
    const cell = (field: string): HTMLTableCellElement => h('td', { 'data-field': field })
    const cells: Record<string, HTMLTableCellElement> = {}
    for (const f of ['name', 'state', 'host', 'pid', 'uptime', 'restarts', 'cpu', 'memory', 'calls']) cells[f] = cell(f)
    const button = (action: Action): HTMLButtonElement => h('button', { type: 'button', 'data-action': action, onclick: () => { void this.act(name, action) } }, LABEL[action][0])
    const buttons = { start: button('start'), stop: button('stop'), reload: button('reload'), unload: button('unload') }
    const methods = h('button', { type: 'button', 'data-action': 'methods', onclick: () => { this.ctx.open(`module/${name}`) } }, 'Methods')
    const tr = h('tr', { 'data-module': name }, Object.values(cells), h('td', { class: 'actions' }, buttons.start, buttons.stop, buttons.reload, buttons.unload, methods))
    const noteCell = h('td', { colspan: 10 })
    const note = h('tr', { class: 'note', 'data-note-for': name, hidden: true }, noteCell)
    return { tr, note, noteCell, cells, buttons }
  }

  private updateRow (els: RowEls, m: ModuleRow): void {
    const c = els.cells
    if (c.name.childElementCount === 0) fill(c.name as HTMLElement, h('a', { href: `#/module/${encodeURIComponent(m.name)}` }, m.name), ' ', h('span', { class: 'muted' }, m.version))
    c.name.title = m.description ?? ''
    const badge = c.state.firstElementChild as HTMLElement | null ?? c.state.appendChild(h('span', { class: 'badge' }))
    setText(badge, m.state)
    badge.className = `badge state-${m.state}`
    badge.title = m.cause === undefined ? '' : `${m.cause.code}: ${m.cause.message}`
    setText(c.host as HTMLElement, m.host)
    setText(c.pid as HTMLElement, m.pid === undefined ? '—' : String(m.pid))
    setText(c.uptime as HTMLElement, formatDuration(m.uptimeMs))
    setText(c.restarts as HTMLElement, String(m.restarts))
    const shared = m.cpuPercent === undefined && m.rssBytes === undefined && m.host === 'in-process'
    setText(c.cpu as HTMLElement, shared ? 'node' : formatPercent(m.cpuPercent))
    setText(c.memory as HTMLElement, shared ? 'node' : formatBytes(m.rssBytes))
    c.cpu.title = shared ? 'runs in the node\'s process: see the node\'s figures above' : ''
    c.memory.title = c.cpu.title
    setText(c.calls as HTMLElement, m.failed > 0 ? `${m.calls} (${m.failed} failed)` : String(m.calls))
    const lifeline = this.lifeline(m.name)
    const pending = this.pending.get(m.name)
    for (const action of Object.keys(els.buttons) as Action[]) {
      const b = els.buttons[action]
      const busy = pending === action
      setText(b, LABEL[action][busy ? 1 : 0])
      b.disabled = pending !== undefined || lifeline || !ENABLED[action].includes(m.state)
      b.title = lifeline ? 'Basecamp reaches the node through this module: control it with `logos dev`' : ''
    }
    const failure = this.failures.get(m.name)
    const note = this.ctx.store.notes.get(m.name)
    const lines: HTMLElement[] = []
    if (failure !== undefined) lines.push(h('div', { class: 'inline-error', 'data-testid': 'row-error' }, failure))
    if (m.cause !== undefined && m.state === 'failed') lines.push(h('div', { class: 'inline-error' }, `cause: ${m.cause.code}: ${m.cause.message}`))
    if (note !== undefined) lines.push(h('div', { class: note.kind === 'error' ? 'inline-error' : 'muted', 'data-testid': 'row-note' }, `${formatClock(note.at)} ${note.text}`))
    const text = lines.map(l => l.textContent).join('\n')
    if (els.noteCell.dataset.text !== text) {
      els.noteCell.dataset.text = text
      fill(els.noteCell, lines)
    }
    els.note.hidden = lines.length === 0
  }

  /** Basecamp and the module it reaches the node through: stopping either from here would cut this page off. */
  private lifeline (name: string): boolean {
    const s = this.ctx.store.session
    return s !== undefined && (name === s.module || name === s.via)
  }

  private async act (name: string, action: Action, cascade = false): Promise<void> {
    const { client, store, toasts } = this.ctx
    this.pending.set(name, action)
    this.failures.delete(name)
    this.render()
    try {
      const params: Record<string, unknown> = { name }
      if (cascade) params.cascade = true
      const result = await client.call<ModuleDescription | ReloadOutcome | { unloaded: true }>(`modules.${action}`, params, { timeoutMs: 60_000 })
      if (action === 'reload') {
        const r = result as ReloadOutcome
        toasts.show({ kind: 'ok', title: `${name} reloaded`, detail: `${r.previousVersion} → ${r.version} in ${Math.round(r.durationMs)} ms` })
      }
    } catch (err) {
      // After a lost connection the outcome is unknown: the node's state, read again on reconnect, tells.
      if (!(err instanceof ConnectionLost)) this.failures.set(name, `${LABEL[action][0]} failed: ${errorText(err)}`)
      const retry = errorCode(err) === 'ERR_HAS_DEPENDENTS' && (action === 'stop' || action === 'unload')
        ? { label: `${LABEL[action][0]} with its dependents`, run: () => { void this.act(name, action, true) } }
        : undefined
      toasts.error(`${LABEL[action][0]} ${name} failed`, err, retry)
    } finally {
      this.pending.delete(name)
      store.refresh()
      this.render()
    }
  }

  private async load (dir: string, host: string, start: boolean, form: HTMLFormElement): Promise<void> {
    const { client, store, toasts } = this.ctx
    const submit = form.querySelector('button[type=submit]') as HTMLButtonElement
    submit.disabled = true
    this.loadError.hidden = true
    try {
      const params: Record<string, unknown> = { dir, start }
      if (host !== '') params.host = host
      const entry = await client.call<ModuleDescription>('modules.load', params, { timeoutMs: 60_000 })
      toasts.show({ kind: 'ok', title: `Loaded ${entry.name} ${entry.version}`, detail: `${entry.state} on ${entry.host}` })
    } catch (err) {
      setText(this.loadError, `Load failed: ${errorText(err)}`)
      this.loadError.hidden = false
      toasts.error(`Loading ${dir} failed`, err)
    } finally {
      submit.disabled = false
      store.refresh()
    }
  }
}
