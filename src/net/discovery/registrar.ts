import type { PrivateKey } from '@libp2p/interface'
import { TokenBuckets } from '../../common/index.ts'
import { MAX_RATE_LIMITED_PEERS, SECOND_MS } from './constants.ts'
import { AdCache } from './ad-cache.ts'
import { InvalidAdvertisementError, InvalidMessageError, InvalidTicketError } from './errors.ts'
import { toHex } from './keyspace.ts'
import type { Key } from './keyspace.ts'
import { RegistrationStatus, decodeMessage, encodeMessage, messageKind } from './message.ts'
import type { DiscoveryMessage, RegistrationStatusCode, WirePeer } from './message.ts'
import type { DiscoveryParams } from './params.ts'
import { LruMap, RoutingTable } from './routing-table.ts'
import type { PeerRef, Random } from './routing-table.ts'
import { TicketKey, validateTicket } from './ticket.ts'
import { LowerBounds, baseWaitingTime } from './waiting-time.ts'
import type { WaitingTimeParams } from './waiting-time.ts'
import { AdvertisementVerifier } from './xpr.ts'

/** Who is asking, as the transport knows it. */
export interface RequestContext {
  /** The requesting peer, when known. */
  from: PeerRef | undefined
  /** Whether the requester itself serves discovery (client-mode nodes do not, and never enter tables). */
  fromServes: boolean
  /** The IP the request came from (the connection's remote address), for the IP similarity score. */
  ip: string | undefined
  /** Milliseconds since the epoch. */
  nowMs: number
}

export interface RegistrarInit {
  privateKey: PrivateKey
  /** This node's own peer id string (never returned as a closer peer to itself). */
  self: string
  params: DiscoveryParams
  /** KadDHT(peerID): where every RegT starts from. */
  mainTable: RoutingTable
  verifier?: AdvertisementVerifier
  random?: Random
}

export interface RegistrarStats {
  confirmed: number
  wait: number
  rejected: number
  getAds: number
  invalid: number
  /** Requests refused unread because their requester was over its rate. */
  rateLimited: number
}

/**
 * The registrar role of LOGOS-SERVICE-DISCOVERY ("Registrars", "Waiting Time Calculation", "Peer Table Updates"):
 * admission control with signed tickets and waiting times, the ad cache, and closer peers from per-service tables.
 * It is synchronous and transport-free: a request goes in, a response comes out, so the libp2p binding and the
 * simulator run exactly this code and its processing time can be measured per request.
 */
export class Registrar {
  readonly cache: AdCache
  readonly bounds: LowerBounds
  readonly verifier: AdvertisementVerifier
  readonly stats: RegistrarStats = { confirmed: 0, wait: 0, rejected: 0, getAds: 0, invalid: 0, rateLimited: 0 }
  private readonly ticketKey: TicketKey
  private readonly self: string
  private readonly params: DiscoveryParams
  private readonly waitParams: WaitingTimeParams
  private readonly mainTable: RoutingTable
  private readonly random: Random
  private readonly tables: LruMap<string, RoutingTable>
  private readonly limiter: TokenBuckets

  constructor (init: RegistrarInit) {
    this.ticketKey = new TicketKey(init.privateKey)
    this.self = init.self
    this.params = init.params
    this.mainTable = init.mainTable
    this.verifier = init.verifier ?? new AdvertisementVerifier(init.params.verifyCacheSize)
    this.random = init.random ?? Math.random
    this.cache = new AdCache(init.params.cacheCapacity)
    this.bounds = new LowerBounds(init.params.maxBoundEntries)
    this.tables = new LruMap(init.params.maxRegistrarTables)
    this.limiter = new TokenBuckets({ perSecond: init.params.peerRequestsPerSecond, burst: init.params.peerRequestBurst }, MAX_RATE_LIMITED_PEERS)
    this.waitParams = {
      expiryS: Math.round(init.params.advertExpiryMs / SECOND_MS),
      capacity: init.params.cacheCapacity,
      occupancyExponent: init.params.occupancyExponent,
      safety: init.params.safetyParameter,
      ipWeight: init.params.ipSimilarityWeight
    }
  }

  /** Service tables (RegT) held now. */
  get tableCount (): number {
    return this.tables.size
  }

  /**
   * Decodes, serves and encodes one request from another node; undefined means "close the stream" (malformed,
   * unknown type, or a requester over its rate). The rate comes first: a requester over it costs no decoding, no
   * verification, no signature and no table.
   */
  handleBytes (bytes: Uint8Array, ctx: RequestContext): Uint8Array | undefined {
    if (!this.limiter.take(ctx.from?.id ?? ctx.ip ?? '', ctx.nowMs)) {
      this.stats.rateLimited++
      return undefined
    }
    let request: DiscoveryMessage
    try {
      request = decodeMessage(bytes)
    } catch (err) {
      if (err instanceof InvalidMessageError) {
        this.stats.invalid++
        return undefined
      }
      throw err
    }
    const response = this.handle(request, ctx)
    return response === undefined ? undefined : encodeMessage(response)
  }

  handle (request: DiscoveryMessage, ctx: RequestContext): DiscoveryMessage | undefined {
    const kind = messageKind(request.type)
    if (kind === undefined) {
      this.stats.invalid++
      return undefined
    }
    const nowS = Math.floor(ctx.nowMs / SECOND_MS)
    this.cache.prune(nowS)
    this.bounds.prune(nowS, this.waitParams.expiryS)
    return kind === 'register' ? this.register(request, ctx, nowS) : this.getAds(request, ctx)
  }

