import { randomBytes } from 'node:crypto'
import { TypedEventEmitter } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream, TypedEventTarget } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { CODE_IP4, CODE_P2P, CODE_QUIC_V1, CODE_TCP, CODE_UDP, multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ADDRESS_LENGTH, MESSAGE_LENGTH, PACKET_LENGTH, REPLY_DATA_CAPACITY, REPLY_STATUS, SphinxMessageTooLargeError,
  buildHeader, buildPacket, createSurb, decodeAddress, decodeForwardMessage, decodeReplyMessage, decodeSurb,
  encodeAddress, encodeForwardMessage, encodeReplyMessage, encodeSurb, encryptPayload, forwardDataCapacity,
  importPoint, isZeroAddress, processPacket, recoverReply, useSurb
} from '../../crypto/sphinx/index.ts'
import type { PathHop, Surb } from '../../crypto/sphinx/index.ts'
import { AbortedError, LogosError, TokenBuckets, UnexpectedError, combineSignals, raceSignal } from '../../common/index.ts'
import type { AbortOptions, TokenRate } from '../../common/index.ts'
import * as C from './constants.ts'
import { CoverScheduler, coverRatePerSecond } from './cover-traffic.ts'
import type { CoverStrategy } from './cover-traffic.ts'
import {
  MixDeliveryFailedError, MixDuplicateHandlerError, MixFrameError, MixMessageTooLargeError, MixNotEnoughNodesError,
  MixNotStartedError, MixQueueFullError, MixReplyTimeoutError, MixSlotsExhaustedError, MixSpamProofError,
  MixUnknownSurbError, MixUnroutableDestinationError, MixDialError, MixFragmentError, MixPeerRateLimitedError,
  MixPrivateDestinationError
} from './errors.ts'
import { dialedIPv4, isPublicIPv4 } from './destinations.ts'
import { DestinationStreams, deliverRemote, serveDelivery } from './exit-layer.ts'
import type { MixHandler } from './exit-layer.ts'
import { Reassembler, planFragments } from './fragmentation.ts'
import { KeyManager } from './key-manager.ts'
import { DiscoveryMixNodeSource } from './node-source.ts'
import type { MixDiscovery, MixNodeInfo, MixNodeSource } from './node-source.ts'
import { OutboundStreams } from './outbound.ts'
import type { MixConnectionManager } from './outbound.ts'
import { exponentialDelay, sample } from './random.ts'
import { SlotPool } from './slot-pool.ts'
import type { QueuedCover } from './slot-pool.ts'
import { appendProof, splitProof } from './spam-protection.ts'
import type { MixSpamProtection } from './spam-protection.ts'
import { SurbStore } from './surb-store.ts'
import { FrameDecoder } from './wire.ts'
import { streamChunks } from '../streams/index.ts'

/** The libp2p components the service needs (a subset of js-libp2p's, so tests can hand in just these). */
export interface MixComponents {
  peerId: PeerId
  registrar: {
    handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number, maxOutboundStreams?: number, runOnLimitedConnection?: boolean }) => Promise<void>
    unhandle: (protocol: string) => Promise<void>
  }
  connectionManager: MixConnectionManager
  addressManager: { getAddresses: () => Multiaddr[] }
  peerStore?: { get: (peerId: PeerId) => Promise<{ addresses: Array<{ multiaddr: Multiaddr }> }> }
  logger?: ComponentLogger
  /** libp2p's event bus: 'self:peer:update' tells of new listen addresses. */
  events?: { addEventListener: (type: 'self:peer:update', listener: () => void) => void, removeEventListener: (type: 'self:peer:update', listener: () => void) => void }
}

/** Options of the service; every default is in constants.ts with its reason. */
export interface MixnetInit {
  /** The protocol id (default /mix/1.0.0). */
  protocol?: string
  /** Hops per path, the exit included (default 3, LOGOS-MIXNET's L). */
  pathLength?: number
  /** Mean delay written into the header for each intermediate hop (ms). */
  meanDelayMs?: number
  /** Mean of the delay before a locally originated packet leaves (ms). */
  senderDelayMs?: number
  /** Mean of the delay the exit holds a message before delivering it (ms; 0: at once). */
  exitDelayMs?: number
  /**
   * Mixing: hold each packet for its sampled delay (default true). False forwards at once whatever the header says:
   * for benchmarks and tests only, since it is no mixing at all.
   */
  mixing?: boolean
  /** A floor under every sampled delay (useful with slow spam proofs, so proving time does not show). */
  minDelayMs?: number
  /** The X25519 mix key (32 bytes); generated when absent. */
  mixPrivateKey?: Uint8Array
  /** Rotate the mix key this often (0: never, except when its replay table reaches the rotation threshold). */
  keyRotationIntervalMs?: number
  keyGraceMs?: number
  /** Replay tags kept per key, at most (default 1 M); the key rotates at 80 % of it (`replayRotateFraction`). */
  replayCacheSize?: number
  replayRotateFraction?: number
  /**
   * Let next hops, exit destinations and SURB first hops be loopback, private or reserved addresses (default false:
   * an exit that dials them is an open proxy and a port scanner). A devnet on 127.0.0.1 needs it on.
   */
  allowPrivateDestinations?: boolean
  /** Packets one peer may send per second and in a burst, counted before any work (default 240/s, 2400). */
  inboundPeerRate?: TokenRate
  /** Where mix nodes come from. Default: capability discovery (`components.discovery`), else nothing. */
  nodeSource?: MixNodeSource | ((components: MixComponents) => MixNodeSource)
  /** Per-hop DoS protection (mix-dos-protection.md 4.2); none by default. */
  spamProtection?: MixSpamProtection
  /** Cover traffic: strategy (default 'constant') and rate fraction f (default 0.7). */
  cover?: { strategy?: CoverStrategy, rateFraction?: number }
  /** The slot budget R per epoch of P ms (taken from the spam protection when it states them). */
  slotsPerEpoch?: number
  epochMs?: number
  /** The address other nodes reach this one at, for SURBs and cover loops (default: the first IPv4 TCP/QUIC address). */
  announceAddress?: Multiaddr | string
  maxMessageBytes?: number
  requestTimeoutMs?: number
  surbTtlMs?: number
  maxSurbsStored?: number
  maxPendingRequests?: number
  maxReassemblies?: number
  maxReassemblyBytes?: number
  reassemblyTimeoutMs?: number
  deliveryTimeoutMs?: number
  maxConcurrentDeliveries?: number
  maxHeldDeliveries?: number
  maxDelayedPackets?: number
  maxConcurrentVerifications?: number
  maxQueuedSends?: number
  maxQueuedPerPeer?: number
  maxOutboundPeers?: number
  maxInboundStreams?: number
}

/** Who a message is for: a peer id (its addresses come from the mix node source or the peer store) or a multiaddr ending in /p2p/<id>. */
export type MixDestination = PeerId | Multiaddr | { peerId: PeerId, multiaddrs: Multiaddr[] }

export interface MixSendOptions extends AbortOptions {
  /**
   * Make the destination itself the exit (mix.md 9.3): it must be a known mix node; the message is then decrypted
   * only inside it. Default false: a random exit forwards to the destination (LOGOS-MIXNET's forward delivery).
   */
  exitIsDestination?: boolean
}

export interface MixRequestOptions extends MixSendOptions {
  /** SURBs to attach (default 1, at most 16); each carries up to 3961 bytes of reply. */
  surbs?: number
  /** How long to wait for the reply (default 30 s). */
  timeoutMs?: number
}

/**
 * A message for a reserved codec this node handles itself as the exit (mix.md 9: internal protocols, like cover
 * traffic; mix-hidden-service.md 6.5, `/mix/hiddenservices/1.0.0`). Always one packet, so `exitSecret` covers it all.
 */
