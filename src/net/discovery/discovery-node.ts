import type { PrivateKey } from '@libp2p/interface'
import {
  INITIAL_REFRESHES, INITIAL_REFRESH_PAUSE_MS, MAIN_TABLE_BUCKETS, MAX_ADVERTISED_SERVICES, MAX_CONSECUTIVE_FAILURES, REFILL_DEBOUNCE_MS
} from './constants.ts'
import { Advertiser } from './advertiser.ts'
import { Discoverer } from './discoverer.ts'
import type { LookupOptions, LookupResult } from './discoverer.ts'
import { ClientModeError, TooManyServicesError } from './errors.ts'
import { peerKeyOf } from './keyspace.ts'
import type { Key } from './keyspace.ts'
import type { WirePeer } from './message.ts'
import type { DiscoveryParams } from './params.ts'
import { peerFromWire as defaultPeerFromWire } from './peers.ts'
import { Registrar } from './registrar.ts'
import type { RequestContext } from './registrar.ts'
import { RoutingTable } from './routing-table.ts'
import type { PeerRef, Random } from './routing-table.ts'
import type { Clock, DiscoveryTransport } from './transport.ts'
import { AdvertisementVerifier } from './xpr.ts'

export interface DiscoveryNodeInit {
  privateKey: PrivateKey
  /** This node's peer id string and bytes. */
  self: string
  selfBytes: Uint8Array
  params: DiscoveryParams
  transport: DiscoveryTransport
  clock: Clock
  /** Client (light) mode: discover only; no registrar, no advertiser, never in anyone's tables. */
  clientMode?: boolean
  random?: Random
  peerFromWire?: (p: WirePeer) => PeerRef | undefined
  verifier?: AdvertisementVerifier
  /** Refill advertisers shortly after new peers join (default true; the simulator drives refills itself). */
  autoRefill?: boolean
}

/**
 * One discovery participant, whatever carries its messages: KadDHT(peerID) (`mainTable`), and the three roles of
 * LOGOS-SERVICE-DISCOVERY wired to it. The libp2p service and the simulator both drive this class.
 */
export class DiscoveryNode {
  readonly self: string
  readonly selfKey: Key
  readonly clientMode: boolean
  readonly mainTable: RoutingTable
  readonly registrar: Registrar | undefined
  readonly advertiser: Advertiser | undefined
  readonly discoverer: Discoverer
  private readonly clock: Clock
  private readonly autoRefill: boolean
  private refillTimer: ReturnType<typeof setTimeout> | undefined
  /** Failed requests in a row per peer of the main table (bounded by it: entries go when the peer goes). */
  private readonly failures = new Map<string, number>()
  private maintenance: AbortController | undefined

  constructor (init: DiscoveryNodeInit) {
    this.self = init.self
    this.selfKey = peerKeyOf(init.selfBytes)
    this.clientMode = init.clientMode === true
    this.clock = init.clock
    this.autoRefill = init.autoRefill !== false
    this.mainTable = new RoutingTable(this.selfKey, MAIN_TABLE_BUCKETS, init.params.bucketSize)
    const verifier = init.verifier ?? new AdvertisementVerifier(init.params.verifyCacheSize)
    const peerFromWire = init.peerFromWire ?? defaultPeerFromWire
    const onPeerFailed = (peer: PeerRef): void => { this.peerFailed(peer.id) }
    const onPeerAnswered = (peer: PeerRef): void => { this.addPeer(peer) }
    if (!this.clientMode) {
      this.registrar = new Registrar({ privateKey: init.privateKey, self: init.self, params: init.params, mainTable: this.mainTable, verifier, random: init.random })
      this.advertiser = new Advertiser({
        self: init.self, params: init.params, transport: init.transport, clock: init.clock, mainTable: this.mainTable, peerFromWire, onPeerFailed, onPeerAnswered, random: init.random
      })
    }
    const registrar = this.registrar
    this.discoverer = new Discoverer({
      self: init.self,
      params: init.params,
      transport: init.transport,
      clock: init.clock,
      mainTable: this.mainTable,
      verifier,
      peerFromWire,
      onPeerFailed,
      onPeerAnswered,
      random: init.random,
      local: registrar === undefined ? undefined : (request) => registrar.handle(request, { from: undefined, fromServes: false, ip: undefined, nowMs: this.clock.now() })
    })
  }

