import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import type { ComponentLogger, Connection, Logger, PeerId, PeerStore, PrivateKey, Startable, Stream } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar as Libp2pRegistrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import { raceSignal } from '../../common/index.ts'
import {
  DISCOVERY_PROTOCOL, MAX_INBOUND_STREAMS, MAX_KNOWN_PROVIDERS, MAX_MESSAGE_SIZE, MAX_OUTBOUND_STREAMS, WATCH_INTERVAL_MS
} from './constants.ts'
import { DiscoveryNode } from './discovery-node.ts'
import type { FoundProvider } from './discoverer.ts'
import { ClientModeError, NotStartedError, RequestFailedError } from './errors.ts'
import { peerKeyOf, serviceIdOf } from './keyspace.ts'
import { resolveParams } from './params.ts'
import type { DiscoveryParams } from './params.ts'
import { LruMap } from './routing-table.ts'
import type { PeerRef } from './routing-table.ts'
import { systemClock } from './transport.ts'
import type { Clock, DiscoveryTransport } from './transport.ts'
import { checkServiceData, sealAdvertisement } from './xpr.ts'
import { drained, streamChunks } from '../streams/index.ts'

/** A provider of a capability, from a verified advertisement. */
export interface ServiceProvider {
  peerId: PeerId
  multiaddrs: Multiaddr[]
  /** The protocol id advertised, e.g. '/mix/1.0.0'. */
  serviceId: string
  /** ServiceInfo.data, at most 33 bytes (empty when the advertiser sent none). */
  data: Uint8Array
  /** The record's sequence number. */
  seq: bigint
}

export interface CapabilityDiscoveryEvents {
  provider: CustomEvent<ServiceProvider>
}

export interface FindProvidersOptions {
  /** Stop once this many are found (default F_lookup = 30). */
  limit?: number
  signal?: AbortSignal
}

/** Capability discovery as other services and modules see it. */
export interface CapabilityDiscovery extends EventTarget {
  /** (Re)advertises a capability; new data bumps the record's seq and restarts placement. */
  advertise: (protocol: string, options?: { data?: Uint8Array, signal?: AbortSignal }) => Promise<void>
  stopAdvertising: (protocol: string) => void
  /** Verified providers of a capability (this node excluded). */
  findProviders: (protocol: string, options?: FindProvidersOptions) => Promise<ServiceProvider[]>
  /** Looks the capability up now and every WATCH_INTERVAL_MS, emitting `provider` for each new provider. */
  startDiscovering: (protocol: string) => void
  stopDiscovering: (protocol: string) => void
  /** Protocols this node advertises. */
  advertised: () => string[]
  readonly clientMode: boolean
  /** The protocol engine (tables, registrar stats), for tests and diagnostics. */
  readonly node: DiscoveryNode | undefined
}

export interface CapabilityDiscoveryInit extends Partial<DiscoveryParams> {
  /** Default /logos/service-discovery/1.0.0. */
  protocol?: string
  /** Light mode: find providers without serving, advertising or entering anyone's tables. */
  clientMode?: boolean
  /** How often a watched capability is looked up again. */
  watchIntervalMs?: number
  maxInboundStreams?: number
  maxOutboundStreams?: number
  /** Multiaddrs put in this node's records (default: the address manager's, without /p2p). */
  announceAddrs?: () => Multiaddr[]
  /** Time source (tests). */
  clock?: Clock
}

export interface CapabilityDiscoveryComponents {
  peerId: PeerId
  privateKey: PrivateKey
  registrar: Libp2pRegistrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  addressManager: AddressManager
  logger: ComponentLogger
}

const CODE_IP4 = 4
const CODE_IP6 = 41
const CODE_P2P = 421

function ipOf (ma: Multiaddr): string | undefined {
  for (const c of ma.getComponents()) if (c.code === CODE_IP4 || c.code === CODE_IP6) return c.value
  return undefined
}

function withoutPeerId (ma: Multiaddr): Multiaddr {
  return ma.getComponents().some(c => c.code === CODE_P2P) ? ma.decapsulateCode(CODE_P2P) : ma
}

/**
 * The js-libp2p binding of LOGOS-SERVICE-DISCOVERY: REGISTER and GET_ADS on /logos/service-discovery/1.0.0 (one
 * length-prefixed request and response per stream, several requests per stream accepted as the spec asks), records
 * as signed extensible peer records, and a DiscoveryNode driving the protocol.
 *
 * KadDHT(peerID) is a table of this service's own, filled with every connected peer that speaks the discovery
 * protocol (a libp2p topology, fed by identify) and with the peers registrars name: js-libp2p's Kad-DHT keeps its
 * k-buckets private, and a table that holds only peers able to answer REGISTER and GET_ADS is the one the walks need.
 */