export interface MixInternalMessage {
  codec: string
  data: Uint8Array
  /** The SURBs the sender attached, each 734 bytes as on the wire (usable with `sendViaSurb`). */
  surbs: Uint8Array[]
  /** s, this exit's Sphinx shared secret with the sender (mix.md 8.6.1 step 1). */
  exitSecret: Uint8Array
}

/** Runs at the exit for a reserved codec; a thrown error is counted as a rejection of the packet. */
export type MixInternalHandler = (message: MixInternalMessage) => void | Promise<void>

export interface MixExitSendOptions extends AbortOptions {
  /** SURBs to attach (each 734 bytes; at most 5 fit in one packet next to a short codec). */
  surbs?: Uint8Array[]
}

export interface MixSurbOptions {
  /** SURBs of one group share a listener and are dropped together (`dropSurbs`). */
  group: string
  /**
   * Gets what came back through one of the group's SURBs: m as the replier wrote it (3968 bytes) and the SURB's
   * reply key k~. Errors it throws are counted as rejections of the packet.
   */
  onReply: (message: Uint8Array, replyKey: Uint8Array) => void
  /** How long the SURBs stay usable (default 60 s). */
  ttlMs?: number
  /** Nodes to keep off the return paths (besides this node, which ends them). */
  exclude?: PeerId[]
}

/** What happened to one incoming packet. */
export type PacketOutcome =
  | { type: 'forwarded', delayMs: number }
  | { type: 'fragment' }
  | { type: 'delivered', protocol: string }
  | { type: 'internal', protocol: string }
  | { type: 'cover' }
  | { type: 'reply' }

export interface MixStats {
  received: number
  /** Rejections by error code (every drop has one). */
  rejected: Record<string, number>
  coverSent: number
  coverReturned: number
  keyRotations: number
  replayTableSize: number
  delayedPackets: number
  pendingRequests: number
  storedSurbs: number
  reassemblies: number
  knownNodes: number
  /** Known nodes left out of paths for now because a send to them failed. */
  unreachableNodes: number
  slotsRemaining: number
}

export interface MixnetEvents {
  /** A packet was dropped; `code` says why. */
  'packet:rejected': CustomEvent<{ code: string, error: Error }>
  /** A message for a protocol without a handler reached this node as its exit-and-destination. */
  message: CustomEvent<{ protocol: string, data: Uint8Array }>
  /** One of our cover loops came back. */
  'cover:returned': CustomEvent<void>
  /** The mix key changed; `publicKey` is the new one (already re-advertised). */
  'key:rotated': CustomEvent<{ publicKey: Uint8Array }>
}

/** The js-libp2p mix service. */
export interface Mixnet extends Startable, TypedEventTarget<MixnetEvents> {
  readonly protocol: string
  /** The current X25519 mix public key (what our record advertises). */
  readonly publicKey: Uint8Array
  /** Sends a message anonymously; resolves when every packet has left for its first hop. */
  send: (destination: MixDestination, protocol: string, data: Uint8Array, options?: MixSendOptions) => Promise<void>
  /** Sends with SURBs and resolves to the destination's answer. */
  request: (destination: MixDestination, protocol: string, data: Uint8Array, options?: MixRequestOptions) => Promise<Uint8Array>
  /** Serves a protocol for messages arriving through the mixnet (as exit-destination or from an exit). */
  handle: (protocol: string, handler: MixHandler) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  /** Processes one packet as received from the wire (Sphinx packet || proof). */
  receive: (wire: Uint8Array, options?: AbortOptions) => Promise<PacketOutcome>
  /** Switches to a new mix key now and re-advertises it. */
  rotateKey: (options?: AbortOptions) => Promise<Uint8Array>
  /** The mix nodes the node source knows now. */
  knownNodes: () => MixNodeInfo[]
  getStats: () => MixStats
  /**
   * Handles a reserved codec inside this node whenever it is the exit, instead of delivering it (mix-hidden-service.md
   * 6.5). Such messages are one packet each.
   */
  handleInternal: (codec: string, handler: MixInternalHandler) => void
  unhandleInternal: (codec: string) => void
  /**
   * Sends one packet through a random path to the mix node `exit`, which handles `codec` itself. `data` may be a
   * function of s, the exit's Sphinx shared secret with us, for messages authenticated with it (mix-hidden-service.md
   * 7.1). Resolves when the packet left for its first hop.
   */
  sendToExit: (exit: MixNodeInfo, codec: string, data: Uint8Array | ((exitSecret: Uint8Array) => Uint8Array), options?: MixExitSendOptions) => Promise<void>
  /**
   * Makes `count` SURBs (734 bytes each) whose return paths end at this node; what comes back through them goes to
   * `options.onReply`. For protocols that keep a supply of SURBs at another party (mix-hidden-service.md 7, 10).
   */
  createSurbs: (count: number, options: MixSurbOptions) => Uint8Array[]
  /** Forgets the group's unused SURBs and its listener. */
  dropSurbs: (group: string) => void
  /** Sends `message` (at most 3968 bytes, zero-padded to that) back through someone's SURB (mix.md 8.7.3). */
  sendViaSurb: (surb: Uint8Array, message: Uint8Array, options?: AbortOptions) => Promise<void>
}

interface NodeEntry {
  peerId: PeerId
  multiaddr: Multiaddr
  hop: PathHop
  fingerprint: string
}

interface ExitFragmentMeta {
  destination: Uint8Array
  surbs: Uint8Array[]
}

interface PendingRequest {
  resolve: (data: Uint8Array) => void
  reject: (err: Error) => void
  reassembler: Reassembler<undefined>
  timer: ReturnType<typeof setTimeout>
}

interface QueuedSend {
  run: () => void
  fail: (err: Error) => void
}

const STATUS_NAMES = Object.fromEntries(Object.entries(REPLY_STATUS).map(([k, v]) => [v, k])) as Record<number, string>

/** The mix protocol service: relay, exit, sender and SURB replier in one (mix.md 7). */
export class MixnetService extends TypedEventEmitter<MixnetEvents> implements Mixnet {
  readonly protocol: string
  private readonly components: MixComponents
  private readonly log: Logger
  private readonly pathLength: number
  private readonly meanDelayMs: number
  private readonly senderDelayMs: number
  private readonly exitDelayMs: number
  private readonly mixing: boolean
  private readonly minDelayMs: number
  private readonly keyRotationIntervalMs: number
  private readonly keys: KeyManager
  private readonly allowPrivateDestinations: boolean
  private readonly inboundLimiter: TokenBuckets
  private readonly spam?: MixSpamProtection
  private readonly proofLength: number
  private readonly slots: SlotPool
  private readonly epochMs: number
  private readonly coverStrategy: CoverStrategy
  private readonly coverFraction: number
  private cover?: CoverScheduler
  private readonly outbound: OutboundStreams
  private readonly destinationStreams: DestinationStreams
  private readonly surbs: SurbStore
  private readonly exitReassembler: Reassembler<ExitFragmentMeta>
  private readonly requests = new Map<string, PendingRequest>()
  private readonly handlers = new Map<string, MixHandler>()
  private readonly internal = new Map<string, MixInternalHandler>()
  private readonly surbListeners = new Map<string, MixSurbOptions['onReply']>()
  private readonly sendQueue: QueuedSend[] = []
  private readonly init: Required<Pick<MixnetInit, 'maxMessageBytes' | 'requestTimeoutMs' | 'surbTtlMs' | 'maxPendingRequests' | 'deliveryTimeoutMs' | 'maxConcurrentDeliveries' | 'maxHeldDeliveries' | 'maxDelayedPackets' | 'maxConcurrentVerifications' | 'maxQueuedSends' | 'maxInboundStreams' | 'reassemblyTimeoutMs'>>
  private readonly nodeSourceInit?: MixNodeSource | ((components: MixComponents) => MixNodeSource)
  private nodeSource?: MixNodeSource
  private readonly announceAddress?: Multiaddr
  private readonly nodeCache = new Map<string, NodeEntry>()
  private readonly hopCache = new Map<string, { peerId: PeerId, multiaddr: Multiaddr }>()
  /** Peers a send to failed, until when they stay out of our paths. */
  private readonly unreachable = new Map<string, number>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private controller = new AbortController()
  private started = false
  private delayed = 0
  private verifying = 0
  private delivering = 0
  private held = 0
  private readonly deliveryQueue: Array<() => Promise<void>> = []
  private epochTimer?: ReturnType<typeof setTimeout>
  private rotationTimer?: ReturnType<typeof setInterval>
  private sweepTimer?: ReturnType<typeof setInterval>
  private offEpoch?: () => void
  private advertisedAddress?: string
  private readonly stats = { received: 0, rejected: {} as Record<string, number>, coverSent: 0, coverReturned: 0 }