  /** Peers learnt since a table was built join the tables built so far (the spec's opportunistic updates). */
  notePeer (peer: PeerRef): void {
    if (peer.id === this.self) return
    for (const t of this.tables.values()) t.add(peer)
  }

  forgetPeer (id: string): void {
    for (const t of this.tables.values()) t.remove(id)
  }

  /** RegT(service): built from KadDHT(peerID) the first time a service is asked about. */
  private table (service: string, serviceId: Key): RoutingTable {
    let t = this.tables.get(service)
    if (t === undefined) {
      t = new RoutingTable(serviceId, this.params.serviceBuckets, this.params.bucketSize)
      for (const p of this.mainTable.peers()) t.add(p)
      this.tables.set(service, t)
    }
    return t
  }

  private closerPeers (table: RoutingTable, requester: string | undefined): WirePeer[] {
    const exclude = new Set<string>([this.self])
    if (requester !== undefined) exclude.add(requester)
    return table.onePerBucket(exclude, this.random).map(p => ({ id: p.idBytes, addrs: p.addrs }))
  }

  private reply (request: DiscoveryMessage, status: RegistrationStatusCode, closerPeers: WirePeer[] = []): DiscoveryMessage {
    if (status === RegistrationStatus.REJECTED) this.stats.rejected++
    else if (status === RegistrationStatus.CONFIRMED) this.stats.confirmed++
    return { type: request.type, closerPeers, register: { status } }
  }

  /** REGISTER (LOGOS-SERVICE-DISCOVERY, "Handling REGISTER requests" and the REGISTER() procedure). */
  private register (request: DiscoveryMessage, ctx: RequestContext, nowS: number): DiscoveryMessage {
    const key = request.key
    const adBytes = request.register?.advertisement
    if (key === undefined || key.byteLength !== 32 || adBytes === undefined || adBytes.byteLength === 0) {
      return this.reply(request, RegistrationStatus.REJECTED)
    }
    let ad
    try {
      ad = this.verifier.openFor(adBytes, key).ad
    } catch (err) {
      if (err instanceof InvalidAdvertisementError) return this.reply(request, RegistrationStatus.REJECTED)
      throw err
    }
    const service = toHex(key)
    // An older record than the one held for this advertiser (or the same seq with other bytes) is refused outright.
    if (!this.cache.accepts(service, ad.peerIdString, ad)) return this.reply(request, RegistrationStatus.REJECTED)
    const ticket = request.register?.ticket
    if (ticket !== undefined) {
      try {
        validateTicket(ticket, adBytes, key, this.ticketKey, nowS, Math.ceil(this.params.registrationWindowMs / SECOND_MS))
      } catch (err) {
        if (err instanceof InvalidTicketError) return this.reply(request, RegistrationStatus.REJECTED)
        throw err
      }
    }
    const table = this.table(service, key)
    if (ctx.from !== undefined && ctx.fromServes) table.add(ctx.from)
    const closer = this.closerPeers(table, ctx.from?.id)

    // IP-level lower bounds guard the IP score against grinding; with the score weighted 0 (one shared loopback
    // address) they would only couple unrelated advertisers, so they apply when the score does.
    const ips = ctx.ip === undefined || this.waitParams.ipWeight === 0 ? [] : [ctx.ip]
    const base = baseWaitingTime(this.waitParams, this.cache.size, this.cache.count(service), this.cache.ipTree.score(ctx.ip))
    const wait = this.bounds.apply(service, ips, base, nowS)
    const tInit = ticket?.tInit ?? nowS
    const remaining = wait - (nowS - tInit)

    if (remaining <= 0) {
      const admitted = this.cache.put({ service, peer: ad.peerIdString, ad, ip: ctx.ip, admittedS: nowS, expiresS: nowS + this.waitParams.expiryS })
      if (admitted === 'admitted') return this.reply(request, RegistrationStatus.CONFIRMED, closer)
      if (admitted === 'stale') return this.reply(request, RegistrationStatus.REJECTED)
    }
    // Still waiting (or the cache is full): a fresh signed ticket carrying the accumulated time since t_init.
    const waitFor = Math.max(1, Math.min(this.waitParams.expiryS, remaining))
    this.bounds.record(service, ips, base, nowS)
    this.stats.wait++
    return {
      type: request.type,
      closerPeers: closer,
      register: {
        status: RegistrationStatus.WAIT,
        ticket: this.ticketKey.sign({ advertisement: adBytes, tInit, tMod: nowS, tWaitFor: waitFor }, key)
      }
    }
  }

  /** GET_ADS (LOGOS-SERVICE-DISCOVERY, "Handling GET_ADS requests"): up to F_return ads and closer peers. */
  private getAds (request: DiscoveryMessage, ctx: RequestContext): DiscoveryMessage {
    this.stats.getAds++
    const key = request.key
    if (key === undefined || key.byteLength !== 32) return { type: request.type, closerPeers: [], getAds: { advertisements: [] } }
    const service = toHex(key)
    const table = this.table(service, key)
    if (ctx.from !== undefined && ctx.fromServes) table.add(ctx.from)
    const ads = this.cache.sample(service, this.params.fReturn, this.random).map(e => e.ad.bytes)
    return { type: request.type, closerPeers: this.closerPeers(table, ctx.from?.id), getAds: { advertisements: ads } }
  }
}
