import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { combineSignals } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { streamChunks } from '../streams/index.ts'
import type { CID } from './cid.ts'
import {
  BLOCKEXC_PROTOCOL, STREAMS_PER_PEER, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_PENDING_REQUESTS_PER_PEER, MAX_SENDS_IN_FLIGHT,
  WANT_HAVE_TIMEOUT_MS
} from './constants.ts'
import { StorageBusyError, StorageRequestError, StorageWireError } from './errors.ts'
import {
  FRAME_BLOCKS, FRAME_CONTROL, FRAME_WANT_BLOCKS, FrameReader, WANT_HAVE, decodeBlocks, decodeControl, decodeWantBlocks,
  encodeBlocks, encodeControl, encodeWantBlocks, frame
} from './messages.ts'
import type { BlockPresence, ControlMessage, IndexRange, WantBlocksRequest, WantBlocksResponse, WantEntry } from './messages.ts'

/** The part of libp2p's components the exchange uses. */
export interface ExchangeComponents {
  registrar: {
    handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number, maxOutboundStreams?: number }) => Promise<void>
    unhandle: (protocol: string) => Promise<void>
  }
  connectionManager: {
    openConnection: (peer: PeerId | Multiaddr | Multiaddr[], options?: AbortOptions) => Promise<Connection>
  }
}

/** What the exchange asks of the node that mounts it. */
export interface ExchangeHandlers {
  /** Answers a peer's want list with presences (sent back on the same stream); none to stay silent. */
  onWantList: (peer: PeerId, entries: WantEntry[]) => BlockPresence[]
  onPresence: (peer: PeerId, presences: BlockPresence[]) => void
  /** The blocks (with proofs) this node has of a WantBlocks request; missing ones are left out. */
  serveBlocks: (peer: PeerId, request: WantBlocksRequest) => WantBlocksResponse['blocks']
}

interface Pending {
  resolve: (r: WantBlocksResponse) => void
  reject: (err: Error) => void
  lane: number
}

interface Lane {
  stream?: Stream
  opening?: Promise<Stream>
}

/**
 * One peer's outbound streams, opened on first use and reused, with the requests waiting for answers. Control
 * messages use lane 0; WantBlocks requests spread over the lanes, each answered on the stream it went out on.
 */
interface Channel {
  peer: PeerId
  lanes: Lane[]
  pending: Map<bigint, Pending>
  nextId: bigint
}

async function sendFrame (stream: Stream, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain(options)
}

/**
 * /storage/blockexc/1.0.0 over libp2p streams, as logos-storage-nim's BlockExcNetwork + NetworkPeer: long-lived
 * streams per peer and direction, each read by the same loop (control messages go to the handlers, WantBlocks
 * requests are served on the stream they came on, responses complete the request with their id). Sends in flight
 * are bounded (MAX_SENDS_IN_FLIGHT), and so are the requests waiting per peer.
 */
export class BlockExchange {
  private readonly components: ExchangeComponents
  private readonly handlers: ExchangeHandlers
  private readonly lanes: number
  private readonly log: Logger
  private readonly channels = new Map<string, Channel>()
  private readonly streams = new Set<Stream>()
  private sendsInFlight = 0
  private started = false

