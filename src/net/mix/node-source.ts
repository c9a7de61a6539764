import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isCanonicalPoint, isSmallOrderPoint } from '../../crypto/sphinx/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { MAX_KNOWN_NODES, MIX_PROTOCOL, NODE_FAST_REFRESH_MS, NODE_LOOKUP_LIMIT, NODE_REFRESH_MS, NODE_TTL_MS, PATH_LENGTH } from './constants.ts'

/** A mix node as path selection needs it (mix.md 6.1): who, where, and its X25519 key. */
export interface MixNodeInfo {
  peerId: PeerId
  multiaddrs: Multiaddr[]
  /** 32-byte X25519 public key for Sphinx. */
  mixPublicKey: Uint8Array
}

/**
 * Where the service learns of mix nodes, and tells others of itself. The default source uses capability discovery;
 * tests and closed deployments can hand in a static list.
 */
export interface MixNodeSource {
  /** The mix nodes known now (at most one entry per peer: the newest key). */
  getNodes: () => MixNodeInfo[]
  /** Announces this node as a mix node with its current public key; called at start and after each key rotation. */
  advertise?: (mixPublicKey: Uint8Array, options?: AbortOptions) => Promise<void>
  /** Withdraws the announcement (at stop). */
  stopAdvertising?: () => void
  /** Looks for more nodes now. */
  refresh?: (options?: AbortOptions) => Promise<void>
  start?: () => void | Promise<void>
  stop?: () => void | Promise<void>
}

/** A record's service data is the mix key: exactly 32 bytes, a canonical point of large order. */
export function parseMixKey (data: Uint8Array): Uint8Array | undefined {
  if (data.length !== 32) return undefined
  if (!isCanonicalPoint(data) || isSmallOrderPoint(data)) return undefined
  return Uint8Array.from(data)
}

/** A fixed list of mix nodes, editable at run time. */
export class StaticMixNodeSource implements MixNodeSource {
  private readonly nodes = new Map<string, MixNodeInfo>()

  constructor (nodes: MixNodeInfo[] = []) {
    for (const n of nodes) this.add(n)
  }

  add (node: MixNodeInfo): void {
    this.nodes.set(node.peerId.toString(), node)
  }

  remove (peerId: PeerId): void {
    this.nodes.delete(peerId.toString())
  }

  getNodes (): MixNodeInfo[] {
    return [...this.nodes.values()]
  }
}

export function staticMixNodeSource (nodes: MixNodeInfo[] = []): StaticMixNodeSource {
  return new StaticMixNodeSource(nodes)
}

/** The part of the capability discovery service (src/net/discovery) this source uses. */
export interface MixDiscovery {
  advertise: (protocol: string, options?: { data?: Uint8Array, signal?: AbortSignal }) => Promise<void>
  stopAdvertising: (protocol: string) => void
  findProviders: (protocol: string, options?: { limit?: number, signal?: AbortSignal }) => Promise<Array<{ peerId: PeerId, multiaddrs: Multiaddr[], data: Uint8Array, seq: bigint }>>
  addEventListener?: (type: 'provider', listener: (evt: CustomEvent<{ peerId: PeerId, multiaddrs: Multiaddr[], serviceId: string, data: Uint8Array, seq: bigint }>) => void) => void
  removeEventListener?: (type: 'provider', listener: (evt: CustomEvent<{ peerId: PeerId, multiaddrs: Multiaddr[], serviceId: string, data: Uint8Array, seq: bigint }>) => void) => void
  /** Keeps looking the capability up in the background, emitting 'provider' for new records (when available). */
  startDiscovering?: (protocol: string) => void
  stopDiscovering?: (protocol: string) => void
}

export interface DiscoveryMixNodeSourceInit {
  /** The capability to look up and advertise (default /mix/1.0.0). */
  protocol?: string
  /** How often to look again (default 60 s). */
  refreshIntervalMs?: number
  /** How often to look while fewer than `minNodes` are known (default 2 s). */
  fastRefreshIntervalMs?: number
  /** Below this many known nodes the fast interval applies (default: enough for a path and its return path). */
  minNodes?: number
  /** Providers asked for per lookup. */
  lookupLimit?: number
  /** Nodes kept (newest first). */
  maxNodes?: number
  /** Forget a node not seen again for this long. */
  nodeTtlMs?: number
  /** Our own peer id, never listed. */
  self?: PeerId
  log?: (msg: string, ...args: unknown[]) => void
}

interface Known { info: MixNodeInfo, seq: bigint, seenAt: number }

/**
 * Mix nodes from capability discovery: `/mix/1.0.0` providers whose record's service data is their 32-byte X25519
 * mix key (mix.md 6.1, LOGOS-MIXNET "Discovery"). A newer record (higher seq) replaces an older one, which is how a
 * key rotation reaches senders. Records whose data is not a valid key are ignored.
 */
