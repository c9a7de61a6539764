import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'
import { errorToWire } from '../../sdk/index.ts'
import type { Logger } from '../../sdk/index.ts'
import { checkBrowserAccess, checkSecret, presentedSecret } from './access.ts'
import {
  CLOSE_GRACE_MS, HEADERS_TIMEOUT_MS, MAX_CLIENTS, MAX_LINGERING, MAX_MESSAGE_BYTES, PING_INTERVAL_MS, REQUEST_TIMEOUT_MS,
  RPC_PATH, SESSION_PATH
} from './constants.ts'
import { BasecampLimitReachedError } from './errors.ts'
import { CLOSE_GOING_AWAY, Relay } from './relay.ts'
import type { RelayOptions } from './relay.ts'
import type { UiFiles } from './ui-files.ts'

export interface BasecampServerOptions {
  host: string
  port: number
  /** This run's secret: the relay and the probe need it, the UI's files do not (they hold nothing secret). */
  secret: string
  ui: UiFiles
  relay: Omit<RelayOptions, 'linger'>
  /** What the probe answers besides `ok` (module name, version). */
  session: Record<string, unknown>
  log: Logger
}

/**
 * The page's whole world, on one origin (http://127.0.0.1:<port>): strict headers on every answer, so the page loads
 * nothing from elsewhere and no other site can frame it or load its files.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store'
}

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }

class Refusal extends Error {
  readonly status: number
  readonly body: string
  constructor (status: number, err: unknown) {
    const wire = errorToWire(err)
    delete wire.stack
    super(wire.message)
    this.status = status
    this.body = JSON.stringify({ error: wire })
  }
}

/**
 * Basecamp's HTTP server on a loopback port: the UI's files (GET), the secret probe (POST /session) and the relay to
 * the node's developer interface (WebSocket /rpc). Every request first passes the Host and Origin checks; the probe
 * and the relay then need the secret.
 */
export class BasecampServer {
  private readonly options: BasecampServerOptions
  private readonly http: Server
  private readonly wss: WebSocketServer
  private readonly relays = new Set<Relay>()
  private readonly alive = new WeakSet<WebSocket>()
  private pinger: NodeJS.Timeout | undefined
  /** Relays whose page went, keeping their connection to the node until their lifecycle answers come. */
  private readonly lingering = new Set<Relay>()
  private closed = false
  port = 0

  constructor (options: BasecampServerOptions) {
    this.options = options
    this.http = createServer((req, res) => { void this.onRequest(req, res) })
    this.http.headersTimeout = HEADERS_TIMEOUT_MS
    this.http.requestTimeout = REQUEST_TIMEOUT_MS
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false })
    this.http.on('upgrade', (req, socket, head) => { this.onUpgrade(req, socket, head) })
  }

  /** Pages connected now. */
  get clients (): number {
    return this.relays.size
  }

  async listen (): Promise<{ url: string, port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen({ host: this.options.host, port: this.options.port }, () => {
        this.http.off('error', reject)
        resolve()
      })
    })
    const address = this.http.address()
    this.port = typeof address === 'object' && address !== null ? address.port : this.options.port
    this.pinger = setInterval(() => { this.ping() }, PING_INTERVAL_MS)
    this.pinger.unref()
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host
    return { url: `http://${host}:${this.port}/`, port: this.port }
  }

  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.pinger)
    for (const relay of this.relays) relay.closePage(CLOSE_GOING_AWAY, undefined, 'the node is stopping')
    for (const relay of this.lingering) relay.closeUpstream()
    this.wss.close()
    const closed = new Promise<void>((resolve) => { this.http.close(() => { resolve() }) })
    this.http.closeIdleConnections()
    const timer = setTimeout(() => {
      this.http.closeAllConnections()
      for (const relay of this.relays) relay.page.terminate()
    }, CLOSE_GRACE_MS)
    await closed
    clearTimeout(timer)
  }

  private ping (): void {
    for (const relay of this.relays) {
      if (!this.alive.has(relay.page)) {
        relay.page.terminate()
        continue
      }
      this.alive.delete(relay.page)
      relay.page.ping()
    }
  }

  private admit (req: IncomingMessage): void {
    try {
      checkBrowserAccess({ host: req.headers.host, origin: req.headers.origin }, this.port)
    } catch (err) {
      throw new Refusal(403, err)
    }
  }

  private authorize (req: IncomingMessage, url: URL): void {
    try {
      checkSecret(presentedSecret(req.headers.authorization, url), this.options.secret)
    } catch (err) {
      throw new Refusal(401, err)
    }
  }

  private async onRequest (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    try {
      this.admit(req)
      if (url.pathname === SESSION_PATH) {
        if (req.method !== 'POST') return this.send(res, 405, 'text/plain; charset=utf-8', 'POST only\n', { Allow: 'POST' })
        this.authorize(req, url)
        req.resume()
        return this.send(res, 200, 'application/json', JSON.stringify({ ok: true, ...this.options.session }))
      }
      if (url.pathname === RPC_PATH) return this.send(res, 426, 'text/plain; charset=utf-8', 'WebSocket only\n', { Upgrade: 'websocket' })
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.send(res, 405, 'text/plain; charset=utf-8', 'GET only\n', { Allow: 'GET, HEAD' })
      const file = await this.options.ui.get(url.pathname)
      if (file === undefined) return this.send(res, 404, 'text/plain; charset=utf-8', 'Not found\n')
      this.send(res, 200, file.type, req.method === 'HEAD' ? undefined : file.body, { 'Content-Length': String(file.body.length) })
    } catch (err) {
      if (err instanceof Refusal) {
        this.send(res, err.status, 'application/json', err.body, err.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="basecamp"' } : {})
        return
      }
      this.options.log.error(`Basecamp could not serve ${url.pathname}`, { error: (err as Error).message })
      if (!res.headersSent) this.send(res, 500, 'text/plain; charset=utf-8', 'Internal error\n')
      else res.destroy()
    }
  }

  private send (res: ServerResponse, status: number, type: string, body: string | Buffer | undefined, headers: Record<string, string> = {}): void {
    const length = body === undefined ? undefined : String(Buffer.byteLength(body))
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...(length === undefined ? {} : { 'Content-Length': length }), ...headers })
    res.end(body)
  }

  private onUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    try {
      this.admit(req)
      if (url.pathname !== RPC_PATH) throw new Refusal(404, new Error(`no WebSocket at ${url.pathname} (the relay is at ${RPC_PATH})`))
      this.authorize(req, url)
      if (this.relays.size >= MAX_CLIENTS) throw new Refusal(503, new BasecampLimitReachedError('Basecamp pages', MAX_CLIENTS))
    } catch (err) {
      const r = err instanceof Refusal ? err : new Refusal(403, err)
      socket.end(`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(r.body)}\r\nConnection: close\r\n\r\n${r.body}`)
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const relay = new Relay(ws, {
        ...this.options.relay,
        linger: {
          enter: () => {
            if (this.closed || this.lingering.size >= MAX_LINGERING) return false
            this.lingering.add(relay)
            return true
          },
          leave: () => { this.lingering.delete(relay) }
        }
      })
      this.relays.add(relay)
      this.alive.add(ws)
      ws.on('pong', () => { this.alive.add(ws) })
      ws.on('close', () => { this.relays.delete(relay) })
      void relay.connect()
    })
  }
}
