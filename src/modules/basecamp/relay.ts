import { WebSocket } from 'ws'
import type { RawData } from 'ws'
import { errorToWire, LogosError } from '../../sdk/index.ts'
import type { Logger } from '../../sdk/index.ts'
import {
  EARLY_MESSAGES, LINGER_METHODS, LINGER_MS, LOCAL_METHOD_PREFIX, RELAY_HIGH_WATER_BYTES, RELAY_LOW_WATER_BYTES,
  SELF_CONTROL_METHODS, UPSTREAM_CONNECT_TIMEOUT_MS
} from './constants.ts'
import { BasecampBatchRefusedError, BasecampLimitReachedError, BasecampNodeUnreachableError, BasecampSelfControlError } from './errors.ts'

/** Where the node's developer interface answers, and the token that lets a local program in. */
export interface Upstream {
  ws: string
  token: string
}

/** JSON-RPC 2.0 error codes (section 5.1) the relay answers with itself. */
const METHOD_NOT_FOUND = -32601
const APPLICATION_ERROR = -32000
const LIMIT_REACHED = -32003

/** WebSocket close codes (RFC 6455 section 7.4.1). */
export const CLOSE_GOING_AWAY = 1001
export const CLOSE_POLICY = 1008
export const CLOSE_INTERNAL = 1011
export const CLOSE_RESTART = 1012

export interface RelayOptions {
  /** Basecamp's own module name: requests to stop, unload, reload or watch it are refused here. */
  self: string
  /** Asked at each connection: the developer interface may have restarted on another port, or rotated its token. */
  upstream: () => Promise<Upstream>
  /** Answers `basecamp.*` methods (the node's figures); throws RelayMethodNotFound for an unknown one. */
  local: (method: string, params: unknown, relay: Relay) => unknown
  /**
   * Asked when a page goes with lifecycle requests unanswered: true lets its connection stay until they are answered
   * (bounded in number by the server), and `leave` is called once that connection has closed.
   */
  linger: { enter: () => boolean, leave: () => void }
  log: Logger
}

export class RelayMethodNotFound extends Error {}

type RpcId = string | number | null

interface Message {
  id?: unknown
  method?: unknown
  params?: unknown
}

/**
 * One page's connection to the node: every JSON-RPC message the page sends goes, unchanged, to a WebSocket of its
 * own on the developer interface (which Basecamp opens with the node's token, so the page never holds it), and every
 * message from there comes back unchanged. Three kinds of request are answered here instead: `basecamp.*` (what only
 * Basecamp knows), and stopping, unloading, reloading or watching Basecamp itself, which would cut the page off
 * mid-answer. Flow control runs both ways: once RELAY_HIGH_WATER_BYTES sent to one side are unwritten, the relay stops
 * reading the other, so a slow page makes the developer interface drop records for it (and say how many) instead of
 * this process buffering them.
 */
export class Relay {
  readonly page: WebSocket
  /** Per-connection state for local methods (the CPU baseline of `basecamp.node`). */
  readonly state: Record<string, unknown> = {}
  private readonly options: RelayOptions
  private upstream: WebSocket | undefined
  private early: RawData[] | undefined = []
  /** Bytes sent to each side and not yet written to its socket. */
  private readonly unwritten = { page: 0, node: 0 }
  private closing = false
  /** Ids (typed: `n:1`, `s:a`) of lifecycle requests forwarded and not answered yet. */
  private readonly awaited = new Set<string>()
  private lingering = false

  constructor (page: WebSocket, options: RelayOptions) {
    this.page = page
    this.options = options
    page.on('message', (data) => { this.fromPage(data) })
    page.on('close', () => {
      this.closing = true
      const upstream = this.upstream
      if (upstream?.readyState === WebSocket.OPEN && this.awaited.size > 0 && options.linger.enter()) {
        // The page went (a reload) while the node was starting or stopping something for it: let that finish.
        this.lingering = true
        const timer = setTimeout(() => { upstream.close() }, LINGER_MS)
        upstream.once('close', () => {
          clearTimeout(timer)
          options.linger.leave()
        })
        return
      }
      upstream?.close()
      if (upstream?.readyState === WebSocket.CONNECTING) upstream.terminate()
    })
    page.on('error', (err) => { options.log.debug('Basecamp page connection error', { error: err.message }) })
  }