  constructor (components: MixComponents, init: MixnetInit = {}) {
    super()
    this.components = components
    this.log = (components.logger ?? defaultLogger()).forComponent('logos:mix')
    this.protocol = init.protocol ?? C.MIX_PROTOCOL
    this.pathLength = init.pathLength ?? C.PATH_LENGTH
    if (!Number.isInteger(this.pathLength) || this.pathLength < 1 || this.pathLength > 5) throw new RangeError('pathLength is 1..5')
    this.meanDelayMs = init.meanDelayMs ?? C.MEAN_DELAY_MS
    this.senderDelayMs = init.senderDelayMs ?? C.SENDER_DELAY_MS
    this.exitDelayMs = init.exitDelayMs ?? C.EXIT_DELAY_MS
    this.mixing = init.mixing ?? true
    this.minDelayMs = init.minDelayMs ?? 0
    this.keyRotationIntervalMs = init.keyRotationIntervalMs ?? C.KEY_ROTATION_INTERVAL_MS
    this.keys = new KeyManager({
      privateKey: init.mixPrivateKey,
      replayCacheSize: init.replayCacheSize ?? C.REPLAY_CACHE_SIZE,
      rotateFraction: init.replayRotateFraction ?? C.REPLAY_ROTATE_FRACTION,
      graceMs: init.keyGraceMs ?? C.KEY_GRACE_MS,
      onExhausted: () => { this.rotateKey().catch(err => { this.log.error('key rotation failed: %e', err) }) }
    })
    this.allowPrivateDestinations = init.allowPrivateDestinations ?? C.ALLOW_PRIVATE_DESTINATIONS
    this.inboundLimiter = new TokenBuckets(init.inboundPeerRate ?? { perSecond: C.INBOUND_PEER_RATE_PER_S, burst: C.INBOUND_PEER_BURST }, C.MAX_RATE_LIMITED_PEERS)
    this.spam = init.spamProtection
    this.proofLength = this.spam?.proofLength ?? 0
    this.epochMs = this.spam?.epochMs ?? init.epochMs ?? C.EPOCH_MS
    this.slots = new SlotPool(this.spam?.slotsPerEpoch ?? init.slotsPerEpoch ?? C.SLOTS_PER_EPOCH)
    this.coverStrategy = init.cover?.strategy ?? 'constant'
    this.coverFraction = init.cover?.rateFraction ?? C.COVER_RATE_FRACTION
    this.outbound = new OutboundStreams(components.connectionManager, {
      protocol: this.protocol,
      maxPeers: init.maxOutboundPeers ?? C.MAX_OUTBOUND_PEERS,
      maxQueuedPerPeer: init.maxQueuedPerPeer ?? C.MAX_QUEUED_PER_PEER,
      idleMs: C.OUTBOUND_IDLE_MS,
      dialTimeoutMs: C.DIAL_TIMEOUT_MS
    })
    this.destinationStreams = new DestinationStreams(components.connectionManager)
    this.surbs = new SurbStore(init.maxSurbsStored ?? C.MAX_SURBS_STORED)
    const maxMessageBytes = init.maxMessageBytes ?? C.MAX_MESSAGE_BYTES
    this.exitReassembler = new Reassembler({
      maxMessages: init.maxReassemblies ?? C.MAX_REASSEMBLIES,
      maxBytes: init.maxReassemblyBytes ?? C.MAX_REASSEMBLY_BYTES,
      timeoutMs: init.reassemblyTimeoutMs ?? C.REASSEMBLY_TIMEOUT_MS,
      maxFragments: Math.ceil(maxMessageBytes / 1000) + 1
    })
    this.init = {
      maxMessageBytes,
      requestTimeoutMs: init.requestTimeoutMs ?? C.REQUEST_TIMEOUT_MS,
      surbTtlMs: init.surbTtlMs ?? C.SURB_TTL_MS,
      maxPendingRequests: init.maxPendingRequests ?? C.MAX_PENDING_REQUESTS,
      deliveryTimeoutMs: init.deliveryTimeoutMs ?? C.DELIVERY_TIMEOUT_MS,
      maxConcurrentDeliveries: init.maxConcurrentDeliveries ?? C.MAX_CONCURRENT_DELIVERIES,
      maxHeldDeliveries: init.maxHeldDeliveries ?? C.MAX_HELD_DELIVERIES,
      maxDelayedPackets: init.maxDelayedPackets ?? C.MAX_DELAYED_PACKETS,
      maxConcurrentVerifications: init.maxConcurrentVerifications ?? C.MAX_CONCURRENT_VERIFICATIONS,
      maxQueuedSends: init.maxQueuedSends ?? C.MAX_QUEUED_SENDS,
      maxInboundStreams: init.maxInboundStreams ?? C.MAX_INBOUND_STREAMS,
      reassemblyTimeoutMs: init.reassemblyTimeoutMs ?? C.REASSEMBLY_TIMEOUT_MS
    }
    this.nodeSourceInit = init.nodeSource
    this.announceAddress = init.announceAddress === undefined ? undefined : multiaddr(init.announceAddress.toString())
  }

  readonly [Symbol.toStringTag] = '@logos/mix'

  get publicKey (): Uint8Array {
    return this.keys.publicKey
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    if (this.started) return
    this.controller = new AbortController()
    this.nodeSource = this.resolveNodeSource()
    await this.components.registrar.handle(this.protocol, (stream, connection) => { this.onStream(stream, connection) }, {
      maxInboundStreams: this.init.maxInboundStreams,
      maxOutboundStreams: C.MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: false
    })
    this.outbound.start()
    // Handlers registered before start (or before a stop) serve from now on.
    for (const [protocol, handler] of this.handlers) await this.registerHandler(protocol, handler)
    this.started = true
    this.startEpochs()
    this.sweepTimer = setInterval(() => { this.sweep() }, 5_000)
    this.sweepTimer.unref?.()
    if (this.keyRotationIntervalMs > 0) {
      this.rotationTimer = setInterval(() => { this.rotateKey().catch(err => { this.log.error('key rotation failed: %e', err) }) }, this.keyRotationIntervalMs)
      this.rotationTimer.unref?.()
    }
    const rate = coverRatePerSecond(this.coverFraction, this.slots.slotsPerEpoch, this.pathLength, this.epochMs)
    this.cover = new CoverScheduler(this.coverStrategy, rate, () => { this.coverTick() })
  }

  /** After every libp2p service started (the discovery service among them): look for nodes, advertise, cover. */
  async afterStart (): Promise<void> {
    if (!this.started) return
    await this.nodeSource?.start?.()
    this.components.events?.addEventListener('self:peer:update', this.onSelfUpdate)
    this.advertise()
    this.cover?.start()
  }

