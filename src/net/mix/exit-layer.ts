import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { REPLY_STATUS } from '../../crypto/sphinx/index.ts'
import { combineSignals } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { MixMessageTooLargeError } from './errors.ts'
import type { MixConnectionManager } from './outbound.ts'
import { readAll, writeBytes } from './wire.ts'

/**
 * The Mix Exit Layer (mix.md 5.1, 8.6.4 step 5): hands a message to the destination's origin protocol over a
 * fresh client connection and, when the message brought SURBs, reads the answer to send back.
 *
 * Delivery convention (the spec leaves the framing to the origin protocol; decision): the exit opens a stream for
 * the message's codec, writes the message bytes exactly as the sender gave them, and closes its writable side. If
 * the message carried SURBs it then reads until the destination closes its side, and that is the reply. A protocol
 * that frames its own messages (a length prefix, say) puts the framing inside the bytes it sends. A destination
 * using this service's `handle()` follows the same convention on its side, so it answers both forwarded and local
 * deliveries.
 */

export interface DeliveryResult {
  status: number
  reply: Uint8Array
  /** Why a delivery failed, for the exit's report. */
  cause?: unknown
}

/**
 * Opens delivery streams to destinations. A burst of deliveries to a peer we have no connection with must not open
 * its streams all at once on the new connection: the receiving muxer resets every stream of a connection that gets
 * more than ten before it is fully set up (yamux's "early streams"). So the first delivery opens the connection and
 * its stream, and the others to that peer wait for it.
 */
export class DestinationStreams {
  private readonly connections: MixConnectionManager
  private readonly warming = new Map<string, Promise<void>>()

  constructor (connections: MixConnectionManager) {
    this.connections = connections
  }

  async open (peerId: PeerId, multiaddr: Multiaddr, protocol: string, options: AbortOptions): Promise<Stream> {
    const id = peerId.toString()
    for (;;) {
      const warming = this.warming.get(id)
      if (warming !== undefined) {
        await warming
        continue
      }
      const existing = this.connections.getConnections(peerId).find(c => c.status === 'open')
      if (existing !== undefined) return await existing.newStream(protocol, options)
      const first = (async (): Promise<Stream> => {
        const connection: Connection = await this.connections.openConnection(multiaddr.encapsulate(`/p2p/${id}`), options)
        return await connection.newStream(protocol, options)
      })()
      this.warming.set(id, first.then(() => {}, () => {}).then(() => { this.warming.delete(id) }))
      return await first
    }
  }
}

export interface DeliveryInit {
  streams: DestinationStreams
  timeoutMs: number
}

export async function deliverRemote (init: DeliveryInit, peerId: PeerId, multiaddr: Multiaddr, protocol: string, data: Uint8Array, maxReplyBytes: number | undefined, options: AbortOptions = {}): Promise<DeliveryResult> {
  const signal = combineSignals([options.signal], init.timeoutMs)
  let stream: Stream
  try {
    stream = await init.streams.open(peerId, multiaddr, protocol, { signal })
  } catch (err) {
    const name = (err as Error).name
    if (name === 'UnsupportedProtocolError' || name === 'ProtocolError') return { status: REPLY_STATUS.noHandler, reply: new Uint8Array(0), cause: err }
    if (signal.aborted) return { status: REPLY_STATUS.timeout, reply: new Uint8Array(0), cause: err }
    return { status: REPLY_STATUS.unreachable, reply: new Uint8Array(0), cause: err }
  }
  try {
    await writeBytes(stream, data, { signal })
    await stream.close({ signal })
    if (maxReplyBytes === undefined) return { status: REPLY_STATUS.ok, reply: new Uint8Array(0) }
    const reply = await readAll(stream, maxReplyBytes, { signal })
    return { status: REPLY_STATUS.ok, reply }
  } catch (err) {
    stream.abort(err as Error)
    if (err instanceof MixMessageTooLargeError) return { status: REPLY_STATUS.tooLarge, reply: new Uint8Array(0), cause: err }
    if (signal.aborted) return { status: REPLY_STATUS.timeout, reply: new Uint8Array(0), cause: err }
    return { status: REPLY_STATUS.unreachable, reply: new Uint8Array(0), cause: err }
  }
}

/** What a protocol handler registered with the service receives. */
export interface MixIncomingMessage {
  /** The origin protocol codec the message was sent for. */
  protocol: string
  data: Uint8Array
  /** Whether the sender attached SURBs: a returned answer goes back to it. */
  expectsReply: boolean
  /** How many bytes an answer may have (the room in the SURBs; unbounded for a forwarded delivery). */
  maxReplyBytes: number
}

/** Handles a message that came through the mixnet; what it returns (if anything) is the reply. */
export type MixHandler = (message: MixIncomingMessage, options: AbortOptions) => Uint8Array | undefined | void | Promise<Uint8Array | undefined | void>

/**
 * The destination side of the delivery convention for a `handle()` registration: read the whole message, run the
 * handler, write its answer, close.
 */
export async function serveDelivery (stream: Stream, protocol: string, handler: MixHandler, maxMessageBytes: number, timeoutMs: number): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const data = await readAll(stream, maxMessageBytes, { signal })
    const reply = await handler({ protocol, data, expectsReply: true, maxReplyBytes: maxMessageBytes }, { signal })
    if (reply instanceof Uint8Array && reply.length > 0) await writeBytes(stream, reply, { signal })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err as Error)
  }
}
