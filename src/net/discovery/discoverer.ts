import { throwIfAborted } from '../../common/index.ts'
import { LOOKUP_ATTEMPTS_FACTOR, MAX_SEARCH_TABLES } from './constants.ts'
import { InvalidAdvertisementError, RequestFailedError } from './errors.ts'
import { toHex } from './keyspace.ts'
import type { Key } from './keyspace.ts'
import { MessageType, decodeMessage, encodeMessage, messageKind } from './message.ts'
import type { DiscoveryMessage, WirePeer } from './message.ts'
import type { DiscoveryParams } from './params.ts'
import { LruMap, RoutingTable } from './routing-table.ts'
import type { PeerRef, Random } from './routing-table.ts'
import { clockDeadline } from './transport.ts'
import type { Clock, DiscoveryTransport } from './transport.ts'
import type { Advertisement, AdvertisementVerifier, ServiceInfo } from './xpr.ts'

/** A verified provider: the advertisement and the entry for the service looked up. */
export interface FoundProvider {
  ad: Advertisement
  service: ServiceInfo
}

export interface LookupOptions {
  /**
   * Stop once this many providers are found (default F_lookup), counting at most `lookupAdsPerRegistrar` new ones
   * per registrar; at most this many are returned.
   */
  limit?: number
  signal?: AbortSignal
  /**
   * Called once per provider returned: as it is found for those that count towards the limit, at the end of the walk
   * for those past a registrar's share that fill a result short of the limit.
   */
  onProvider?: (provider: FoundProvider) => void
}

export interface LookupResult {
  providers: FoundProvider[]
  /** GET_ADS requests sent. */
  messages: number
  /** Requests that failed. */
  failures: number
  /** Ads refused (forged, malformed, or for another service). */
  refused: number
}

export interface DiscovererInit {
  self: string
  params: DiscoveryParams
  transport: DiscoveryTransport
  /** Request deadlines run on it (simulated time in the simulator). */
  clock: Clock
  mainTable: RoutingTable
  verifier: AdvertisementVerifier
  peerFromWire: (p: WirePeer) => PeerRef | undefined
  /** Serves GET_ADS from this node's own registrar without a message (server nodes); undefined for light clients. */
  local?: (request: DiscoveryMessage) => DiscoveryMessage | undefined
  onPeerLearnt?: (peer: PeerRef) => void
  /** A registrar answered: it serves discovery, whatever table it came from. */
  onPeerAnswered?: (peer: PeerRef) => void
  onPeerFailed?: (peer: PeerRef) => void
  random?: Random
}

/**
 * The discoverer role of LOGOS-SERVICE-DISCOVERY ("Discoverers", LOOKUP): a search table DiscT(service_id) seeded from
 * KadDHT(peerID) and kept between lookups; the walk goes from the farthest bucket b_0 to the closest, asks up to
 * K_lookup random registrars per bucket (never one twice), verifies every ad, grows DiscT from closerPeers, and
 * stops at F_lookup (or the caller's limit) distinct advertisers or when no unqueried registrar is left. Registrars of
 * one bucket are asked in parallel; buckets follow one another, as the spec's walk does. Our one departure: only
 * `lookupAdsPerRegistrar` new advertisers of each registrar count towards the stop, so a few Sybil registrars
 * answering F_return ads each cannot end the walk before it reaches the registrars close to the service (the others
 * are kept and fill the result if the walk ends short of the limit).
 */
export class Discoverer {
  private readonly init: DiscovererInit
  private readonly random: Random
  private readonly tables = new LruMap<string, RoutingTable>(MAX_SEARCH_TABLES)

  constructor (init: DiscovererInit) {
    this.init = init
    this.random = init.random ?? Math.random
  }

  /** Forgets the search table of a service (one-off walks, such as table refreshes, keep none). */
  dropTable (serviceId: Key): void {
    this.tables.delete(toHex(serviceId))
  }

  table (serviceId: Key): RoutingTable {
    const hex = toHex(serviceId)
    let t = this.tables.get(hex)
    if (t === undefined) {
      t = new RoutingTable(serviceId, this.init.params.serviceBuckets, this.init.params.bucketSize)
      for (const p of this.init.mainTable.peers()) t.add(p)
      this.tables.set(hex, t)
    }
    return t
  }

  notePeer (peer: PeerRef): void {
    if (peer.id === this.init.self) return
    for (const t of this.tables.values()) t.add(peer)
  }

