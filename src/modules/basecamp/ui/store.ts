/**
 * What the page knows of the node: the module rows (`modules.list`) and the node's figures (`basecamp.node`), polled
 * every POLL_MS while connected, and changed at once by the trace's lifecycle and supervision records, so a crash or a
 * state change shows without waiting for the next poll. Everything is read again from the node on every (re)connect:
 * the page keeps no state of its own that could go stale.
 */
import type { RpcClient } from './client.ts'
import { errorText } from './toasts.ts'
import type { Toasts } from './toasts.ts'
import type { LifecycleRecord, ModuleRow, NodeFigures, NodeInfo, SessionInfo, SupervisionRecord, TraceRecord } from './types.ts'

/** The brief's figure: CPU, memory and states every 2 s. */
export const POLL_MS = 2_000
/** A burst of lifecycle records (a cascade, a restart) makes one poll, this long after the first. */
const SETTLE_MS = 100

export interface Note {
  text: string
  at: number
  kind: 'error' | 'info'
}

export class NodeStore {
  modules: ModuleRow[] = []
  figures: NodeFigures | undefined
  info: NodeInfo | undefined
  session: SessionInfo | undefined
  lastPollAt: number | undefined
  pollError: string | undefined
  /** The latest supervision or failure note per module (crashed, restarting, gave up, rolled back). */
  readonly notes = new Map<string, Note>()
  private readonly client: RpcClient
  private readonly toasts: Toasts
  private readonly listeners = new Set<() => void>()
  private timer: number | undefined
  private soon: number | undefined
  private polling = false

  constructor (client: RpcClient, toasts: Toasts) {
    this.client = client
    this.toasts = toasts
  }

  start (): void {
    this.client.subscribe('trace.subscribe', { types: ['lifecycle', 'supervision'] }, (items) => { this.onTrace(items as TraceRecord[]) })
    this.client.onOpen(() => { void this.reconnected() })
    this.timer = window.setInterval(() => { void this.poll() }, POLL_MS)
  }

  stop (): void {
    clearInterval(this.timer)
  }

  onChange (fn: () => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  row (name: string): ModuleRow | undefined {
    return this.modules.find(m => m.name === name)
  }

  /** Polls now (after an action), or soon if a poll is under way. */
  refresh (): void {
    if (this.soon !== undefined) return
    this.soon = window.setTimeout(() => {
      this.soon = undefined
      void this.poll()
    }, SETTLE_MS)
  }

  private changed (): void {
    for (const fn of this.listeners) fn()
  }

  private async reconnected (): Promise<void> {
    try {
      this.session = await this.client.call<SessionInfo>('basecamp.session')
    } catch (err) {
      this.pollError = errorText(err)
    }
    await this.poll()
  }

  async poll (): Promise<void> {
    if (!this.client.connected || this.polling) return
    this.polling = true
    try {
      const [modules, figures, info] = await Promise.all([
        this.client.call<ModuleRow[]>('modules.list'),
        this.client.call<NodeFigures>('basecamp.node'),
        this.client.call<NodeInfo>('node.info')
      ])
      this.info = info
      this.modules = modules.sort((a, b) => a.name.localeCompare(b.name))
      this.figures = figures
      this.lastPollAt = Date.now()
      this.pollError = undefined
    } catch (err) {
      this.pollError = errorText(err)
    } finally {
      this.polling = false
    }
    this.changed()
  }

  private onTrace (records: TraceRecord[]): void {
    let touched = false
    for (const r of records) {
      if (r.type === 'lifecycle') touched = this.onLifecycle(r) || touched
      else if (r.type === 'supervision') this.onSupervision(r)
    }
    if (touched) this.changed()
    this.refresh()
  }

  private onLifecycle (r: LifecycleRecord): boolean {
    if (r.to === 'failed') {
      const cause = r.cause === undefined ? '' : `${r.cause.code}: ${r.cause.message}`
      this.notes.set(r.module, { text: `failed${cause === '' ? '' : ` — ${cause}`}`, at: r.at, kind: 'error' })
      this.toasts.show({ kind: 'error', title: `${r.module} failed`, detail: cause === '' ? `it was ${r.from}` : cause })
    }
    const row = this.row(r.module)
    if (row === undefined || r.to === 'unloaded') return false
    row.state = r.to
    return true
  }

  private onSupervision (r: SupervisionRecord): void {
    const detail = supervisionDetail(r)
    const previous = this.notes.get(r.module)
    switch (r.action) {
      case 'crashed':
        this.notes.set(r.module, { text: `crashed${detail}`, at: r.at, kind: 'error' })
        this.toasts.show({ kind: 'error', title: `${r.module} crashed`, detail: JSON.stringify(r.detail) })
        break
      case 'restarting':
        this.notes.set(r.module, { text: `${previous?.text.startsWith('crashed') === true ? previous.text : 'crashed'}; restarting${detail}`, at: r.at, kind: 'error' })
        break
      case 'restarted':
        // The crash stays in view beside the restart: both are what the user needs to see.
        this.notes.set(r.module, { text: `${previous?.text.startsWith('crashed') === true ? previous.text.replace(/; restarting.*$/, '') + '; ' : ''}restarted${detail}`, at: r.at, kind: 'info' })
        this.toasts.show({ kind: 'ok', title: `${r.module} restarted`, detail: JSON.stringify(r.detail) })
        break
      case 'gave-up':
        this.notes.set(r.module, { text: `gave up restarting${detail}`, at: r.at, kind: 'error' })
        this.toasts.show({ kind: 'error', title: `${r.module}: gave up restarting`, detail: JSON.stringify(r.detail) })
        break
      case 'rolled-back':
        this.notes.set(r.module, { text: `reload rolled back${detail}`, at: r.at, kind: 'error' })
        this.toasts.show({ kind: 'error', title: `${r.module}: reload failed, the previous code runs again`, detail: JSON.stringify(r.detail) })
        break
    }
  }
}

/** The few facts of a supervision record a person reads first: signal or exit code, new pid, attempt, error. */
function supervisionDetail (r: SupervisionRecord): string {
  const d = r.detail
  const parts: string[] = []
  if (typeof d.signal === 'string') parts.push(`signal ${d.signal}`)
  else if (typeof d.exitCode === 'number') parts.push(`exit code ${d.exitCode}`)
  if (r.action !== 'crashed' && typeof d.pid === 'number') parts.push(`pid ${d.pid}`)
  if (typeof d.attempt === 'number') parts.push(`attempt ${d.attempt}`)
  if (typeof d.delayMs === 'number') parts.push(`in ${d.delayMs} ms`)
  const error = d.error as { code?: string, message?: string } | string | undefined
  if (typeof error === 'string') parts.push(error)
  else if (error?.code !== undefined) parts.push(`${error.code}: ${error.message ?? ''}`)
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`
}