  constructor (components: ExchangeComponents, handlers: ExchangeHandlers, log: Logger, lanes = STREAMS_PER_PEER) {
    this.components = components
    this.lanes = Math.max(1, lanes)
    this.handlers = handlers
    this.log = log
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.components.registrar.handle(BLOCKEXC_PROTOCOL, (stream, connection) => { this.readLoop(stream, connection.remotePeer) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.components.registrar.unhandle(BLOCKEXC_PROTOCOL).catch(() => {})
    for (const s of this.streams) s.abort(new Error('storage service stopping'))
    this.streams.clear()
    for (const ch of this.channels.values()) this.failPending(ch, new StorageRequestError('storage service stopping'))
    this.channels.clear()
  }

  /** Forgets a peer's stream (its connection closed): its waiting requests fail at once. */
  peerGone (peer: PeerId): void {
    const ch = this.channels.get(peer.toString())
    if (ch === undefined) return
    this.channels.delete(peer.toString())
    for (const lane of ch.lanes) lane.stream?.abort(new Error('peer gone'))
    this.failPending(ch, new StorageRequestError(`peer ${peer.toString()} disconnected`))
  }

  private failPending (ch: Channel, err: Error, lane?: number): void {
    for (const [id, p] of ch.pending) {
      if (lane !== undefined && p.lane !== lane) continue
      p.reject(err)
      ch.pending.delete(id)
    }
  }

  private channel (peer: PeerId): Channel {
    const id = peer.toString()
    let ch = this.channels.get(id)
    if (ch === undefined) {
      ch = { peer, lanes: Array.from({ length: this.lanes }, () => ({})), pending: new Map(), nextId: 1n }
      this.channels.set(id, ch)
    }
    return ch
  }

  private async streamFor (ch: Channel, laneIndex: number, options: AbortOptions & { addrs?: Multiaddr[] }): Promise<Stream> {
    const lane = ch.lanes[laneIndex] as Lane
    if (lane.stream !== undefined && lane.stream.status === 'open' && lane.stream.writeStatus === 'writable') return lane.stream
    lane.stream = undefined
    if (lane.opening === undefined) {
      lane.opening = (async () => {
        const target = options.addrs !== undefined && options.addrs.length > 0 ? options.addrs : ch.peer
        const conn = await this.components.connectionManager.openConnection(target, { signal: options.signal })
        const stream = await conn.newStream(BLOCKEXC_PROTOCOL, { signal: options.signal })
        lane.stream = stream
        this.readLoop(stream, conn.remotePeer, ch, laneIndex)
        return stream
      })().finally(() => { lane.opening = undefined })
    }
    return await lane.opening
  }

  private async send (peer: PeerId, bytes: Uint8Array, options: AbortOptions & { addrs?: Multiaddr[], lane?: number } = {}): Promise<Channel> {
    if (!this.started) throw new StorageRequestError('block exchange not started')
    if (this.sendsInFlight >= MAX_SENDS_IN_FLIGHT) throw new StorageBusyError('block exchange sends in flight', MAX_SENDS_IN_FLIGHT)
    this.sendsInFlight++
    const ch = this.channel(peer)
    try {
      const stream = await this.streamFor(ch, options.lane ?? 0, options)
      await sendFrame(stream, bytes, options)
      return ch
    } catch (err) {
      if (err instanceof StorageBusyError) throw err
      throw new StorageRequestError(`cannot send to ${peer.toString()}: ${(err as Error).message}`, { cause: err })
    } finally {
      this.sendsInFlight--
    }
  }

  /** Opens the connection (and stream) to a peer ahead of use. */
  async connect (peer: PeerId, addrs: Multiaddr[], options: AbortOptions = {}): Promise<void> {
    try {
      try {
        await this.streamFor(this.channel(peer), 0, { ...options, addrs })
      } catch (err) {
        // Announced addresses can be stale (the provider restarted elsewhere): let libp2p resolve the peer id.
        if (addrs.length === 0 || options.signal?.aborted === true) throw err
        await this.streamFor(this.channel(peer), 0, options)
      }
    } catch (err) {
      throw new StorageRequestError(`cannot reach ${peer.toString()}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Asks a peer which blocks of [start, start + count) of a tree it has (WantHave with rangeCount, engine.nim `broadcastWantHave`). */
  async wantHave (peer: PeerId, treeCid: CID, start: number, count: number, downloadId: bigint, options: AbortOptions = {}): Promise<void> {
    const msg: ControlMessage = {
      wantList: { entries: [{ address: { treeCid, index: start }, priority: 0, cancel: false, wantType: WANT_HAVE, sendDontHave: false, rangeCount: count, downloadId }], full: false },
      presences: []
    }
    await this.send(peer, frame(FRAME_CONTROL, encodeControl(msg)), { signal: combineSignals([options.signal], WANT_HAVE_TIMEOUT_MS) })
  }

  /** Requests ranges of a tree's blocks; resolves with the peer's (possibly partial) answer. */
  async wantBlocks (peer: PeerId, treeCid: CID, ranges: IndexRange[], options: AbortOptions & { timeoutMs: number }): Promise<WantBlocksResponse> {
    const ch = this.channel(peer)
    if (ch.pending.size >= MAX_PENDING_REQUESTS_PER_PEER) throw new StorageBusyError(`requests waiting on ${peer.toString()}`, MAX_PENDING_REQUESTS_PER_PEER)
    const requestId = ch.nextId++
    const lane = Number(requestId % BigInt(ch.lanes.length))
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    // The waiter is in place before the request leaves, so a fast answer always finds it.
    const answer = new Promise<WantBlocksResponse>((resolve, reject) => {
      ch.pending.set(requestId, { resolve, reject, lane })
      timer = setTimeout(() => { reject(new StorageRequestError(`no answer from ${peer.toString()} within ${options.timeoutMs} ms`)) }, options.timeoutMs)
      onAbort = () => { reject(new StorageRequestError('request aborted', { cause: options.signal?.reason })) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
    answer.catch(() => {})
    try {
      await this.send(peer, frame(FRAME_WANT_BLOCKS, encodeWantBlocks({ requestId, treeCid, ranges })), { ...options, lane })
      return await answer
    } finally {
      ch.pending.delete(requestId)
      clearTimeout(timer)
      if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort)
    }
  }

  private readLoop (stream: Stream, peer: PeerId, owner?: Channel, laneIndex = 0): void {
    this.streams.add(stream)
    const reader = new FrameReader()
    const run = async (): Promise<void> => {
      for await (const chunk of streamChunks(stream)) {
        for (const f of reader.push(chunk)) await this.onFrame(stream, peer, f.type, f.payload)
      }
    }
    run().catch((err: Error) => {
      this.log('block exchange stream with %p ended: %s', peer, err.message)
      stream.abort(err instanceof StorageWireError ? err : new StorageWireError(err.message))
    }).finally(() => {
      this.streams.delete(stream)
      const lane = owner?.lanes[laneIndex]
      if (owner !== undefined && lane?.stream === stream) {
        lane.stream = undefined
        this.failPending(owner, new StorageRequestError(`stream to ${peer.toString()} closed`), laneIndex)
      }
    })
  }

  private async onFrame (stream: Stream, peer: PeerId, type: number, payload: Uint8Array): Promise<void> {
    if (type === FRAME_CONTROL) {
      const msg = decodeControl(payload)
      if (msg.presences.length > 0) this.handlers.onPresence(peer, msg.presences)
      if (msg.wantList.entries.length > 0) {
        const presences = this.handlers.onWantList(peer, msg.wantList.entries)
        if (presences.length > 0) await sendFrame(stream, frame(FRAME_CONTROL, encodeControl({ wantList: { entries: [], full: false }, presences })))
      }
    } else if (type === FRAME_WANT_BLOCKS) {
      const req = decodeWantBlocks(payload)
      const blocks = this.handlers.serveBlocks(peer, req)
      await sendFrame(stream, frame(FRAME_BLOCKS, encodeBlocks({ requestId: req.requestId, treeCid: req.treeCid, blocks })))
    } else if (type === FRAME_BLOCKS) {
      const res = decodeBlocks(payload)
      const ch = this.channels.get(peer.toString())
      const waiting = ch?.pending.get(res.requestId)
      if (waiting === undefined) {
        this.log('answer to unknown request %s from %p', res.requestId, peer)
        return
      }
      waiting.resolve(res)
    }
  }
}