  forgetPeer (id: string): void {
    for (const t of this.tables.values()) t.remove(id)
  }

  async lookup (serviceId: Key, options: LookupOptions = {}): Promise<LookupResult> {
    const { params } = this.init
    const limit = options.limit ?? params.fLookup
    const table = this.table(serviceId)
    // Providers that count towards the stopping rule (at most lookupAdsPerRegistrar new ones per registrar), and the
    // other verified ones (a registrar past its share): these fill the result only if the walk ends short of the
    // limit. Both are bounded by the ads of the registrars asked (2 x K_lookup per bucket, MAX_ADS_PER_RESPONSE each).
    const counted = new Map<string, FoundProvider>()
    const spare = new Map<string, FoundProvider>()
    const share = new Map<string, number>()
    const result: LookupResult = { providers: [], messages: 0, failures: 0, refused: 0 }
    const request = { type: MessageType.GET_ADS, key: serviceId, closerPeers: [] }
    const accept = (registrar: string, ads: Uint8Array[]): void => {
      for (const bytes of ads) {
        if (counted.size >= limit) return
        let verified: FoundProvider
        try {
          verified = this.init.verifier.openFor(bytes, serviceId)
        } catch (err) {
          if (!(err instanceof InvalidAdvertisementError)) throw err
          result.refused++
          continue
        }
        const id = verified.ad.peerIdString
        if (id === this.init.self) continue
        const known = counted.get(id)
        if (known !== undefined) {
          if (known.ad.seq < verified.ad.seq) counted.set(id, verified)
          continue
        }
        const kept = spare.get(id)
        const newest = kept !== undefined && kept.ad.seq >= verified.ad.seq ? kept : verified
        const used = share.get(registrar) ?? 0
        if (used >= params.lookupAdsPerRegistrar) {
          spare.set(id, newest)
          continue
        }
        share.set(registrar, used + 1)
        spare.delete(id)
        counted.set(id, newest)
        options.onProvider?.(newest)
      }
    }

    const local = this.init.local?.(request)
    if (local?.getAds !== undefined) accept(this.init.self, local.getAds.advertisements)

    const queried = new Set<string>([this.init.self])
    for (let i = 0; i < table.bucketCount && counted.size < limit; i++) {
      // K_lookup registrars of this bucket must answer; one that fails is replaced by another, within a bound.
      let answered = 0
      let attempts = 0
      while (answered < params.kLookup && attempts < params.kLookup * LOOKUP_ATTEMPTS_FACTOR && counted.size < limit) {
        throwIfAborted(options.signal)
        const batch: PeerRef[] = []
        while (answered + batch.length < params.kLookup) {
          const p = table.randomIn(i, queried, this.random)
          if (p === undefined) break
          queried.add(p.id)
          batch.push(p)
        }
        if (batch.length === 0) break
        attempts += batch.length
        result.messages += batch.length
        const replies = await Promise.allSettled(batch.map(async p => await this.ask(p, request, options.signal)))
        throwIfAborted(options.signal)
        replies.forEach((r, j) => {
          const peer = batch[j] as PeerRef
          if (r.status === 'rejected') {
            result.failures++
            this.init.onPeerFailed?.(peer)
            return
          }
          answered++
          this.init.onPeerAnswered?.(peer)
          for (const wp of r.value.closerPeers) {
            const learnt = this.init.peerFromWire(wp)
            if (learnt === undefined || learnt.id === this.init.self) continue
            table.add(learnt)
            this.init.onPeerLearnt?.(learnt)
          }
          accept(peer.id, r.value.getAds?.advertisements ?? [])
        })
      }
    }
    result.providers = [...counted.values()]
    for (const p of spare.values()) {
      if (result.providers.length >= limit) break
      result.providers.push(p)
      options.onProvider?.(p)
    }
    return result
  }

  private async ask (peer: PeerRef, request: DiscoveryMessage, signal: AbortSignal | undefined): Promise<DiscoveryMessage> {
    const deadline = clockDeadline(this.init.clock, this.init.params.requestTimeoutMs, signal)
    const bytes = await this.init.transport.request(peer, encodeMessage(request), { signal: deadline.signal }).finally(deadline.done)
    const response = decodeMessage(bytes)
    if (messageKind(response.type) !== 'getAds') throw new RequestFailedError('registrar answered GET_ADS with something else')
    return response
  }
}