  /** For use outside js-libp2p (tests, benchmarks): start and afterStart in one. */
  async startAll (): Promise<void> {
    await this.start()
    await this.afterStart()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort(new AbortedError('mix service stopped'))
    this.cover?.stop()
    this.offEpoch?.()
    if (this.epochTimer !== undefined) clearTimeout(this.epochTimer)
    if (this.rotationTimer !== undefined) clearInterval(this.rotationTimer)
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.delayed = 0
    this.verifying = 0
    this.delivering = 0
    this.held = 0
    this.deliveryQueue.length = 0
    this.slots.clear()
    this.inboundLimiter.clear()
    for (const q of this.sendQueue.splice(0)) q.fail(new MixNotStartedError())
    for (const [id, r] of this.requests) {
      clearTimeout(r.timer)
      r.reject(new MixNotStartedError())
      this.requests.delete(id)
    }
    this.surbs.clear()
    this.surbListeners.clear()
    this.exitReassembler.clear()
    this.components.events?.removeEventListener('self:peer:update', this.onSelfUpdate)
    this.advertisedAddress = undefined
    this.nodeSource?.stopAdvertising?.()
    await this.nodeSource?.stop?.()
    this.outbound.stop()
    await this.components.registrar.unhandle(this.protocol)
    for (const protocol of this.handlers.keys()) await this.components.registrar.unhandle(protocol).catch(() => {})
  }

  knownNodes (): MixNodeInfo[] {
    return this.nodeSource?.getNodes() ?? []
  }

