import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { RawData, WebSocket } from 'ws'
import { errorToWire } from '../../sdk/index.ts'
import type { Logger } from '../../sdk/index.ts'
import { checkBrowserAccess, checkToken, presentedToken } from './access.ts'
import { dispatcher } from './api.ts'
import type { RpcMethod, Session } from './api.ts'
import { ClientQueue } from './client-queue.ts'
import type { ClientQueueOptions } from './client-queue.ts'
import {
  CLOSE_GRACE_MS, HEADERS_TIMEOUT_MS, MAX_INFLIGHT_PER_CLIENT, MAX_REQUEST_BYTES, MAX_WS_CLIENTS, REQUEST_TIMEOUT_MS, RPC_PATH
} from './constants.ts'
import { DevLimitReachedError, DevOriginRefusedError } from './errors.ts'
import { errorResponse, handleMessage, INVALID_REQUEST, LIMIT_REACHED, toRpcError } from './json-rpc.ts'
import type { RpcId } from './json-rpc.ts'

export interface DevServerOptions {
  host: string
  port: number
  token: string
  allowedOrigins: readonly string[]
  api: ReadonlyMap<string, RpcMethod>
  log: Logger
  /** Bounds of each WebSocket client's queue (tests make them small). */
  queue?: ClientQueueOptions
}

/** A refusal before any JSON-RPC processing: an HTTP status and the JSON-RPC error that explains it. */
class Refusal extends Error {
  readonly status: number
  readonly body: string
  readonly headers: Record<string, string>
  constructor (status: number, body: string, headers: Record<string, string> = {}) {
    super(body)
    this.status = status
    this.body = body
    this.headers = headers
  }
}

function refusal (status: number, err: unknown, headers: Record<string, string> = {}): Refusal {
  return new Refusal(status, JSON.stringify({ jsonrpc: '2.0', id: null, error: toRpcError(err) }), headers)
}

function protocolRefusal (status: number, message: string, headers: Record<string, string> = {}): Refusal {
  return new Refusal(status, JSON.stringify(errorResponse(null, INVALID_REQUEST, message)), headers)
}

const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }

/**
 * The developer interface's server: JSON-RPC 2.0 over HTTP POST and over WebSocket on one port and one path (/rpc).
 * Every request passes, in order: the browser checks (Host and Origin), the path, the token; HTTP requests then need
 * POST, `Content-Type: application/json` and a body under the size bound. Refusals carry a JSON-RPC error body.
 */
export class DevServer {
  private readonly options: DevServerOptions
  private readonly http: Server
  private readonly wss: WebSocketServer
  private readonly clients = new Set<WebSocket>()
  private readonly requests = new Set<AbortController>()
  port = 0

