import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { combineSignals } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { MixDialError, MixQueueFullError } from './errors.ts'
import { encodeFrame } from './wire.ts'

/** The part of libp2p's connection manager the service uses. */
export interface MixConnectionManager {
  openConnection: (peer: PeerId | Multiaddr | Multiaddr[], options?: AbortOptions) => Promise<Connection>
  getConnections: (peerId?: PeerId) => Connection[]
}

export interface OutboundInit {
  protocol: string
  maxPeers: number
  maxQueuedPerPeer: number
  idleMs: number
  dialTimeoutMs: number
}

interface PeerStream {
  stream?: Stream
  opening?: Promise<Stream>
  /** Packets handed to send() and not yet accepted by the stream. */
  queued: number
  lastUsed: number
}

/**
 * One reused /mix/1.0.0 stream per next hop (mix.md 5.5: reuse is allowed, the packets on it are unlinkable Sphinx
 * packets), opened on first use, closed after `idleMs`, at most `maxPeers` at once (the least recently used goes).
 * A write that fails retries once on a fresh stream; then the packet is dropped with a typed error (mix.md 8.6.3
 * step 6: no error goes back).
 */
export class OutboundStreams {
  private readonly connections: MixConnectionManager
  private readonly init: OutboundInit
  private readonly peers = new Map<string, PeerStream>()
  private sweeper?: ReturnType<typeof setInterval>

  constructor (connections: MixConnectionManager, init: OutboundInit) {
    this.connections = connections
    this.init = init
  }

  start (): void {
    this.sweeper = setInterval(() => { this.closeIdle() }, Math.max(1000, this.init.idleMs / 2))
    this.sweeper.unref?.()
  }

  stop (): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    for (const [id, p] of this.peers) {
      this.peers.delete(id)
      p.stream?.abort(new Error('mix service stopping'))
    }
  }

  get openStreams (): number {
    return this.peers.size
  }

  /** Sends one packet (framed here) to `peerId`, dialling `multiaddr` if there is no connection yet. */
  async send (peerId: PeerId, multiaddr: Multiaddr, packet: Uint8Array, options: AbortOptions = {}): Promise<void> {
    const frame = encodeFrame(packet)
    const id = peerId.toString()
    let entry = this.peers.get(id)
    if (entry === undefined) {
      this.evictIfFull()
      entry = { queued: 0, lastUsed: Date.now() }
      this.peers.set(id, entry)
    }
    if (entry.queued >= this.init.maxQueuedPerPeer) throw new MixQueueFullError(`queue to ${id}`, this.init.maxQueuedPerPeer)
    entry.queued++
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const stream = await this.streamFor(peerId, multiaddr, entry, options)
          entry.lastUsed = Date.now()
          if (!stream.send(frame)) await stream.onDrain(options)
          return
        } catch (err) {
          this.discard(id, entry)
          if (attempt >= 1 || options.signal?.aborted === true) throw err instanceof MixDialError ? err : new MixDialError(id, { cause: err })
        }
      }
    } finally {
      entry.queued--
    }
  }

  private async streamFor (peerId: PeerId, multiaddr: Multiaddr, entry: PeerStream, options: AbortOptions): Promise<Stream> {
    if (entry.stream !== undefined && entry.stream.status === 'open' && entry.stream.writeStatus === 'writable') return entry.stream
    entry.stream = undefined
    if (entry.opening === undefined) {
      entry.opening = this.open(peerId, multiaddr, options).finally(() => { entry.opening = undefined })
    }
    const stream = await entry.opening
    entry.stream = stream
    return stream
  }

  private async open (peerId: PeerId, multiaddr: Multiaddr, options: AbortOptions): Promise<Stream> {
    const signal = combineSignals([options.signal], this.init.dialTimeoutMs)
    try {
      const existing = this.connections.getConnections(peerId).find(c => c.status === 'open')
      const connection = existing ?? await this.connections.openConnection(multiaddr.encapsulate(`/p2p/${peerId.toString()}`), { signal })
      const stream = await connection.newStream(this.init.protocol, { signal })
      // Nothing comes back on a mix stream; drain anything that does so the muxer's buffer stays empty.
      stream.addEventListener('message', () => {})
      return stream
    } catch (err) {
      throw new MixDialError(peerId.toString(), { cause: err })
    }
  }

  private discard (id: string, entry: PeerStream): void {
    entry.stream?.abort(new Error('mix stream failed'))
    entry.stream = undefined
    if (entry.queued <= 1 && this.peers.get(id) === entry) this.peers.delete(id)
  }

  private evictIfFull (): void {
    if (this.peers.size < this.init.maxPeers) return
    let oldestId: string | undefined
    let oldest = Number.POSITIVE_INFINITY
    for (const [id, p] of this.peers) {
      if (p.queued === 0 && p.lastUsed < oldest) { oldest = p.lastUsed; oldestId = id }
    }
    if (oldestId === undefined) throw new MixQueueFullError('outbound streams', this.init.maxPeers)
    const p = this.peers.get(oldestId)
    this.peers.delete(oldestId)
    p?.stream?.close().catch(() => {})
  }

  private closeIdle (): void {
    const cutoff = Date.now() - this.init.idleMs
    for (const [id, p] of this.peers) {
      if (p.queued === 0 && p.lastUsed < cutoff) {
        this.peers.delete(id)
        p.stream?.close().catch(() => {})
      }
    }
  }
}
