import { join } from 'node:path'
import { WebSocket } from 'ws'
import { errorFromWire } from '../../sdk/index.ts'
import { readToken } from './access.ts'
import { DROPPED_NOTIFICATION, NOTIFICATIONS } from './client-queue.ts'
import { readEndpoint } from './endpoint.ts'
import { DevNodeUnreachableError, DevRpcError } from './errors.ts'
import { wireOf } from './json-rpc.ts'
import type { RpcErrorObject } from './json-rpc.ts'
import { encodeJson } from './wire-values.ts'

export interface DevClientOptions {
  /** http://127.0.0.1:<port>/rpc */
  url: string
  /** ws://127.0.0.1:<port>/rpc (derived from url when absent) */
  ws?: string
  token: string
}

export interface DevSubscription {
  readonly id: string
  /** Ends the subscription and closes its connection. */
  close: () => Promise<void>
  /** Settles when the connection ends (rejects if it ended with an error). */
  readonly closed: Promise<void>
}

/** The folder where a node's developer module keeps its token and endpoint files. */
export function developerFolder (dataDir: string): string {
  return join(dataDir, 'modules', 'developer')
}

/** A client for a node whose data directory is at hand: reads the endpoint and token files. */
export async function connectFromDataDir (dataDir: string): Promise<DevClient> {
  const folder = developerFolder(dataDir)
  let endpoint, token
  try {
    [endpoint, token] = await Promise.all([readEndpoint(folder), readToken(folder)])
  } catch (err) {
    throw new DevNodeUnreachableError(`${folder} (no endpoint or token file)`, { cause: err })
  }
  return new DevClient({ url: endpoint.url, ws: endpoint.ws, token })
}

/**
 * The client the CLI uses: requests over HTTP POST, subscriptions over a WebSocket each. Errors of the node come back
 * as the LogosError classes they were (rebuilt from `error.data`); protocol errors as DevRpcError.
 */
export class DevClient {
  readonly url: string
  readonly wsUrl: string
  private readonly token: string
  private nextId = 0

  constructor (options: DevClientOptions) {
    this.url = options.url
    this.wsUrl = options.ws ?? options.url.replace(/^http/, 'ws')
    this.token = options.token
  }

  async call<R = unknown> (method: string, params?: unknown, options: { signal?: AbortSignal } = {}): Promise<R> {
    const body = encodeJson({ jsonrpc: '2.0', id: ++this.nextId, method, params: params ?? {} })
    let res: Response
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
        body,
        signal: options.signal
      })
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err
      throw new DevNodeUnreachableError(this.url, { cause: err })
    }
    const text = await res.text()
    let reply: { result?: unknown, error?: RpcErrorObject }
    try {
      reply = JSON.parse(text) as typeof reply
    } catch {
      throw new DevRpcError(res.status, `the node answered HTTP ${res.status} with something that is not JSON-RPC`, text.slice(0, 200))
    }
    if (reply.error !== undefined) throw rebuild(reply.error)
    return reply.result as R
  }

  /**
   * Subscribes (`trace.subscribe` or `logs.subscribe`) on a WebSocket of its own; `onItems` gets each notification's
   * records, `onDropped` how many the node dropped because this client read too slowly.
   */
  async subscribe (method: 'trace.subscribe' | 'logs.subscribe', params: Record<string, unknown>, onItems: (items: unknown[]) => void, onDropped: (count: number) => void = () => {}): Promise<DevSubscription> {
    const ws = new WebSocket(this.wsUrl, { headers: { authorization: `Bearer ${this.token}` } })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve() })
      ws.once('unexpected-response', (_req, res) => {
        let text = ''
        res.on('data', (c: Buffer) => { text += c.toString() })
        res.on('end', () => {
          try {
            reject(rebuild((JSON.parse(text) as { error: RpcErrorObject }).error))
          } catch {
            reject(new DevRpcError(res.statusCode ?? 0, `WebSocket refused with HTTP ${res.statusCode ?? '?'}`))
          }
        })
      })
      ws.once('error', (err) => { reject(new DevNodeUnreachableError(this.wsUrl, { cause: err })) })
    })
    // Errors after the open end in a close, which `closed` reports; they must not go unhandled.
    ws.on('error', () => {})
    const id = ++this.nextId
    const kind = method === 'trace.subscribe' ? NOTIFICATIONS.trace : NOTIFICATIONS.logs
    let subscription = ''
    const closed = new Promise<void>((resolve) => { ws.once('close', () => { resolve() }) })
    const subscribed = new Promise<string>((resolve, reject) => {
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString()) as { id?: number, result?: unknown, error?: RpcErrorObject, method?: string, params?: Record<string, unknown> }
        if (msg.id === id) {
          // Set at once: notifications may arrive in the same chunk as this answer, before any await resumes.
          if (msg.error !== undefined) reject(rebuild(msg.error))
          else resolve(subscription = msg.result as string)
          return
        }
        if (msg.method === kind.method && msg.params?.subscription === subscription) onItems(msg.params[kind.field] as unknown[])
        else if (msg.method === DROPPED_NOTIFICATION && msg.params?.subscription === subscription) onDropped(msg.params.dropped as number)
      })
      ws.once('close', () => { reject(new DevNodeUnreachableError(this.wsUrl)) })
    })
    ws.send(encodeJson({ jsonrpc: '2.0', id, method, params }))
    try {
      subscription = await subscribed
    } catch (err) {
      ws.close()
      throw err
    }
    return {
      id: subscription,
      closed,
      close: async () => {
        ws.close()
        await closed
      }
    }
  }
}

function rebuild (error: RpcErrorObject): Error {
  const wire = wireOf(error)
  return wire === undefined ? new DevRpcError(error.code, error.message, error.data) : errorFromWire(wire)
}
