import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { MAX_FRAME_BYTES, sendRequest, serveRequest } from '../../net/delivery/index.ts'
import type { StreamOpener } from '../../net/delivery/index.ts'
import type { MethodTable, ModuleContext } from '../../sdk/index.ts'
import { NetworkParamsError } from './errors.ts'
import type { NetworkLibp2p } from './network-node.ts'
import { PendingReplies } from './pending-replies.ts'

/**
 * Request/response protocols for other modules: one length-prefixed request and one length-prefixed response per
 * stream (the framing of Waku's store, lightpush, filter and metadata protocols).
 *
 * - `handleProtocol({ protocol, maxRequestBytes? })`: serve a protocol; each request arrives as a `protocol:request`
 *   event `{ id, protocol, from, data }`, answered by `respond({ id, data })` within 10 s (no answer closes the
 *   stream without one);
 * - `unhandleProtocol({ protocol })`;
 * - `request({ peerId | multiaddr, protocol, data, timeoutMs?, maxResponseBytes? })` -> `{ data, peerId }`.
 */

export const REQUEST_EVENTS = {
  'protocol:request': { description: '{ id, protocol, from, data }: a request on a protocol served with handleProtocol; answer with respond({ id, data })' }
}

/** How long a served request waits for its respond call. */
export const RESPOND_WINDOW_MS = 10_000

/** Requests waiting for a respond call at once; more are closed without an answer. */
export const MAX_PENDING_REQUESTS = 256

/** Protocols a node serves this way at most (each is a registrar handler). */
export const MAX_HANDLED_PROTOCOLS = 64

function text (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new NetworkParamsError(`"${name}" must be a non-empty string`)
  return value
}

function positive (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new NetworkParamsError(`"${name}" must be a positive number`)
  return value
}

function target (p: { peerId?: unknown, multiaddr?: unknown }): PeerId | Multiaddr {
  try {
    if (typeof p.multiaddr === 'string') return multiaddr(p.multiaddr)
    if (typeof p.peerId === 'string') return peerIdFromString(p.peerId)
  } catch (err) {
    throw new NetworkParamsError(`bad destination: ${(err as Error).message}`, { cause: err })
  }
  throw new NetworkParamsError('give the destination as "peerId" or "multiaddr"')
}

export function requestMethods (ctx: ModuleContext, node: NetworkLibp2p): { methods: MethodTable, stop: () => Promise<void> } {
  const pending = new PendingReplies<Uint8Array>({ max: MAX_PENDING_REQUESTS, windowMs: RESPOND_WINDOW_MS })
  const handled = new Set<string>()
  const opener: StreamOpener = { openStream: async (peer, protocol, options) => await node.dialProtocol(peer, protocol, options) }

  const methods: MethodTable = {
    handleProtocol: {
      description: 'Serves { protocol, maxRequestBytes? }: requests arrive as protocol:request events, answered with respond({ id, data })',
      handler: async (p: { protocol: string, maxRequestBytes?: number }) => {
        const protocol = text(p?.protocol, 'protocol')
        const maxRequestBytes = positive(p.maxRequestBytes, 'maxRequestBytes') ?? MAX_FRAME_BYTES
        if (handled.has(protocol)) return { protocol }
        if (handled.size >= MAX_HANDLED_PROTOCOLS) throw new NetworkParamsError(`at most ${MAX_HANDLED_PROTOCOLS} protocols can be served this way`)
        await node.handle(protocol, (stream, connection) => {
          void serveRequest(stream, async (data) => {
            if (pending.full) return undefined
            const { id, answer } = pending.open()
            // A plain copy: the frame may be a view into a pooled Buffer, which must not travel to another module.
            ctx.emit('protocol:request', { id, protocol, from: connection.remotePeer.toString(), data: Uint8Array.from(data) })
            return await answer
          }, { maxRequestBytes, timeoutMs: RESPOND_WINDOW_MS + 2_000 })
        })
        handled.add(protocol)
        return { protocol }
      }
    },
    unhandleProtocol: {
      description: 'Stops serving { protocol }',
      handler: async (p: { protocol: string }) => {
        const protocol = text(p?.protocol, 'protocol')
        if (handled.delete(protocol)) await node.unhandle(protocol)
        return { protocol }
      }
    },
    respond: {
      description: 'Answers the protocol:request { id } with { data }; returns { found }',
      handler: (p: { id: string, data: Uint8Array }) => {
        const id = text(p?.id, 'id')
        if (!(p.data instanceof Uint8Array)) throw new NetworkParamsError('"data" must be a Uint8Array')
        return { found: pending.answer(id, p.data) }
      }
    },
    request: {
      description: 'Sends { peerId | multiaddr, protocol, data, timeoutMs?, maxResponseBytes? } and resolves to { data }, the single response',
      handler: async (p: { peerId?: string, multiaddr?: string, protocol: string, data: Uint8Array, timeoutMs?: number, maxResponseBytes?: number }, call) => {
        const protocol = text(p?.protocol, 'protocol')
        if (!(p.data instanceof Uint8Array)) throw new NetworkParamsError('"data" must be a Uint8Array')
        const data = await sendRequest(opener, target(p), protocol, p.data, {
          signal: call.signal,
          timeoutMs: positive(p.timeoutMs, 'timeoutMs'),
          maxResponseBytes: positive(p.maxResponseBytes, 'maxResponseBytes')
        })
        return { data: Uint8Array.from(data) }
      }
    }
  }

  return {
    methods,
    stop: async () => {
      pending.clear()
      for (const protocol of handled) await node.unhandle(protocol).catch(() => {})
      handled.clear()
    }
  }
}