  /** Opens the connection to the developer interface; on failure the page is closed with the reason (1011). */
  async connect (): Promise<void> {
    let target: Upstream
    try {
      target = await this.options.upstream()
    } catch (err) {
      this.closePage(CLOSE_INTERNAL, new BasecampNodeUnreachableError((err as Error).message, { cause: err }))
      return
    }
    if (this.closing) return
    const upstream = new WebSocket(target.ws, { headers: { authorization: `Bearer ${target.token}` }, handshakeTimeout: UPSTREAM_CONNECT_TIMEOUT_MS, perMessageDeflate: false })
    this.upstream = upstream
    const opened = await new Promise<boolean>((resolve) => {
      upstream.once('open', () => { resolve(true) })
      upstream.once('unexpected-response', (_req, res) => {
        res.resume()
        upstream.terminate()
        this.closePage(CLOSE_INTERNAL, new BasecampNodeUnreachableError(`it refused the connection (HTTP ${res.statusCode ?? '?'})`))
        resolve(false)
      })
      upstream.once('error', (err) => {
        this.closePage(CLOSE_INTERNAL, new BasecampNodeUnreachableError(err.message, { cause: err }))
        resolve(false)
      })
    })
    if (!opened) return
    upstream.on('error', (err) => { this.options.log.debug('Basecamp upstream error', { error: err.message }) })
    upstream.on('message', (data) => {
      if (this.awaited.size > 0) this.noteAnswers(data)
      if (this.lingering) {
        if (this.awaited.size === 0) upstream.close()
        return
      }
      this.pipe('page', this.page, upstream, data)
    })
    upstream.on('close', (code) => {
      // The developer interface went away (the node stops, or the developer module restarts): the page reconnects.
      if (this.closing) return
      this.closePage(code === CLOSE_GOING_AWAY ? CLOSE_GOING_AWAY : CLOSE_RESTART, undefined, 'the node\'s developer interface closed the connection')
    })
    const early = this.early ?? []
    this.early = undefined
    if (this.closing) {
      upstream.close()
      return
    }
    for (const data of early) this.fromPage(data)
  }

  /** Ends the connection to the node (a lingering one, when Basecamp stops). */
  closeUpstream (): void {
    this.upstream?.close()
  }

  /** Ends the page's connection (and so the upstream one) with a code and a reason the page can show. */
  closePage (code: number, err?: LogosError, text?: string): void {
    this.closing = true
    const reason = err === undefined ? (text ?? '') : `${err.code}: ${err.message}`
    if (this.page.readyState === WebSocket.OPEN || this.page.readyState === WebSocket.CONNECTING) this.page.close(code, truncateReason(reason))
    if (this.upstream !== undefined && this.upstream.readyState !== WebSocket.CLOSED) this.upstream.close()
  }