export class DiscoveryMixNodeSource implements MixNodeSource {
  private readonly discovery: MixDiscovery
  private readonly protocol: string
  private readonly refreshIntervalMs: number
  private readonly fastRefreshIntervalMs: number
  private readonly minNodes: number
  private readonly lookupLimit: number
  private readonly maxNodes: number
  private readonly nodeTtlMs: number
  private readonly self?: PeerId
  private readonly log: (msg: string, ...args: unknown[]) => void
  private readonly known = new Map<string, Known>()
  private timer?: ReturnType<typeof setTimeout>
  private controller?: AbortController
  private readonly onProvider: (evt: CustomEvent<{ peerId: PeerId, multiaddrs: Multiaddr[], serviceId: string, data: Uint8Array, seq: bigint }>) => void

  constructor (discovery: MixDiscovery, init: DiscoveryMixNodeSourceInit = {}) {
    this.discovery = discovery
    this.protocol = init.protocol ?? MIX_PROTOCOL
    this.refreshIntervalMs = init.refreshIntervalMs ?? NODE_REFRESH_MS
    this.fastRefreshIntervalMs = init.fastRefreshIntervalMs ?? NODE_FAST_REFRESH_MS
    this.minNodes = init.minNodes ?? 2 * PATH_LENGTH
    this.lookupLimit = init.lookupLimit ?? NODE_LOOKUP_LIMIT
    this.maxNodes = init.maxNodes ?? MAX_KNOWN_NODES
    this.nodeTtlMs = init.nodeTtlMs ?? NODE_TTL_MS
    this.self = init.self
    this.log = init.log ?? (() => {})
    this.onProvider = (evt) => {
      if (evt.detail.serviceId === this.protocol) this.accept(evt.detail)
    }
  }

  start (): void {
    this.controller = new AbortController()
    this.discovery.addEventListener?.('provider', this.onProvider)
    this.discovery.startDiscovering?.(this.protocol)
    const loop = (): void => {
      this.refresh({ signal: this.controller?.signal }).catch(err => { this.log('mix node lookup failed: %s', (err as Error).message) })
        .finally(() => {
          if (this.controller?.signal.aborted !== false) return
          // Look often until there are enough nodes for paths, then settle down.
          this.timer = setTimeout(loop, this.known.size < this.minNodes ? this.fastRefreshIntervalMs : this.refreshIntervalMs)
        })
    }
    loop()
  }

  stop (): void {
    this.controller?.abort()
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.discovery.stopDiscovering?.(this.protocol)
    this.discovery.removeEventListener?.('provider', this.onProvider)
  }

  async refresh (options: AbortOptions = {}): Promise<void> {
    const providers = await this.discovery.findProviders(this.protocol, { limit: this.lookupLimit, signal: options.signal })
    for (const p of providers) this.accept(p)
    this.expire()
  }

  async advertise (mixPublicKey: Uint8Array, options: AbortOptions = {}): Promise<void> {
    await this.discovery.advertise(this.protocol, { data: mixPublicKey, signal: options.signal })
  }

  stopAdvertising (): void {
    this.discovery.stopAdvertising(this.protocol)
  }

  getNodes (): MixNodeInfo[] {
    this.expire()
    return [...this.known.values()].map(k => k.info)
  }

  private accept (p: { peerId: PeerId, multiaddrs: Multiaddr[], data: Uint8Array, seq: bigint }): void {
    if (this.self?.equals(p.peerId) === true) return
    const key = parseMixKey(p.data)
    if (key === undefined) {
      this.log('ignoring %s: its record carries no valid mix key', p.peerId.toString())
      return
    }
    const id = p.peerId.toString()
    const old = this.known.get(id)
    if (old !== undefined && old.seq > p.seq) return
    this.known.delete(id) // re-insert: the map's order is oldest seen first
    this.known.set(id, { info: { peerId: peerIdFromString(id), multiaddrs: p.multiaddrs, mixPublicKey: key }, seq: p.seq, seenAt: Date.now() })
    while (this.known.size > this.maxNodes) {
      const oldest = this.known.keys().next().value
      if (oldest === undefined) break
      this.known.delete(oldest)
    }
  }

  private expire (): void {
    const cutoff = Date.now() - this.nodeTtlMs
    for (const [id, k] of this.known) if (k.seenAt < cutoff) this.known.delete(id)
  }
}

export function discoveryMixNodeSource (discovery: MixDiscovery, init: DiscoveryMixNodeSourceInit = {}): DiscoveryMixNodeSource {
  return new DiscoveryMixNodeSource(discovery, init)
}
