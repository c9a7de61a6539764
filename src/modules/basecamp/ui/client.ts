/**
 * JSON-RPC 2.0 over Basecamp's WebSocket relay: requests matched by id, notifications routed to subscriptions, and a
 * connection that comes back by itself. Subscriptions outlive a reconnect: each is made again on the new connection,
 * and views are told (onOpen) so that they reload what they show from the node.
 */
import type { ErrorWire } from './types.ts'

/** A JSON-RPC error answer: `code` is the node's ERR_ code when there is one (error.data.code), else the RPC code. */
export class RpcError extends Error {
  readonly rpcCode: number
  readonly code: string
  readonly wire: ErrorWire | undefined
  readonly data: unknown
  constructor (error: { code: number, message: string, data?: unknown }) {
    super(error.message)
    this.name = 'RpcError'
    this.rpcCode = error.code
    const data = error.data as Partial<ErrorWire> | undefined
    this.wire = typeof data?.code === 'string' ? data as ErrorWire : undefined
    this.code = this.wire?.code ?? `JSON-RPC ${error.code}`
    this.data = error.data
  }
}

/** The connection ended before an answer came: what was asked may or may not have happened on the node. */
export class ConnectionLost extends Error {
  readonly code = 'connection lost'
  constructor (detail: string) {
    super(`the connection to the node ended before the answer came (${detail}); the node's state is shown again once it is back`)
    this.name = 'ConnectionLost'
  }
}

export type Status =
  | { state: 'connecting', attempt: number }
  | { state: 'open' }
  | { state: 'closed', code: number, reason: string, retryInMs: number }
  | { state: 'locked', reason: string }

export interface Subscription {
  /** Ends it (on the node too, when connected). */
  close: () => void
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
  timer: number
}

interface DurableSub {
  method: string
  params: Record<string, unknown>
  onItems: (items: unknown[]) => void
  onDropped: (count: number) => void
  id: string | undefined
  closed: boolean
}

/** Notifications held for a subscription whose id is not known yet (they may overtake the subscribe answer). */
const ORPHAN_ITEMS = 5_000
/** Reconnect delays: doubled from the first up to the last. */
const RETRY_FIRST_MS = 250
const RETRY_MAX_MS = 4_000
/** How long an answer may take beyond the node's own deadline for the call. */
const ANSWER_GRACE_MS = 5_000
const DEFAULT_TIMEOUT_MS = 30_000

export class RpcClient {
  private readonly url: string
  /** Tells whether the secret still opens Basecamp, before each reconnect ('locked' stops trying). */
  private readonly probe: () => Promise<'ok' | 'locked' | 'down'>
  private ws: WebSocket | undefined
  private nextId = 0
  private readonly pending = new Map<number, Pending>()
  private readonly subs = new Set<DurableSub>()
  private readonly byId = new Map<string, DurableSub>()
  private readonly orphans = new Map<string, unknown[][]>()
  /** Ids of subscriptions this page ended on this connection: their late notifications are dropped, not held. */
  private readonly ended = new Set<string>()
  private orphanCount = 0
  private readonly statusListeners = new Set<(s: Status) => void>()
  private readonly openListeners = new Set<() => void>()
  private readonly errorListeners = new Set<(what: string, err: unknown) => void>()
  private attempt = 0
  private retryTimer: number | undefined
  private stopped = false
  status: Status = { state: 'connecting', attempt: 0 }

  constructor (url: string, probe: () => Promise<'ok' | 'locked' | 'down'>) {
    this.url = url
    this.probe = probe
  }

  get connected (): boolean {
    return this.status.state === 'open'
  }