  private fromPage (data: RawData): void {
    if (this.early !== undefined) {
      if (this.early.length >= EARLY_MESSAGES) {
        this.closePage(CLOSE_POLICY, new BasecampLimitReachedError('messages before the node answered', EARLY_MESSAGES))
        return
      }
      this.early.push(data)
      return
    }
    const upstream = this.upstream
    if (upstream === undefined || upstream.readyState !== WebSocket.OPEN) return
    const text = rawText(data)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined // not JSON: the developer interface answers it (-32700)
    }
    const answer = this.intercept(parsed)
    if (answer === undefined) {
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (isObject(m) && typeof m.method === 'string' && LINGER_METHODS.includes(m.method) && (typeof m.id === 'number' || typeof m.id === 'string')) this.awaited.add(idKey(m.id))
      }
      this.pipe('node', upstream, this.page, text)
    } else if (answer !== null) {
      this.pipe('page', this.page, upstream, JSON.stringify(answer))
    }
  }

  /** The answer of a request handled here (null: a notification, nothing to send), or undefined to forward it. */
  private intercept (parsed: unknown): unknown {
    if (Array.isArray(parsed)) {
      const held = parsed.find((m) => handledHere(m as Message, this.options.self))
      if (held === undefined) return undefined
      const method = String((held as Message).method)
      const out = parsed.filter(m => isObject(m) && m.id !== undefined).map(m => errorAnswer(idOf(m as Message), new BasecampBatchRefusedError(method)))
      return out.length === 0 ? null : out
    }
    if (!isObject(parsed)) return undefined
    const m = parsed as Message
    if (!handledHere(m, this.options.self)) return undefined
    const method = m.method as string
    let answer: unknown
    if (method.startsWith(LOCAL_METHOD_PREFIX)) {
      try {
        answer = { jsonrpc: '2.0', id: idOf(m), result: this.options.local(method, m.params, this) ?? null }
      } catch (err) {
        answer = err instanceof RelayMethodNotFound
          ? { jsonrpc: '2.0', id: idOf(m), error: { code: METHOD_NOT_FOUND, message: `Method not found: ${method}`, data: { method } } }
          : errorAnswer(idOf(m), err)
      }
    } else {
      answer = errorAnswer(idOf(m), new BasecampSelfControlError(this.options.self, method))
    }
    // A notification (no id) is never answered (JSON-RPC 2.0 section 4.1).
    return m.id === undefined ? null : answer
  }

  /** Crosses off the lifecycle requests a message from the node answers (notifications are skipped unparsed). */
  private noteAnswers (data: RawData): void {
    const text = rawText(data)
    if (text.startsWith('{"jsonrpc":"2.0","method"')) return
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      if (isObject(m) && m.method === undefined && (typeof m.id === 'number' || typeof m.id === 'string')) this.awaited.delete(idKey(m.id))
    }
  }

  /** Sends to `to`, counting unwritten bytes; pauses `from` over the high-water mark, resumes it under the low one. */
  private pipe (side: 'page' | 'node', to: WebSocket, from: WebSocket, data: RawData | string): void {
    if (to.readyState !== WebSocket.OPEN) return
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : rawLength(data)
    this.unwritten[side] += bytes
    to.send(data, { binary: false }, () => {
      this.unwritten[side] -= bytes
      if (from.isPaused && this.unwritten[side] <= RELAY_LOW_WATER_BYTES) from.resume()
    })
    if (this.unwritten[side] > RELAY_HIGH_WATER_BYTES && !from.isPaused) from.pause()
  }

  /** Bytes waiting to be written to the page and to the node (for tests and the module's figures). */
  get backlog (): { page: number, node: number } {
    return { ...this.unwritten }
  }
}

function handledHere (m: Message, self: string): boolean {
  if (!isObject(m) || typeof m.method !== 'string') return false
  if (m.method.startsWith(LOCAL_METHOD_PREFIX)) return true
  return SELF_CONTROL_METHODS.includes(m.method) && targetName(m.params) === self
}

/** The `name` param of a modules.* request, by name or first by position. */
function targetName (params: unknown): unknown {
  if (Array.isArray(params)) return params[0]
  return isObject(params) ? params.name : undefined
}

function errorAnswer (id: RpcId, err: unknown): unknown {
  const wire = errorToWire(err)
  // Typed errors travel without their stack: the code says what happened (as the developer interface does).
  if (err instanceof LogosError) delete wire.stack
  const code = err instanceof BasecampLimitReachedError ? LIMIT_REACHED : APPLICATION_ERROR
  return { jsonrpc: '2.0', id, error: { code, message: wire.message, data: wire } }
}

function idKey (id: string | number): string {
  return `${typeof id === 'number' ? 'n' : 's'}:${id}`
}

function idOf (m: Message): RpcId {
  return typeof m.id === 'string' || typeof m.id === 'number' ? m.id : null
}

function isObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function rawText (data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}

function rawLength (data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0)
  return data instanceof ArrayBuffer ? data.byteLength : data.length
}

/** A close reason is at most 123 bytes of UTF-8 (RFC 6455 section 5.5). */
function truncateReason (reason: string): string {
  let out = reason
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -2) + '…'
  return out
}