  constructor (options: DevServerOptions) {
    this.options = options
    this.http = createServer((req, res) => { void this.onRequest(req, res) })
    this.http.headersTimeout = HEADERS_TIMEOUT_MS
    this.http.requestTimeout = REQUEST_TIMEOUT_MS
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_REQUEST_BYTES, perMessageDeflate: false })
    this.http.on('upgrade', (req, socket, head) => { this.onUpgrade(req, socket, head) })
  }

  /** Binds and returns the URLs (the port is the system's choice when the configured one is 0). */
  async listen (): Promise<{ url: string, ws: string, port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen({ host: this.options.host, port: this.options.port }, () => {
        this.http.off('error', reject)
        resolve()
      })
    })
    const address = this.http.address()
    this.port = typeof address === 'object' && address !== null ? address.port : this.options.port
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host
    return { url: `http://${host}:${this.port}${RPC_PATH}`, ws: `ws://${host}:${this.port}${RPC_PATH}`, port: this.port }
  }

  async close (): Promise<void> {
    for (const ws of this.clients) ws.close(1001, 'the node is stopping')
    for (const controller of this.requests) controller.abort()
    this.wss.close()
    const closed = new Promise<void>((resolve) => { this.http.close(() => { resolve() }) })
    this.http.closeIdleConnections()
    const timer = setTimeout(() => {
      this.http.closeAllConnections()
      for (const ws of this.clients) ws.terminate()
    }, CLOSE_GRACE_MS)
    await closed
    clearTimeout(timer)
  }

  /** The checks every request (HTTP or upgrade) passes before its method and body are looked at. */
  private admit (req: IncomingMessage, url: URL): void {
    try {
      checkBrowserAccess({ host: req.headers.host, origin: req.headers.origin }, this.port, this.options.allowedOrigins)
    } catch (err) {
      throw refusal(403, err)
    }
    if (url.pathname !== RPC_PATH) throw protocolRefusal(404, `Invalid Request: no such path ${url.pathname} (JSON-RPC answers at ${RPC_PATH})`)
  }

  private authorize (req: IncomingMessage, url: URL): void {
    try {
      checkToken(presentedToken(req.headers.authorization, url), this.options.token)
    } catch (err) {
      throw refusal(401, err, { 'WWW-Authenticate': 'Bearer realm="logos"' })
    }
  }

  private async onRequest (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const origin = req.headers.origin
    try {
      this.admit(req, url)
      if (req.method === 'OPTIONS') {
        // A CORS preflight (it never carries the token). Only origins that passed admit() get here.
        res.writeHead(204, {
          'Access-Control-Allow-Origin': origin ?? '',
          'Access-Control-Allow-Methods': 'POST',
          'Access-Control-Allow-Headers': 'authorization, content-type',
          'Access-Control-Max-Age': '600',
          Vary: 'Origin'
        }).end()
        return
      }
      this.authorize(req, url)
      if (req.method !== 'POST') throw protocolRefusal(405, 'Invalid Request: JSON-RPC over HTTP uses POST', { Allow: 'POST, OPTIONS' })
      const type = req.headers['content-type'] ?? ''
      if (!/^application\/json\s*(;|$)/i.test(type)) throw protocolRefusal(415, 'Invalid Request: Content-Type must be application/json')
      const body = await readBody(req)
      const controller = new AbortController()
      this.requests.add(controller)
      // The client hung up before its answer: what it asked for is abandoned (a module call gets the abort).
      res.on('close', () => {
        this.requests.delete(controller)
        if (!res.writableFinished) controller.abort()
      })
      const session: Session = { transport: 'http', signal: controller.signal }
      const out = await handleMessage(body, dispatcher(this.options.api, session))
      const headers: Record<string, string> = origin === undefined ? {} : { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' }
      if (out === undefined) {
        res.writeHead(204, headers).end()
      } else {
        res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(out)) }).end(out)
      }
    } catch (err) {
      const r = err instanceof Refusal ? err : protocolRefusal(500, `Internal error: ${(err as Error).message}`)
      if (res.headersSent) {
        res.destroy()
        return
      }
      res.writeHead(r.status, { ...r.headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(r.body)), Connection: 'close' }).end(r.body)
    }
  }

  private onUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    try {
      this.admit(req, url)
      this.authorize(req, url)
      if (this.clients.size >= MAX_WS_CLIENTS) throw refusal(503, new DevLimitReachedError('WebSocket clients', MAX_WS_CLIENTS))
    } catch (err) {
      const r = err instanceof Refusal ? err : refusal(403, new DevOriginRefusedError('upgrade', String(err)))
      const extra = Object.entries(r.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
      socket.end(`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(r.body)}\r\n${extra}Connection: close\r\n\r\n${r.body}`)
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => { this.onConnection(ws) })
  }

  private onConnection (ws: WebSocket): void {
    this.clients.add(ws)
    const controller = new AbortController()
    const queue = new ClientQueue(ws, this.options.queue)
    const dispatch = dispatcher(this.options.api, { transport: 'ws', signal: controller.signal, queue })
    let inFlight = 0
    ws.on('message', (data: RawData) => {
      const text = rawText(data)
      if (inFlight >= MAX_INFLIGHT_PER_CLIENT) {
        ws.send(JSON.stringify(errorResponse(idOf(text), LIMIT_REACHED, `too many requests in flight on this connection (limit ${MAX_INFLIGHT_PER_CLIENT})`, errorToWire(new DevLimitReachedError('requests in flight', MAX_INFLIGHT_PER_CLIENT)))))
        return
      }
      inFlight++
      handleMessage(text, dispatch).then((out) => {
        if (out !== undefined && ws.readyState === ws.OPEN) ws.send(out)
      }, (err: unknown) => {
        this.options.log.error('a WebSocket request failed unexpectedly', { error: (err as Error).message })
      }).finally(() => { inFlight-- })
    })
    ws.on('close', () => {
      this.clients.delete(ws)
      controller.abort()
      queue.close()
    })
    ws.on('error', (err) => {
      this.options.log.debug('WebSocket client error', { error: err.message })
    })
  }
}

function rawText (data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8')
  return data.toString('utf8')
}

/** The id of a single request, for an answer sent without running it. */
function idOf (text: string): RpcId {
  try {
    const v = JSON.parse(text) as { id?: unknown }
    return v !== null && typeof v === 'object' && !Array.isArray(v) && (typeof v.id === 'string' || typeof v.id === 'number') ? v.id : null
  } catch {
    return null
  }
}

async function readBody (req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > MAX_REQUEST_BYTES) throw protocolRefusal(413, `Invalid Request: a body of ${declared} bytes (at most ${MAX_REQUEST_BYTES})`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_REQUEST_BYTES) throw protocolRefusal(413, `Invalid Request: a body over ${MAX_REQUEST_BYTES} bytes`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}