  /**
   * A peer that serves discovery joined (a connection, a bootstrap entry): it enters KadDHT(peerID) and, through it,
   * every service table; advertisers get a chance to place ads with it shortly after.
   */
  addPeer (peer: PeerRef): boolean {
    if (peer.id === this.self) return false
    this.failures.delete(peer.id)
    const isNew = !this.mainTable.has(peer.id)
    const added = this.mainTable.add(peer)
    this.registrar?.notePeer(peer)
    this.advertiser?.notePeer(peer)
    this.discoverer.notePeer(peer)
    if (isNew && added) this.scheduleRefill()
    return added
  }

  /** A request to `id` failed: after MAX_CONSECUTIVE_FAILURES in a row it leaves every table. */
  peerFailed (id: string): void {
    if (!this.mainTable.has(id)) {
      this.removePeer(id)
      return
    }
    const n = (this.failures.get(id) ?? 0) + 1
    if (n >= MAX_CONSECUTIVE_FAILURES) this.removePeer(id)
    else this.failures.set(id, n)
  }

  removePeer (id: string): void {
    this.failures.delete(id)
    this.mainTable.remove(id)
    this.registrar?.forgetPeer(id)
    this.advertiser?.forgetPeer(id)
    this.discoverer.forgetPeer(id)
  }

  /** Serves one REGISTER or GET_ADS; undefined closes the stream (malformed, or this node does not serve). */
  handle (request: Uint8Array, ctx: Omit<RequestContext, 'nowMs'>): Uint8Array | undefined {
    if (this.registrar === undefined) return undefined
    return this.registrar.handleBytes(request, { ...ctx, nowMs: this.clock.now() })
  }

  /** Starts placing `adBytes` (a signed record listing `protocol`) for the service id of `protocol`. */
  advertise (protocol: string, serviceId: Key, adBytes: Uint8Array): void {
    if (this.advertiser === undefined) throw new ClientModeError()
    if (!this.advertiser.has(serviceId) && this.advertiser.services >= MAX_ADVERTISED_SERVICES) {
      throw new TooManyServicesError(`already advertising ${MAX_ADVERTISED_SERVICES} services`)
    }
    this.advertiser.advertise(protocol, serviceId, adBytes)
  }

  stopAdvertising (serviceId: Key): boolean {
    return this.advertiser?.stop(serviceId) ?? false
  }

  async lookup (serviceId: Key, options: LookupOptions = {}): Promise<LookupResult> {
    return await this.discoverer.lookup(serviceId, options)
  }

  /**
   * Fills KadDHT(peerID) by a walk towards a random key: GET_ADS for a random service id (nothing is registered
   * there), every registrar that answers joins the table, and their closerPeers (one per bucket) lead the walk on.
   * It plays the part of Kad-DHT's bucket refresh for the peers that serve discovery.
   */
  async refreshTable (options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = new Uint8Array(32)
    crypto.getRandomValues(key)
    try {
      await this.discoverer.lookup(key, { limit: 1, signal: options.signal })
    } finally {
      this.discoverer.dropTable(key)
    }
  }

  /**
   * Maintenance: refresh walks right after the first peer is known (INITIAL_REFRESHES, a second apart), then every
   * `refreshIntervalMs`; and every `intervalMs` a top-up of every advertiser's buckets (peers learnt through other
   * walks become registrars too).
   */
  startMaintenance (intervalMs: number, refreshIntervalMs: number): void {
    if (this.maintenance !== undefined) return
    const controller = new AbortController()
    this.maintenance = controller
    const signal = controller.signal
    let refreshes = 0
    let lastRefresh = 0
    const loop = async (): Promise<void> => {
      while (!signal.aborted) {
        const warming = refreshes < INITIAL_REFRESHES
        if (this.mainTable.size > 0 && (warming || this.clock.now() - lastRefresh >= refreshIntervalMs)) {
          await this.refreshTable({ signal }).catch(() => {})
          refreshes++
          lastRefresh = this.clock.now()
        }
        this.advertiser?.refill()
        const pause = refreshes < INITIAL_REFRESHES ? INITIAL_REFRESH_PAUSE_MS : Math.min(intervalMs, refreshIntervalMs)
        await this.clock.sleep(pause, { signal })
      }
    }
    loop().catch(() => {})
  }

  stop (): void {
    this.maintenance?.abort()
    this.maintenance = undefined
    if (this.refillTimer !== undefined) clearTimeout(this.refillTimer)
    this.refillTimer = undefined
    this.advertiser?.stopAll()
  }

  private scheduleRefill (): void {
    if (!this.autoRefill || this.advertiser === undefined || this.advertiser.services === 0 || this.refillTimer !== undefined) return
    // Real time on purpose: this only batches a burst of joins on a live node. The simulator calls refill() itself.
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined
      this.advertiser?.refill()
    }, REFILL_DEBOUNCE_MS)
    this.refillTimer.unref?.()
  }
}