  start (): void {
    this.stopped = false
    this.open()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.retryTimer)
    this.ws?.close(1000, 'page closed')
  }

  onStatus (fn: (s: Status) => void): () => void {
    this.statusListeners.add(fn)
    fn(this.status)
    return () => { this.statusListeners.delete(fn) }
  }

  /** Called each time a connection opens (the first and every reconnect), after subscriptions are made again. */
  onOpen (fn: () => void): () => void {
    this.openListeners.add(fn)
    return () => { this.openListeners.delete(fn) }
  }

  /** Failures no caller waits for (a subscription the node refused): the page shows them. */
  onError (fn: (what: string, err: unknown) => void): () => void {
    this.errorListeners.add(fn)
    return () => { this.errorListeners.delete(fn) }
  }

  async call<R = unknown> (method: string, params?: unknown, options: { timeoutMs?: number } = {}): Promise<R> {
    const ws = this.ws
    if (ws === undefined || ws.readyState !== WebSocket.OPEN || this.status.state !== 'open') {
      throw new ConnectionLost(this.status.state === 'closed' ? this.status.reason || 'not connected' : 'not connected')
    }
    return await this.send<R>(ws, method, params, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  }

  /** A subscription that lives across reconnects; `onItems` gets each notification's records or entries. */
  subscribe (method: 'logs.subscribe' | 'trace.subscribe', params: Record<string, unknown>, onItems: (items: unknown[]) => void, onDropped: (count: number) => void = () => {}): Subscription {
    const sub: DurableSub = { method, params, onItems, onDropped, id: undefined, closed: false }
    this.subs.add(sub)
    if (this.ws !== undefined && this.status.state === 'open') void this.activate(this.ws, sub)
    return {
      close: () => {
        sub.closed = true
        this.subs.delete(sub)
        if (sub.id !== undefined) this.end(sub.id, method)
      }
    }
  }

  private async send<R> (ws: WebSocket, method: string, params: unknown, timeoutMs: number): Promise<R> {
    const id = ++this.nextId
    return await new Promise<R>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${method}: no answer within ${Math.round((timeoutMs + ANSWER_GRACE_MS) / 1000)} s`))
      }, timeoutMs + ANSWER_GRACE_MS)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      ws.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }))
    })
  }

  private end (id: string, method: string): void {
    this.byId.delete(id)
    this.orphans.delete(id)
    this.ended.add(id)
    const unsubscribe = method === 'logs.subscribe' ? 'logs.unsubscribe' : 'trace.unsubscribe'
    if (this.connected) this.call(unsubscribe, { subscription: id }).catch(() => {})
  }

  private async activate (ws: WebSocket, sub: DurableSub): Promise<void> {
    try {
      const id = await this.send<string>(ws, sub.method, sub.params, DEFAULT_TIMEOUT_MS)
      if (ws !== this.ws) return
      if (sub.closed) {
        this.end(id, sub.method)
        return
      }
      sub.id = id
      this.byId.set(id, sub)
      const held = this.orphans.get(id)
      if (held !== undefined) {
        this.orphans.delete(id)
        for (const items of held) {
          this.orphanCount -= items.length
          sub.onItems(items)
        }
      }
    } catch (err) {
      if (err instanceof ConnectionLost) return
      for (const fn of this.errorListeners) fn(`${sub.method} ${JSON.stringify(sub.params)} failed`, err)
    }
  }

  private setStatus (s: Status): void {
    this.status = s
    for (const fn of this.statusListeners) fn(s)
  }

  private open (): void {
    this.setStatus({ state: 'connecting', attempt: this.attempt })
    const ws = new WebSocket(this.url)
    this.ws = ws
    let opened = false
    ws.onopen = () => {
      opened = true
      this.attempt = 0
      this.setStatus({ state: 'open' })
      for (const sub of this.subs) void this.activate(ws, sub)
      for (const fn of this.openListeners) fn()
    }
    ws.onmessage = (event: MessageEvent) => { this.onMessage(String(event.data)) }
    ws.onclose = (event: CloseEvent) => {
      if (ws !== this.ws) return
      const reason = event.reason !== '' ? event.reason : opened ? `closed (${event.code})` : 'Basecamp is not reachable'
      this.dropConnection(reason)
      if (this.stopped) return
      void this.retry(event.code, reason)
    }
  }

  private dropConnection (reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new ConnectionLost(reason))
      this.pending.delete(id)
    }
    for (const sub of this.subs) sub.id = undefined
    this.byId.clear()
    this.ended.clear()
    this.orphans.clear()
    this.orphanCount = 0
  }

  private async retry (code: number, reason: string): Promise<void> {
    const verdict = await this.probe().catch(() => 'down' as const)
    if (verdict === 'locked') {
      this.setStatus({ state: 'locked', reason: 'the secret is not this run\'s (the node restarted?)' })
      return
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.attempt)
    this.attempt++
    this.setStatus({ state: 'closed', code, reason, retryInMs: delay })
    this.retryTimer = window.setTimeout(() => { if (!this.stopped) this.open() }, delay)
  }

  private onMessage (text: string): void {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      console.error('not JSON from the node', text.slice(0, 200))
      return
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) this.onOne(m as Record<string, unknown>)
  }

  private onOne (m: Record<string, unknown>): void {
    if (typeof m.method === 'string') {
      const params = (m.params ?? {}) as Record<string, unknown>
      const id = params.subscription as string
      if (m.method === 'subscription.dropped') {
        this.byId.get(id)?.onDropped(params.dropped as number)
        return
      }
      const items = (params.records ?? params.entries) as unknown[] | undefined
      if (items === undefined) return
      const sub = this.byId.get(id)
      if (this.ended.has(id)) return
      if (sub !== undefined) {
        sub.onItems(items)
      } else if (this.orphanCount + items.length <= ORPHAN_ITEMS) {
        const held = this.orphans.get(id) ?? []
        held.push(items)
        this.orphans.set(id, held)
        this.orphanCount += items.length
      }
      return
    }
    if (typeof m.id !== 'number') return
    const p = this.pending.get(m.id)
    if (p === undefined) return
    this.pending.delete(m.id)
    clearTimeout(p.timer)
    if (m.error !== undefined) p.reject(new RpcError(m.error as { code: number, message: string, data?: unknown }))
    else p.resolve(m.result)
  }
}