export class CapabilityDiscoveryService extends EventTarget implements CapabilityDiscovery, Startable {
  readonly clientMode: boolean
  readonly protocol: string
  private readonly components: CapabilityDiscoveryComponents
  private readonly init: CapabilityDiscoveryInit
  private readonly params: DiscoveryParams
  private readonly log: Logger
  private readonly clock: Clock
  private engine: DiscoveryNode | undefined
  private topologyId: string | undefined
  private readonly advertisedData = new Map<string, Uint8Array | undefined>()
  private readonly watches = new Map<string, AbortController>()
  private readonly known = new LruMap<string, bigint>(MAX_KNOWN_PROVIDERS)
  private seq: bigint

  constructor (components: CapabilityDiscoveryComponents, init: CapabilityDiscoveryInit = {}) {
    super()
    this.components = components
    this.init = init
    this.clientMode = init.clientMode === true
    this.protocol = init.protocol ?? DISCOVERY_PROTOCOL
    const { protocol: _p, clientMode: _c, watchIntervalMs: _w, maxInboundStreams: _i, maxOutboundStreams: _o, announceAddrs: _a, clock: _k, ...params } = init
    this.params = resolveParams(params)
    this.log = components.logger.forComponent('logos:discovery')
    this.clock = init.clock ?? systemClock
    // Records order by seq; starting from the clock keeps it increasing across restarts of the same identity.
    this.seq = BigInt(this.clock.now())
  }

  readonly [Symbol.toStringTag] = '@logos/capability-discovery'

  get node (): DiscoveryNode | undefined {
    return this.engine
  }

  isStarted (): boolean {
    return this.engine !== undefined
  }

  async start (): Promise<void> {
    const { peerId, privateKey } = this.components
    const transport: DiscoveryTransport = { request: async (peer, bytes, options) => await this.request(peer, bytes, options) }
    this.engine = new DiscoveryNode({
      privateKey,
      self: peerId.toString(),
      selfBytes: peerId.toMultihash().bytes,
      params: this.params,
      transport,
      clock: this.clock,
      clientMode: this.clientMode
    })
    if (!this.clientMode) {
      await this.components.registrar.handle(this.protocol, (stream, connection) => {
        this.serve(stream, connection).catch((err: unknown) => { this.log.error('serving %p failed: %e', connection.remotePeer, err) })
      }, {
        maxInboundStreams: this.init.maxInboundStreams ?? MAX_INBOUND_STREAMS,
        maxOutboundStreams: this.init.maxOutboundStreams ?? MAX_OUTBOUND_STREAMS
      })
    }
    this.topologyId = await this.components.registrar.register(this.protocol, {
      onConnect: (remote) => { void this.admit(remote) }
    })
    for (const peer of await this.components.peerStore.all()) {
      if (peer.protocols.includes(this.protocol)) this.engine.addPeer(this.peerRef(peer.id, peer.addresses.map(a => a.multiaddr)))
    }
    this.engine.startMaintenance(this.params.maintenanceIntervalMs, this.params.refreshIntervalMs)
  }

  async stop (): Promise<void> {
    for (const w of this.watches.values()) w.abort()
    this.watches.clear()
    this.engine?.stop()
    this.engine = undefined
    if (this.topologyId !== undefined) this.components.registrar.unregister(this.topologyId)
    this.topologyId = undefined
    if (!this.clientMode) await this.components.registrar.unhandle(this.protocol)
  }

  advertised (): string[] {
    return [...this.advertisedData.keys()]
  }

  async advertise (protocol: string, options: { data?: Uint8Array, signal?: AbortSignal } = {}): Promise<void> {
    const engine = this.started()
    if (this.clientMode) throw new ClientModeError()
    const service = options.data === undefined ? { id: protocol } : { id: protocol, data: options.data }
    checkServiceData(service)
    this.seq = this.seq + 1n > BigInt(this.clock.now()) ? this.seq + 1n : BigInt(this.clock.now())
    const addrs = (this.init.announceAddrs?.() ?? this.components.addressManager.getAddresses()).map(a => withoutPeerId(a).bytes)
    const bytes = await raceSignal(sealAdvertisement(this.components.privateKey, { seq: this.seq, addrs, services: [service] }), options.signal)
    engine.advertise(protocol, serviceIdOf(protocol), bytes)
    this.advertisedData.set(protocol, options.data)
  }

  stopAdvertising (protocol: string): void {
    this.engine?.stopAdvertising(serviceIdOf(protocol))
    this.advertisedData.delete(protocol)
  }

  async findProviders (protocol: string, options: FindProvidersOptions = {}): Promise<ServiceProvider[]> {
    const engine = this.started()
    const result = await engine.lookup(serviceIdOf(protocol), {
      limit: options.limit,
      signal: options.signal,
      onProvider: (found) => { this.announce(protocol, found) }
    })
    return result.providers.map(f => toProvider(protocol, f))
  }

