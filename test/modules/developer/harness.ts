/**
 * Test harness for the developer interface. The JSON-RPC client here is written against the specification with plain
 * fetch and the `ws` package; it shares no code with the server (nothing from src/modules/developer).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { Kernel } from '../../../src/kernel/index.ts'
import type { ModuleSource } from '../../../src/kernel/index.ts'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const DEVELOPER_DIR = join(ROOT, 'src/modules/developer')
export const FIXTURES = join(ROOT, 'test/fixtures/developer')
export const CHAIN = ['alpha', 'beta', 'gamma'].map(n => join(FIXTURES, 'modules', n))
export const PROCESS_MANAGER_DIR = join(ROOT, 'src/modules/process-manager')

export interface NodeUnderTest {
  kernel: Kernel
  dataDir: string
  url: string
  ws: string
  token: string
  stop: () => Promise<void>
}

/**
 * A kernel with the developer module (trusted, as the node's distribution loads it) and the given modules, started;
 * with `processManager` (its configuration), the process manager too, for modules in processes of their own.
 */
export async function startDevNode (options: { modules?: ModuleSource[], config?: Record<string, unknown>, dataDir?: string, callWaitMs?: number, processManager?: Record<string, unknown> } = {}): Promise<NodeUnderTest> {
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'logos-dev-test-'))
  const kernel = new Kernel({ dataDir, config: { developer: options.config ?? {} }, callWaitMs: options.callWaitMs })
  await kernel.load({ dir: DEVELOPER_DIR }, { trusted: true })
  if (options.processManager !== undefined) await kernel.load({ dir: PROCESS_MANAGER_DIR }, { trusted: true, config: options.processManager })
  for (const source of options.modules ?? []) await kernel.load(source)
  const results = await kernel.startAll()
  const failed = results.filter(r => r.error !== undefined)
  if (failed.length > 0) throw new Error(`modules failed to start: ${failed.map(r => `${r.name}: ${r.error?.message ?? ''}`).join('; ')}`)
  const folder = join(dataDir, 'modules', 'developer')
  const endpoint = JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { url: string, ws: string }
  const token = (await readFile(join(folder, 'token'), 'utf8')).trim()
  return {
    kernel,
    dataDir,
    url: endpoint.url,
    ws: endpoint.ws,
    token,
    stop: async () => {
      await kernel.shutdown()
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true })
    }
  }
}

export interface RpcError {
  code: number
  message: string
  data?: { code?: string, data?: Record<string, unknown>, stack?: string, [key: string]: unknown }
}

export interface HttpReply {
  status: number
  headers: Headers
  text: string
  json: unknown
}

/** One HTTP POST of a raw body (string) or of a value encoded as JSON. */
export async function post (url: string, body: unknown, options: { token?: string, headers?: Record<string, string> } = {}): Promise<HttpReply> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

let nextId = 1000

/** A JSON-RPC call over HTTP; resolves with the result, rejects with an RpcCallError carrying the error object. */
export async function rpc<R = unknown> (node: Pick<NodeUnderTest, 'url' | 'token'>, method: string, params?: unknown): Promise<R> {
  const id = ++nextId
  const reply = await post(node.url, params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }, { token: node.token })
  const body = reply.json as { id: number, result?: R, error?: RpcError }
  if (body.id !== id) throw new Error(`response id ${String(body.id)} for request ${id}`)
  if (body.error !== undefined) throw new RpcCallError(body.error)
  return body.result as R
}

export class RpcCallError extends Error {
  readonly error: RpcError
  constructor (error: RpcError) {
    super(`${error.code} ${error.message}`)
    this.error = error
  }
}

/** The error object of a call that must fail. */
export async function rpcError (node: Pick<NodeUnderTest, 'url' | 'token'>, method: string, params?: unknown): Promise<RpcError> {
  try {
    await rpc(node, method, params)
  } catch (err) {
    if (err instanceof RpcCallError) return err.error
    throw err
  }
  throw new Error(`${method} was expected to fail`)
}

interface Message {
  jsonrpc: string
  id?: number | string | null
  result?: unknown
  error?: RpcError
  method?: string
  params?: Record<string, unknown>
}

/** A WebSocket JSON-RPC client: requests matched by id, notifications collected in order. */
export class WsClient {
  readonly socket: WebSocket
  readonly notifications: Message[] = []
  /** Responses no request of this client waited for (to raw text). */
  readonly unmatched: Message[] = []
  private readonly pending = new Map<number | string, (m: Message) => void>()
  private readonly waiters = new Set<() => void>()

  private constructor (socket: WebSocket) {
    this.socket = socket
    socket.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as Message | Message[]
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (m.id !== undefined && m.id !== null && this.pending.has(m.id)) {
          const resolve = this.pending.get(m.id) as (m: Message) => void
          this.pending.delete(m.id)
          resolve(m)
        } else if (m.method !== undefined) {
          this.notifications.push(m)
        } else {
          this.unmatched.push(m)
        }
      }
      for (const w of [...this.waiters]) w()
    })
  }

  /** Opens a connection; rejects with { status, body } when the server refuses the upgrade. */
  static async connect (url: string, options: { token?: string, headers?: Record<string, string> } = {}): Promise<WsClient> {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    const socket = new WebSocket(url, { headers })
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => { resolve() })
      socket.once('unexpected-response', (_req, res) => {
        let text = ''
        res.on('data', (c: Buffer) => { text += c.toString() })
        res.on('end', () => { reject(new UpgradeRefused(res.statusCode ?? 0, text)) })
      })
      socket.once('error', reject)
    })
    return new WsClient(socket)
  }

  async request (method: string, params?: unknown): Promise<Message> {
    const id = ++nextId
    const reply = new Promise<Message>((resolve) => { this.pending.set(id, resolve) })
    this.socket.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }))
    return await reply
  }

  /** Sends raw text and returns the responses of the next message that answers it (a batch gives several). */
  async raw (text: string): Promise<Message[]> {
    const before = this.unmatched.length
    this.socket.send(text)
    await this.waitFor(() => this.unmatched.length > before)
    return this.unmatched.slice(before)
  }

  async call<R = unknown> (method: string, params?: unknown): Promise<R> {
    const m = await this.request(method, params)
    if (m.error !== undefined) throw new RpcCallError(m.error)
    return m.result as R
  }

  /** Items of the notifications of one subscription, in order (`records` or `entries`). */
  items<T = Record<string, unknown>> (subscription: string): T[] {
    const out: T[] = []
    for (const n of this.notifications) {
      if (n.params?.subscription !== subscription) continue
      const list = (n.params.records ?? n.params.entries) as T[] | undefined
      if (list !== undefined) out.push(...list)
    }
    return out
  }

  async waitFor (predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          clearTimeout(timer)
          this.waiters.delete(check)
          resolve()
        }
      }
      const timer = setTimeout(() => {
        this.waiters.delete(check)
        reject(new Error('timed out waiting for WebSocket messages'))
      }, timeoutMs)
      this.waiters.add(check)
    })
  }

  async close (): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return
    const closed = new Promise<void>((resolve) => { this.socket.once('close', () => { resolve() }) })
    this.socket.close()
    await closed
  }
}

export class UpgradeRefused extends Error {
  readonly status: number
  readonly body: string
  constructor (status: number, body: string) {
    super(`upgrade refused with HTTP ${status}`)
    this.status = status
    this.body = body
  }
}

export async function waitUntil (predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, intervalMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