  getStats (): MixStats {
    return {
      received: this.stats.received,
      rejected: { ...this.stats.rejected },
      coverSent: this.stats.coverSent,
      coverReturned: this.stats.coverReturned,
      keyRotations: this.keys.rotations,
      replayTableSize: this.keys.replayTableSize(),
      delayedPackets: this.delayed,
      pendingRequests: this.requests.size,
      storedSurbs: this.surbs.size,
      reassemblies: this.exitReassembler.size,
      knownNodes: this.nodeSource?.getNodes().length ?? 0,
      unreachableNodes: [...this.unreachable.values()].filter(until => until > Date.now()).length,
      slotsRemaining: this.slots.slotsRemaining
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Keys, nodes, epochs
  // ------------------------------------------------------------------------------------------------------------

  async rotateKey (options: AbortOptions = {}): Promise<Uint8Array> {
    const publicKey = this.keys.rotate()
    this.safeDispatch('key:rotated', { publicKey })
    if (this.started) await this.nodeSource?.advertise?.(publicKey, options)
    return publicKey
  }

  /**
   * Advertises the mix capability with our key once this node has an address a hop address can carry (libp2p
   * starts listening in its afterStart, concurrently with ours), and again whenever that address changes.
   */
  private advertise (): void {
    const signal = this.controller.signal
    const run = async (): Promise<void> => {
      let address = this.ownAddressKey()
      for (let waited = 0; address === undefined; waited += 100) {
        if (waited > C.DIAL_TIMEOUT_MS * 3) throw new MixUnroutableDestinationError('no IPv4 TCP or QUIC listen address to advertise')
        await this.sleep(100, signal)
        address = this.ownAddressKey()
      }
      this.advertisedAddress = address
      await this.nodeSource?.advertise?.(this.keys.publicKey, { signal })
    }
    run().catch(err => {
      if (!signal.aborted) this.log('advertising the mix capability failed: %s', (err as Error).message)
    })
  }

  private ownAddressKey (): string | undefined {
    try {
      return Buffer.from(this.selfHop().address).toString('hex')
    } catch {
      return undefined
    }
  }

  private readonly onSelfUpdate = (): void => {
    if (!this.started || this.advertisedAddress === undefined) return
    const address = this.ownAddressKey()
    if (address !== undefined && address !== this.advertisedAddress) this.advertise()
  }

  private resolveNodeSource (): MixNodeSource | undefined {
    if (typeof this.nodeSourceInit === 'function') return this.nodeSourceInit(this.components)
    if (this.nodeSourceInit !== undefined) return this.nodeSourceInit
    let discovery: MixDiscovery | undefined
    try {
      // js-libp2p's components proxy throws for a service that is not configured.
      discovery = (this.components as unknown as { discovery?: MixDiscovery }).discovery
    } catch {
      discovery = undefined
    }
    if (discovery === undefined) return undefined
    return new DiscoveryMixNodeSource(discovery, { protocol: this.protocol, self: this.components.peerId, log: (m, ...a) => { this.log(m, ...a) } })
  }

  private startEpochs (): void {
    const onEpoch = (epoch: bigint): void => {
      this.slots.resetEpoch(epoch)
      this.drainSendQueue()
    }
    if (this.spam?.onEpochChange !== undefined) {
      this.offEpoch = this.spam.onEpochChange(onEpoch)
      return
    }
    const tick = (): void => {
      const now = Date.now()
      onEpoch(BigInt(Math.floor(now / this.epochMs)))
      this.epochTimer = setTimeout(tick, this.epochMs - (now % this.epochMs))
      this.epochTimer.unref?.()
    }
    tick()
  }

  /** Mix nodes usable in paths: a valid key and an address that fits in 94 bytes. */
  private eligibleNodes (exclude: PeerId[]): NodeEntry[] {
    const out: NodeEntry[] = []
    const source = this.nodeSource?.getNodes() ?? []
    const now = Date.now()
    for (const n of source) {
      if (n.peerId.equals(this.components.peerId) || exclude.some(e => e.equals(n.peerId)) || this.isUnreachable(n.peerId, now)) continue
      const entry = this.nodeEntry(n)
      if (entry !== undefined) out.push(entry)
    }
    return out
  }

  private nodeEntry (n: MixNodeInfo): NodeEntry | undefined {
    const id = n.peerId.toString()
    const fingerprint = Buffer.from(n.mixPublicKey).toString('hex') + n.multiaddrs.map(m => m.toString()).join(',')
    const cached = this.nodeCache.get(id)
    if (cached !== undefined && cached.fingerprint === fingerprint) return cached
    for (const ma of n.multiaddrs) {
      const base = transportPart(ma)
      if (base === undefined) continue
      try {
        const address = encodeAddress(n.peerId, base)
        const entry: NodeEntry = { peerId: n.peerId, multiaddr: base, hop: { publicKey: n.mixPublicKey, address, keyObject: importPoint(n.mixPublicKey) }, fingerprint }
        this.nodeCache.delete(id)
        this.nodeCache.set(id, entry)
        while (this.nodeCache.size > C.MAX_KNOWN_NODES) {
          const oldest = this.nodeCache.keys().next().value
          if (oldest === undefined) break
          this.nodeCache.delete(oldest)
        }
        return entry
      } catch {
        continue
      }
    }
    return undefined
  }

  /** This node's own hop (key + address), the last hop of its SURBs and cover loops. */
  private selfHop (): PathHop {
    const candidates = this.announceAddress !== undefined ? [this.announceAddress] : this.components.addressManager.getAddresses()
    for (const ma of candidates) {
      const base = transportPart(ma)
      if (base === undefined) continue
      try {
        return { publicKey: this.keys.publicKey, address: encodeAddress(this.components.peerId, base) }
      } catch {
        continue
      }
    }
    throw new MixUnroutableDestinationError('this node has no IPv4 TCP or QUIC address for replies to come back to')
  }

  // ------------------------------------------------------------------------------------------------------------
  // Sending
  // ------------------------------------------------------------------------------------------------------------

  async send (destination: MixDestination, protocol: string, data: Uint8Array, options: MixSendOptions = {}): Promise<void> {
    this.assertStarted()
    await this.dispatch(destination, protocol, data, [], options)
  }

  async request (destination: MixDestination, protocol: string, data: Uint8Array, options: MixRequestOptions = {}): Promise<Uint8Array> {
    this.assertStarted()
    const surbCount = options.surbs ?? C.DEFAULT_SURBS
    if (!Number.isInteger(surbCount) || surbCount < 1 || surbCount > C.MAX_SURBS_PER_REQUEST) throw new RangeError(`surbs is 1..${C.MAX_SURBS_PER_REQUEST}`)
    if (this.requests.size >= this.init.maxPendingRequests) throw new MixQueueFullError('pending requests', this.init.maxPendingRequests)
    const timeoutMs = options.timeoutMs ?? this.init.requestTimeoutMs
    const requestId = randomBytes(12).toString('hex')
    const self = this.selfHop()
    const target = await this.resolveDestination(destination, options.exitIsDestination === true)
    const route = this.route(target)
    // The return path avoids the exit (it sends the reply to the return path's first hop) and the destination.
    const returnNodes = this.eligibleNodes([target.peerId, route.exit.peerId])
    if (returnNodes.length < this.pathLength - 1) throw new MixNotEnoughNodesError(this.pathLength - 1, returnNodes.length)

    const reply = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.finishRequest(requestId)
        reject(new MixReplyTimeoutError(timeoutMs))
      }, timeoutMs)
      this.requests.set(requestId, {
        resolve,
        reject,
        timer,
        reassembler: new Reassembler({ maxMessages: 1, maxBytes: surbCount * REPLY_DATA_CAPACITY, timeoutMs, maxFragments: surbCount })
      })
    })
    // The promise may reject before we await it (a failed dispatch); keep that from being an unhandled rejection.
    reply.catch(() => {})
    try {
      const surbs = this.makeSurbs(surbCount, returnNodes, self, requestId, Date.now() + Math.max(this.init.surbTtlMs, timeoutMs))
      await this.dispatchTo(target, route, protocol, data, surbs, options)
    } catch (err) {
      this.finishRequest(requestId)
      throw err
    }
    return await raceSignal(reply, options.signal).catch((err: Error) => {
      this.finishRequest(requestId)
      throw err
    })
  }

  private finishRequest (requestId: string): void {
    const r = this.requests.get(requestId)
    if (r !== undefined) clearTimeout(r.timer)
    this.requests.delete(requestId)
    this.surbs.dropRequest(requestId)
  }

  private async dispatch (destination: MixDestination, protocol: string, data: Uint8Array, surbs: Uint8Array[], options: MixSendOptions): Promise<void> {
    const target = await this.resolveDestination(destination, options.exitIsDestination === true)
    await this.dispatchTo(target, this.route(target), protocol, data, surbs, options)
  }

  /** The exit every fragment of a message shares, and the nodes the other hops are drawn from. */
  private route (target: ResolvedDestination): { exit: NodeEntry, others: NodeEntry[] } {
    const nodes = this.eligibleNodes([target.peerId])
    const exit = target.exit ?? sample(nodes, 1)[0]
    if (exit === undefined) throw new MixNotEnoughNodesError(this.pathLength, nodes.length)
    const others = nodes.filter(n => !n.peerId.equals(exit.peerId))
    if (others.length < this.pathLength - 1) throw new MixNotEnoughNodesError(this.pathLength, others.length + 1)
    return { exit, others }
  }

  private async dispatchTo (target: ResolvedDestination, route: { exit: NodeEntry, others: NodeEntry[] }, protocol: string, data: Uint8Array, surbs: Uint8Array[], options: AbortOptions): Promise<void> {
    if (data.length > this.init.maxMessageBytes) throw new MixMessageTooLargeError(data.length, this.init.maxMessageBytes)
    const plan = planFragments(data.length, protocol, surbs.length, C.MAX_SURBS_PER_PACKET)
    const { exit, others } = route
    const messageId = randomBytes(8)
    const messages: Uint8Array[] = []
    let offset = 0
    let surbOffset = 0
    plan.forEach((f, index) => {
      messages.push(encodeForwardMessage({
        codec: protocol,
        surbs: surbs.slice(surbOffset, surbOffset + f.surbs),
        fragment: { messageId, index, count: plan.length },
        data: data.subarray(offset, offset + f.bytes)
      }))
      offset += f.bytes
      surbOffset += f.surbs
    })
    await Promise.all(messages.map(async m => { await this.sendFragment(m, target.address, exit, others, options) }))
  }

  /**
   * One fragment on a fresh random path ending at the shared exit. When the first hop cannot be reached the fragment
   * goes again on a path without it (the sender sees that failure; later hops fail silently, mix.md 9.4.2).
   */
  private async sendFragment (message: Uint8Array, destination: Uint8Array, exit: NodeEntry, others: NodeEntry[], options: AbortOptions): Promise<void> {
    let candidates = others
    for (let attempt = 0; ; attempt++) {
      const path = [...sample(candidates, this.pathLength - 1), exit]
      const first = path[0] as NodeEntry
      const { packet } = buildPacket({
        hops: path.map(n => n.hop),
        delays: path.slice(1).map(() => this.meanDelayMs),
        exit: { destination },
        ephemeral: randomBytes(32),
        message
      })
      try {
        await this.originate(first.peerId, first.multiaddr, packet, options)
        return
      } catch (err) {
        const firstHop = path.length > 1 ? first : undefined
        if (!(err instanceof MixDialError) || firstHop === undefined || attempt >= C.FIRST_HOP_RETRIES || options.signal?.aborted === true) throw err
        candidates = candidates.filter(n => !n.peerId.equals(firstHop.peerId))
        if (candidates.length < this.pathLength - 1) throw err
      }
    }
  }

  /**
   * A locally originated packet: claim a slot (or wait for the next epoch's, mix-cover-traffic.md 6.3), wait the
   * sender's delay while its proof is made, then send.
   */
  private async originate (peerId: PeerId, addr: Multiaddr, packet: Uint8Array, options: AbortOptions = {}): Promise<void> {
    await this.claimForLocal(options)
    const signal = combineSignals([options.signal, this.controller.signal])
    const proof = this.makeProof(packet, signal)
    await this.sleep(this.sample(this.senderDelayMs), signal)
    const wire = appendProof(packet, await proof)
    await this.transmit(peerId, addr, wire, signal)
  }

  /** Sends to a next hop; a peer that cannot be reached is left out of our paths for a while. */
  private async transmit (peerId: PeerId, addr: Multiaddr, wire: Uint8Array, signal: AbortSignal): Promise<void> {
    try {
      await this.outbound.send(peerId, addr, wire, { signal })
    } catch (err) {
      if (err instanceof MixDialError && !signal.aborted) this.markUnreachable(peerId)
      throw err
    }
  }

  private markUnreachable (peerId: PeerId): void {
    const id = peerId.toString()
    this.unreachable.delete(id)
    this.unreachable.set(id, Date.now() + C.UNREACHABLE_MS)
    while (this.unreachable.size > C.MAX_KNOWN_NODES) {
      const oldest = this.unreachable.keys().next().value
      if (oldest === undefined) break
      this.unreachable.delete(oldest)
    }
  }

  private isUnreachable (peerId: PeerId, now: number): boolean {
    const id = peerId.toString()
    const until = this.unreachable.get(id)
    if (until === undefined) return false
    if (until > now) return true
    this.unreachable.delete(id)
    return false
  }

  private async claimForLocal (options: AbortOptions): Promise<void> {
    if (this.slots.claim()) return
    if (this.sendQueue.length >= this.init.maxQueuedSends) throw new MixQueueFullError('sends waiting for the next epoch', this.init.maxQueuedSends)
    await raceSignal(new Promise<void>((resolve, reject) => {
      this.sendQueue.push({ run: resolve, fail: reject })
    }), options.signal)
  }

  private drainSendQueue (): void {
    while (this.sendQueue.length > 0 && this.slots.claim()) this.sendQueue.shift()?.run()
  }

  private async makeProof (packet: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    if (this.spam === undefined) return new Uint8Array(0)
    const proof = await this.spam.generateProof(packet, { signal })
    if (proof.length !== this.proofLength) throw new MixSpamProofError({ data: { reason: `proof of ${proof.length} bytes, expected ${this.proofLength}` } })
    return proof
  }

  private async resolveDestination (destination: MixDestination, exitIsDestination: boolean): Promise<ResolvedDestination> {
    let peerId: PeerId
    let addrs: Multiaddr[]
    if (isMultiaddr(destination)) {
      const p2p = destination.getComponents().filter(c => c.code === CODE_P2P).pop()?.value
      if (p2p === undefined) throw new MixUnroutableDestinationError(`${destination.toString()} does not end in /p2p/<peer id>`)
      peerId = peerIdFromString(p2p)
      addrs = [destination]
    } else if ('multiaddrs' in destination) {
      peerId = destination.peerId
      addrs = destination.multiaddrs
    } else {
      peerId = destination as PeerId
      addrs = []
    }
    if (peerId.equals(this.components.peerId)) throw new MixUnroutableDestinationError('the destination is this node')
    const known = this.nodeSource?.getNodes().find(n => n.peerId.equals(peerId))
    if (exitIsDestination) {
      if (known === undefined) throw new MixUnroutableDestinationError(`${peerId.toString()} is not a known mix node, so it cannot be the exit`)
      const exit = this.nodeEntry(known)
      if (exit === undefined) throw new MixUnroutableDestinationError(`${peerId.toString()} has no encodable address`)
      return { peerId, address: new Uint8Array(ADDRESS_LENGTH), exit }
    }
    if (addrs.length === 0 && known !== undefined) addrs = known.multiaddrs
    if (addrs.length === 0 && this.components.peerStore !== undefined) {
      try {
        addrs = (await this.components.peerStore.get(peerId)).addresses.map(a => a.multiaddr)
      } catch {
        addrs = []
      }
    }
    for (const ma of addrs) {
      const base = transportPart(ma)
      if (base === undefined) continue
      try {
        return { peerId, address: encodeAddress(peerId, base) }
      } catch {
        continue
      }
    }
    throw new MixUnroutableDestinationError(`no IPv4 TCP or QUIC address known for ${peerId.toString()}`)
  }

  // ------------------------------------------------------------------------------------------------------------
  // Cover traffic
  // ------------------------------------------------------------------------------------------------------------

  private coverTick (): void {
    if (!this.started) return
    const nodes = this.eligibleNodes([])
    if (nodes.length < this.pathLength - 1) return
    let self: PathHop
    try {
      self = this.selfHop()
    } catch {
      return
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const entry: QueuedCover = { cancel: () => { if (timer !== undefined) { clearTimeout(timer); this.timers.delete(timer) } } }
    if (!this.slots.reserveCover(entry)) return
    try {
      const path = sample(nodes, this.pathLength - 1)
      const capacity = forwardDataCapacity(C.COVER_CODEC, 0)
      const m = encodeForwardMessage({ codec: C.COVER_CODEC, surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data: randomBytes(capacity) })
      const { packet } = buildPacket({
        hops: [...path.map(n => n.hop), self],
        delays: path.map(() => this.meanDelayMs),
        exit: { destination: new Uint8Array(ADDRESS_LENGTH) },
        ephemeral: randomBytes(32),
        message: m
      })
      const first = path[0] as NodeEntry
      const proof = this.makeProof(packet, this.controller.signal)
      proof.catch(() => {})
      timer = setTimeout(() => {
        if (timer !== undefined) this.timers.delete(timer)
        if (!this.slots.consumeCover(entry)) return
        proof.then(async p => { await this.transmit(first.peerId, first.multiaddr, appendProof(packet, p), this.controller.signal) })
          .then(() => { this.stats.coverSent++ }, err => { this.log('cover packet not sent: %s', (err as Error).message) })
      }, this.sample(this.senderDelayMs))
      this.timers.add(timer)
    } catch (err) {
      this.slots.releaseCover(entry)
      this.log('cover packet not built: %s', (err as Error).message)
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Receiving
  // ------------------------------------------------------------------------------------------------------------

  private onStream (stream: Stream, connection: Connection): void {
    const decoder = new FrameDecoder(PACKET_LENGTH + this.proofLength)
    const signal = this.controller.signal
    const peer = connection.remotePeer.toString()
    void (async () => {
      try {
        for await (const chunk of streamChunks(stream)) {
          if (signal.aborted) break
          for (const frame of decoder.push(chunk)) {
            // The peer's bucket first: a packet over its rate costs nothing more (no proof check, no Sphinx work).
            if (!this.inboundLimiter.take(peer, Date.now())) {
              this.stats.received++
              this.reject(new MixPeerRateLimitedError(peer))
              continue
            }
            this.receive(frame, { signal }).catch(err => { this.reject(err) })
          }
        }
        await stream.close().catch(() => {})
      } catch (err) {
        this.reject(err instanceof LogosError ? err : new MixFrameError('stream failed', { cause: err }))
        stream.abort(err as Error)
      }
    })()
    void connection
  }

  private reject (err: unknown): void {
    const e = err instanceof LogosError ? err : new UnexpectedError((err as Error)?.message ?? String(err), { cause: err })
    this.stats.rejected[e.code] = (this.stats.rejected[e.code] ?? 0) + 1
    this.safeDispatch('packet:rejected', { code: e.code, error: e })
  }

  async receive (wire: Uint8Array, options: AbortOptions = {}): Promise<PacketOutcome> {
    this.assertStarted()
    this.stats.received++
    const expected = PACKET_LENGTH + this.proofLength
    if (wire.length !== expected) throw new MixFrameError(`a packet is ${expected} bytes on the wire, got ${wire.length}`)
    const { packet, proof } = splitProof(wire, PACKET_LENGTH)
    if (this.spam !== undefined) {
      // Verify before any Sphinx work (mix-dos-protection.md 8.3.2).
      if (this.verifying >= this.init.maxConcurrentVerifications) throw new MixQueueFullError('proof verifications', this.init.maxConcurrentVerifications)
      this.verifying++
      try {
        await this.spam.verifyProof(packet, proof, { signal: options.signal })
      } catch (err) {
        throw new MixSpamProofError({ cause: err, data: { code: (err as { code?: unknown }).code } })
      } finally {
        this.verifying--
      }
    }
    return this.process(packet)
  }

  /**
   * The Sphinx work on a packet whose proof (if any) checked out, or one of our own to ourselves. The bounds come
   * before any Sphinx work (mix-cover-traffic.md 6.4: claim the slot first): a packet the relay could not hold or has
   * no slot for never reaches the replay table. Every packet processed takes a slot, the exit's included (the L hops
   * of the budget model, section 4), so the replay tables grow by at most R per epoch; a packet refused before its
   * tag is stored (bad MAC, replay, malformed) gives its slot back.
   */
  private process (packet: Uint8Array): PacketOutcome {
    if (this.delayed >= this.init.maxDelayedPackets) throw new MixQueueFullError('delayed packets', this.init.maxDelayedPackets)
    if (!this.slots.claim()) throw new MixSlotsExhaustedError()
    let result: ReturnType<typeof processPacket>
    try {
      result = processPacket(packet, this.keys.processingKeys())
    } catch (err) {
      this.slots.refund()
      throw err
    }
    switch (result.type) {
      case 'forward': return this.forward(result.nextHop, result.delayMs, result.packet)
      case 'exit': return this.exitMessage(result.destination, result.message, result.secret)
      case 'reply': return this.replyPacket(result.surbId, result.payload)
    }
  }

  /** decodeAddress with a bounded cache: a relay sees the same few next hops again and again, and decoding costs ~40 us. */
  private decodeHop (bytes: Uint8Array): { peerId: PeerId, multiaddr: Multiaddr } {
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    const cached = this.hopCache.get(key)
    if (cached !== undefined) return cached
    const decoded = decodeAddress(bytes)
    if (this.hopCache.size >= C.MAX_KNOWN_NODES) {
      const oldest = this.hopCache.keys().next().value
      if (oldest !== undefined) this.hopCache.delete(oldest)
    }
    this.hopCache.set(key, decoded)
    return decoded
  }

  private forward (nextHop: Uint8Array, meanMs: number, packet: Uint8Array): PacketOutcome {
    const next = this.decodeHop(nextHop)
    this.checkDialable(next.multiaddr)
    // The slot was claimed in receive(), before the Sphinx work and the delay (mix-cover-traffic.md 6.4).
    const delayMs = this.mixing ? this.sample(meanMs) : 0
    const signal = this.controller.signal
    const proof = this.makeProof(packet, signal)
    proof.catch(() => {})
    this.delayed++
    const go = (): void => {
      proof.then(async p => { await this.transmit(next.peerId, next.multiaddr, appendProof(packet, p), signal) })
        .catch(err => { this.reject(err) })
        .finally(() => { this.delayed = Math.max(0, this.delayed - 1) })
    }
    if (delayMs <= 0) go()
    else this.after(delayMs, go)
    return { type: 'forwarded', delayMs }
  }

  private exitMessage (destination: Uint8Array, message: Uint8Array, exitSecret: Uint8Array): PacketOutcome {
    const msg = decodeForwardMessage(message)
    const internal = this.internal.get(msg.codec)
    if (internal !== undefined) {
      // A reserved codec is handled here, whatever the destination says (mix-hidden-service.md 6.5); one packet each,
      // so the exit secret authenticates the whole message.
      if (msg.fragment.count !== 1) throw new MixFragmentError(`a ${msg.codec} message is one packet`)
      const run = async (): Promise<void> => { await internal({ codec: msg.codec, data: msg.data, surbs: msg.surbs, exitSecret }) }
      run().catch(err => { this.reject(err) })
      return { type: 'internal', protocol: msg.codec }
    }
    if (msg.codec === C.COVER_CODEC) {
      // A returning cover loop (mix-cover-traffic.md 5.4): ours only if it came home to a zero destination.
      if (isZeroAddress(destination)) {
        this.stats.coverReturned++
        this.safeDispatch('cover:returned', undefined)
      }
      return { type: 'cover' }
    }
    const key = Buffer.from(msg.fragment.messageId).toString('hex')
    const whole = this.exitReassembler.add(key, msg.fragment.index, msg.fragment.count, msg.data, { destination, surbs: msg.surbs })
    if (whole === undefined) return { type: 'fragment' }
    const first = whole.metas[0] as ExitFragmentMeta
    if (!isZeroAddress(first.destination)) {
      const target = this.decodeHop(first.destination)
      if (!target.peerId.equals(this.components.peerId)) this.checkDialable(target.multiaddr)
    }
    if (this.held >= this.init.maxHeldDeliveries) throw new MixQueueFullError('messages held for delivery', this.init.maxHeldDeliveries)
    const surbs = whole.metas.flatMap(m => m.surbs).map(decodeSurb)
    this.held++
    const deliver = async (): Promise<void> => { await this.deliver(first.destination, msg.codec, whole.data, surbs) }
    const wait = this.mixing ? this.sample(this.exitDelayMs) : 0
    if (wait <= 0) this.runDelivery(deliver)
    else this.after(wait, () => { this.runDelivery(deliver) })
    return { type: 'delivered', protocol: msg.codec }
  }

  /** At most maxConcurrentDeliveries at once; the others wait their turn (they count in `held`, which is bounded). */
  private runDelivery (task: () => Promise<void>): void {
    if (!this.started) return
    if (this.delivering >= this.init.maxConcurrentDeliveries) {
      this.deliveryQueue.push(task)
      return
    }
    this.delivering++
    task()
      .catch(err => { this.reject(err) })
      .finally(() => {
        this.delivering--
        this.held = Math.max(0, this.held - 1)
        const next = this.deliveryQueue.shift()
        if (next !== undefined) this.runDelivery(next)
      })
  }

  private async deliver (destination: Uint8Array, protocol: string, data: Uint8Array, surbs: Surb[]): Promise<void> {
    const maxReplyBytes = surbs.length * REPLY_DATA_CAPACITY
    let status: number = REPLY_STATUS.ok
    let reply: Uint8Array = new Uint8Array(0)
    const signal = combineSignals([this.controller.signal], this.init.deliveryTimeoutMs)
    let local = isZeroAddress(destination)
    let target: { peerId: PeerId, multiaddr: Multiaddr } | undefined
    if (!local) {
      target = this.decodeHop(destination)
      local = target.peerId.equals(this.components.peerId)
    }
    if (local) {
      const handler = this.handlers.get(protocol)
      if (handler === undefined) {
        status = REPLY_STATUS.noHandler
        this.safeDispatch('message', { protocol, data })
      } else {
        try {
          const out = await handler({ protocol, data, expectsReply: surbs.length > 0, maxReplyBytes }, { signal })
          if (out instanceof Uint8Array) reply = out
        } catch {
          status = REPLY_STATUS.failed
        }
      }
    } else if (target !== undefined) {
      const r = await deliverRemote({ streams: this.destinationStreams, timeoutMs: this.init.deliveryTimeoutMs }, target.peerId, target.multiaddr, protocol, data, surbs.length > 0 ? maxReplyBytes : undefined, { signal })
      status = r.status
      reply = r.reply
      // Fire-and-forget has nobody to tell: the exit reports the loss itself, so it is counted and observable.
      if (surbs.length === 0 && status !== REPLY_STATUS.ok) this.reject(new MixDeliveryFailedError(STATUS_NAMES[status] ?? `status ${status}`, { cause: r.cause }))
    }
    if (surbs.length > 0) await this.sendReply(surbs, status, reply)
  }

  /** Answers through the SURBs (mix.md 8.7.3), one reply fragment per SURB. */
  private async sendReply (surbs: Surb[], status: number, data: Uint8Array): Promise<void> {
    let count = Math.max(1, Math.ceil(data.length / REPLY_DATA_CAPACITY))
    let body = data
    if (count > surbs.length) {
      status = REPLY_STATUS.tooLarge
      body = new Uint8Array(0)
      count = 1
    }
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const surb = surbs[i] as Surb
      const m = encodeReplyMessage({ status, index: i, count, data: body.subarray(i * REPLY_DATA_CAPACITY, (i + 1) * REPLY_DATA_CAPACITY) })
      const packet = useSurb(surb, m)
      const first = this.decodeHop(surb.firstHop)
      this.checkDialable(first.multiaddr)
      await this.originate(first.peerId, first.multiaddr, packet)
    }))
  }

  private replyPacket (surbId: Uint8Array, payload: Uint8Array): PacketOutcome {
    const entry = this.surbs.take(surbId)
    if (entry === undefined) throw new MixUnknownSurbError()
    const m = recoverReply(entry.secrets, payload)
    const listener = this.surbListeners.get(entry.requestId)
    if (listener !== undefined) {
      if (this.surbs.countOf(entry.requestId) === 0) this.surbListeners.delete(entry.requestId)
      listener(m, entry.secrets.replyKey)
      return { type: 'reply' }
    }
    const r = decodeReplyMessage(m)
    const pending = this.requests.get(entry.requestId)
    if (pending === undefined) throw new MixUnknownSurbError({ data: { reason: 'the request is over' } })
    if (r.status !== REPLY_STATUS.ok) {
      this.finishRequest(entry.requestId)
      pending.reject(new MixDeliveryFailedError(STATUS_NAMES[r.status] ?? `status ${r.status}`))
      return { type: 'reply' }
    }
    let whole: { data: Uint8Array } | undefined
    try {
      whole = pending.reassembler.add(entry.requestId, r.index, r.count, r.data, undefined)
    } catch (err) {
      this.finishRequest(entry.requestId)
      pending.reject(err as Error)
      throw err
    }
    if (whole !== undefined) {
      this.finishRequest(entry.requestId)
      pending.resolve(whole.data)
    }
    return { type: 'reply' }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Serving protocols
  // ------------------------------------------------------------------------------------------------------------

  async handle (protocol: string, handler: MixHandler): Promise<void> {
    if (this.handlers.has(protocol)) throw new MixDuplicateHandlerError(protocol)
    this.handlers.set(protocol, handler)
    if (!this.started) return // start() registers it
    try {
      await this.registerHandler(protocol, handler)
    } catch (err) {
      this.handlers.delete(protocol)
      throw err
    }
  }

  private async registerHandler (protocol: string, handler: MixHandler): Promise<void> {
    await this.components.registrar.handle(protocol, (stream) => {
      serveDelivery(stream, protocol, handler, this.init.maxMessageBytes, this.init.deliveryTimeoutMs).catch(() => {})
    }, { maxInboundStreams: C.MAX_CONCURRENT_DELIVERIES })
  }

  async unhandle (protocol: string): Promise<void> {
    if (!this.handlers.delete(protocol)) return
    if (this.started) await this.components.registrar.unhandle(protocol)
  }

  // ------------------------------------------------------------------------------------------------------------
  // Internal protocols and SURB groups (what a protocol on top of the mixnet, such as hidden services, builds on)
  // ------------------------------------------------------------------------------------------------------------

  handleInternal (codec: string, handler: MixInternalHandler): void {
    if (codec === C.COVER_CODEC || this.internal.has(codec)) throw new MixDuplicateHandlerError(codec)
    this.internal.set(codec, handler)
  }

  unhandleInternal (codec: string): void {
    this.internal.delete(codec)
  }

  async sendToExit (exit: MixNodeInfo, codec: string, data: Uint8Array | ((exitSecret: Uint8Array) => Uint8Array), options: MixExitSendOptions = {}): Promise<void> {
    this.assertStarted()
    if (exit.peerId.equals(this.components.peerId)) throw new MixUnroutableDestinationError('the exit is this node')
    const exitEntry = this.nodeEntry(exit)
    if (exitEntry === undefined) throw new MixUnroutableDestinationError(`${exit.peerId.toString()} has no encodable address`)
    const surbs = options.surbs ?? []
    let candidates = this.eligibleNodes([exit.peerId])
    if (candidates.length < this.pathLength - 1) throw new MixNotEnoughNodesError(this.pathLength, candidates.length + 1)
    for (let attempt = 0; ; attempt++) {
      const path = [...sample(candidates, this.pathLength - 1), exitEntry]
      const first = path[0] as NodeEntry
      const { header, secrets, keys } = buildHeader({
        hops: path.map(n => n.hop),
        delays: path.slice(1).map(() => this.meanDelayMs),
        exit: { destination: new Uint8Array(ADDRESS_LENGTH) },
        ephemeral: randomBytes(32)
      })
      const body = typeof data === 'function' ? data(secrets[secrets.length - 1] as Uint8Array) : data
      let m: Uint8Array
      try {
        m = encodeForwardMessage({ codec, surbs, fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data: body })
      } catch (err) {
        if (err instanceof SphinxMessageTooLargeError) throw new MixMessageTooLargeError(body.length, Math.max(0, forwardDataCapacity(codec, surbs.length)), { cause: err })
        throw err
      }
      const packet = new Uint8Array(PACKET_LENGTH)
      packet.set(header, 0)
      packet.set(encryptPayload(keys, m), header.length)
      try {
        await this.originate(first.peerId, first.multiaddr, packet, options)
        return
      } catch (err) {
        if (!(err instanceof MixDialError) || path.length === 1 || attempt >= C.FIRST_HOP_RETRIES || options.signal?.aborted === true) throw err
        candidates = candidates.filter(n => !n.peerId.equals(first.peerId))
        if (candidates.length < this.pathLength - 1) throw err
      }
    }
  }

  createSurbs (count: number, options: MixSurbOptions): Uint8Array[] {
    this.assertStarted()
    if (!Number.isInteger(count) || count < 0 || count > C.MAX_SURBS_PER_REQUEST) throw new RangeError(`count is 0..${C.MAX_SURBS_PER_REQUEST}`)
    const self = this.selfHop()
    const nodes = this.eligibleNodes(options.exclude ?? [])
    if (nodes.length < this.pathLength - 1) throw new MixNotEnoughNodesError(this.pathLength - 1, nodes.length)
    const out = this.makeSurbs(count, nodes, self, options.group, Date.now() + (options.ttlMs ?? this.init.surbTtlMs))
    this.surbListeners.set(options.group, options.onReply)
    return out
  }

  /** `count` SURBs back to `self`, each over its own random return path from `nodes`; their secrets kept under `group`. */
  private makeSurbs (count: number, nodes: NodeEntry[], self: PathHop, group: string, expiresAt: number): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      const path = sample(nodes, this.pathLength - 1)
      const { surb, secrets } = createSurb({
        hops: [...path.map(n => n.hop), self],
        delays: path.map(() => this.meanDelayMs),
        id: randomBytes(16),
        replyKey: randomBytes(16),
        ephemeral: randomBytes(32)
      })
      this.surbs.put(secrets, group, expiresAt)
      out.push(encodeSurb(surb))
    }
    return out
  }

  dropSurbs (group: string): void {
    this.surbs.dropRequest(group)
    this.surbListeners.delete(group)
  }

  async sendViaSurb (surbBytes: Uint8Array, message: Uint8Array, options: AbortOptions = {}): Promise<void> {
    this.assertStarted()
    if (message.length > MESSAGE_LENGTH) throw new MixMessageTooLargeError(message.length, MESSAGE_LENGTH)
    const surb = decodeSurb(surbBytes)
    const m = new Uint8Array(MESSAGE_LENGTH)
    m.set(message, 0)
    const packet = useSurb(surb, m)
    const first = this.decodeHop(surb.firstHop)
    if (first.peerId.equals(this.components.peerId)) {
      // The return path starts here: this node is its first hop (a SURB maker who did not know us could pick us).
      // Processing it forwards it after the hop's delay, with a slot claimed there.
      this.process(packet)
      return
    }
    await this.originate(first.peerId, first.multiaddr, packet, options)
  }

  // ------------------------------------------------------------------------------------------------------------
  // Helpers
  // ------------------------------------------------------------------------------------------------------------

  /** Refuses to dial a non-public address a packet named, unless allowPrivateDestinations (destinations.ts). */
  private checkDialable (ma: Multiaddr): void {
    if (this.allowPrivateDestinations) return
    const ip = dialedIPv4(ma)
    if (ip === undefined || !isPublicIPv4(ip)) throw new MixPrivateDestinationError(ip ?? ma.toString())
  }

  private sample (meanMs: number): number {
    return exponentialDelay(meanMs, { minMs: this.minDelayMs, tailProbability: C.DELAY_TAIL_PROBABILITY, capMs: C.MAX_HOLD_MS })
  }

  private after (ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
  }

  private async sleep (ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0) return
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.timers.delete(t)
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      const onAbort = (): void => {
        clearTimeout(t)
        this.timers.delete(t)
        reject(new AbortedError())
      }
      this.timers.add(t)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  private sweep (): void {
    this.surbs.sweep()
    for (const group of this.surbListeners.keys()) if (this.surbs.countOf(group) === 0) this.surbListeners.delete(group)
    this.exitReassembler.sweep()
  }

  private assertStarted (): void {
    if (!this.started) throw new MixNotStartedError()
  }

  private safeDispatch<K extends keyof MixnetEvents> (type: K, detail: MixnetEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(type, { detail })
    } catch (err) {
      this.log.error('event listener failed: %e', err)
    }
  }
}

interface ResolvedDestination {
  peerId: PeerId
  /** The 94-byte Delta of the exit's routing block (all zeros when the exit is the destination). */
  address: Uint8Array
  exit?: NodeEntry
}

function isMultiaddr (value: unknown): value is Multiaddr {
  return typeof value === 'object' && value !== null && typeof (value as Multiaddr).getComponents === 'function' && 'bytes' in (value as object)
}

/** The /ip4/../tcp/.. or /ip4/../udp/../quic-v1 part of an address (and a circuit relay's), without the final /p2p. */
function transportPart (ma: Multiaddr): Multiaddr | undefined {
  const comps = ma.getComponents()
  if (comps[0]?.code !== CODE_IP4) return undefined
  if (comps[1]?.code !== CODE_TCP && !(comps[1]?.code === CODE_UDP && comps[2]?.code === CODE_QUIC_V1)) return undefined
  let end = comps.length
  if (comps[end - 1]?.code === CODE_P2P) end--
  return multiaddr(comps.slice(0, end))
}