  startDiscovering (protocol: string): void {
    this.started()
    if (this.watches.has(protocol)) return
    const controller = new AbortController()
    this.watches.set(protocol, controller)
    const loop = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        await this.findProviders(protocol, { signal: controller.signal }).catch((err: unknown) => {
          if (!controller.signal.aborted) this.log('watching %s: %e', protocol, err)
        })
        await this.clock.sleep(this.init.watchIntervalMs ?? WATCH_INTERVAL_MS, { signal: controller.signal })
      }
    }
    loop().catch(() => {})
  }

  stopDiscovering (protocol: string): void {
    this.watches.get(protocol)?.abort()
    this.watches.delete(protocol)
  }

  private started (): DiscoveryNode {
    if (this.engine === undefined) throw new NotStartedError()
    return this.engine
  }

  /** Emits `provider` for a provider (or a newer record of one) not seen before. */
  private announce (protocol: string, found: FoundProvider): void {
    const k = `${protocol}\n${found.ad.peerIdString}`
    const seen = this.known.get(k)
    if (seen !== undefined && seen >= found.ad.seq) return
    this.known.set(k, found.ad.seq)
    this.dispatchEvent(new CustomEvent<ServiceProvider>('provider', { detail: toProvider(protocol, found) }))
  }

  private peerRef (peerId: PeerId, addrs: Multiaddr[]): PeerRef {
    const idBytes = peerId.toMultihash().bytes
    return { id: peerId.toString(), idBytes, key: peerKeyOf(idBytes), addrs: addrs.map(a => withoutPeerId(a).bytes) }
  }

  private async admit (remote: PeerId): Promise<void> {
    try {
      const peer = await this.components.peerStore.get(remote)
      this.engine?.addPeer(this.peerRef(remote, peer.addresses.map(a => a.multiaddr)))
    } catch (err) {
      this.log('cannot admit %p: %e', remote, err)
    }
  }

  /** Serves REGISTER and GET_ADS on one inbound stream, one response per request, until the other side closes. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const remote = connection.remotePeer.toString()
    const ip = ipOf(connection.remoteAddr)
    for await (const message of lp.decode(streamChunks(stream), { maxDataLength: MAX_MESSAGE_SIZE })) {
      const engine = this.engine
      if (engine === undefined) break
      const from = engine.mainTable.get(remote) ?? this.peerRef(connection.remotePeer, [])
      const response = engine.handle(message.subarray(), { from, fromServes: engine.mainTable.has(remote), ip })
      if (response === undefined) {
        stream.abort(new RequestFailedError('discovery request refused: malformed, or over the requester\'s rate'))
        return
      }
      if (!stream.send(lp.encode.single(response))) await drained(stream)
    }
    await stream.close()
  }

  /** One request, one response, on a fresh stream. */
  private async request (peer: PeerRef, bytes: Uint8Array, options: { signal?: AbortSignal }): Promise<Uint8Array> {
    const { connectionManager, peerStore } = this.components
    const peerId = peerIdFromString(peer.id)
    if (peer.addrs.length > 0 && connectionManager.getConnections(peerId).length === 0) {
      await peerStore.merge(peerId, { multiaddrs: peer.addrs.map(a => multiaddr(a)) })
    }
    let stream: Stream | undefined
    try {
      stream = await connectionManager.openStream(peerId, this.protocol, { signal: options.signal })
      if (!stream.send(lp.encode.single(bytes))) await drained(stream, options.signal)
      const reader = lp.decode(stream, { maxDataLength: MAX_MESSAGE_SIZE })[Symbol.asyncIterator]()
      const pending = reader.next()
      // If the signal wins the race, the read is abandoned and rejects once the stream is aborted below.
      pending.catch(() => {})
      const next = await raceSignal(pending, options.signal)
      if (next.done === true) throw new RequestFailedError(`${peer.id} closed the stream without an answer`)
      await stream.close({ signal: options.signal })
      return next.value.subarray()
    } catch (err) {
      this.log('request to %s failed: %e', peer.id, err)
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      if (err instanceof RequestFailedError) throw err
      throw new RequestFailedError(`request to ${peer.id} failed: ${(err as Error).message}`, { cause: err })
    }
  }
}

function toProvider (protocol: string, found: FoundProvider): ServiceProvider {
  const multiaddrs: Multiaddr[] = []
  for (const a of found.ad.addrs) {
    try {
      multiaddrs.push(multiaddr(a))
    } catch {
      // an address this node cannot parse is of no use to it; the record stays valid
    }
  }
  return {
    peerId: peerIdFromString(found.ad.peerIdString),
    multiaddrs,
    serviceId: protocol,
    // A copy: the decoder hands out views into the received buffer (a Node Buffer), and callers expect a plain
    // Uint8Array they can keep or send across a process boundary.
    data: new Uint8Array(found.service.data ?? new Uint8Array(0)),
    seq: found.ad.seq
  }
}

/** The js-libp2p service factory: `services: { discovery: capabilityDiscovery({ ... }) }`. */
export function capabilityDiscovery (init: CapabilityDiscoveryInit = {}): (components: CapabilityDiscoveryComponents) => CapabilityDiscovery {
  return (components) => new CapabilityDiscoveryService(components, init)
}
