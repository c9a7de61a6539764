import { FAILURE_COOLDOWN_MS, SECOND_MS } from './constants.ts'
import { RequestFailedError } from './errors.ts'
import { toHex } from './keyspace.ts'
import type { Key } from './keyspace.ts'
import { MessageType, RegistrationStatus, decodeMessage, encodeMessage, messageKind } from './message.ts'
import type { Ticket, WirePeer } from './message.ts'
import type { DiscoveryParams } from './params.ts'
import { RoutingTable } from './routing-table.ts'
import type { PeerRef, Random } from './routing-table.ts'
import { clockDeadline } from './transport.ts'
import type { Clock, DiscoveryTransport } from './transport.ts'

export interface AdvertiserInit {
  self: string
  params: DiscoveryParams
  transport: DiscoveryTransport
  clock: Clock
  mainTable: RoutingTable
  peerFromWire: (p: WirePeer) => PeerRef | undefined
  /** Every peer a registrar named in closerPeers (the node may add it to its other tables). */
  onPeerLearnt?: (peer: PeerRef) => void
  /** A registrar that did not answer. */
  onPeerFailed?: (peer: PeerRef) => void
  /** A registrar that answered. */
  onPeerAnswered?: (peer: PeerRef) => void
  random?: Random
}

export interface AdvertisementState {
  protocol: string
  serviceId: Key
  /** Registrars holding the ad now (confirmed, not yet expired). */
  registeredAt: string[]
  /** Registrations in progress or held, per bucket of AdvT. */
  ongoing: number
}

/** One advertised service: its table AdvT, its ad bytes, and the registrations in flight per bucket. */
class Placement {
  readonly protocol: string
  readonly serviceId: Key
  readonly adBytes: Uint8Array
  readonly table: RoutingTable
  readonly ongoing: Array<Set<string>>
  /** Registrars that rejected this ad or failed: getRandomNode never hands them out again for this ad. */
  readonly spent = new Set<string>()
  /** Registrars that did not answer, and until when they are left alone. */
  readonly cooling = new Map<string, number>()
  readonly registered = new Set<string>()
  readonly controller = new AbortController()

  constructor (protocol: string, serviceId: Key, adBytes: Uint8Array, table: RoutingTable) {
    this.protocol = protocol
    this.serviceId = serviceId
    this.adBytes = adBytes
    this.table = table
    this.ongoing = Array.from({ length: table.bucketCount }, () => new Set<string>())
  }
}

/**
 * The advertiser role of LOGOS-SERVICE-DISCOVERY ("Advertisers", ADVERTISE and ADVERTISE_SINGLE): per service, an
 * advertise table AdvT(service_id) seeded from KadDHT(peerID); in every bucket up to K_register registrations alive
 * or in progress, each at a registrar picked at random; each registration follows the registrar's answers (WAIT:
 * sleep t_wait_for and retry with the ticket; CONFIRMED: hold for E, then free the slot; REJECTED: give that
 * registrar up for this ad), and every closerPeers list grows AdvT, so the walk reaches buckets close to the service.
 */
export class Advertiser {
  private readonly init: AdvertiserInit
  private readonly random: Random
  private readonly placements = new Map<string, Placement>()

  constructor (init: AdvertiserInit) {
    this.init = init
    this.random = init.random ?? Math.random
  }

  get services (): number {
    return this.placements.size
  }

  has (serviceId: Key): boolean {
    return this.placements.has(toHex(serviceId))
  }

  state (): AdvertisementState[] {
    return [...this.placements.values()].map(p => ({
      protocol: p.protocol,
      serviceId: p.serviceId,
      registeredAt: [...p.registered],
      ongoing: p.ongoing.reduce((n, s) => n + s.size, 0)
    }))
  }

  /** Starts (or restarts, with new ad bytes) placing the ad of one service. */
  advertise (protocol: string, serviceId: Key, adBytes: Uint8Array): void {
    const hex = toHex(serviceId)
    this.placements.get(hex)?.controller.abort()
    const table = new RoutingTable(serviceId, this.init.params.serviceBuckets, this.init.params.bucketSize)
    for (const p of this.init.mainTable.peers()) table.add(p)
    const placement = new Placement(protocol, serviceId, adBytes, table)
    this.placements.set(hex, placement)
    this.fill(placement)
  }

  stop (serviceId: Key): boolean {
    const hex = toHex(serviceId)
    const p = this.placements.get(hex)
    if (p === undefined) return false
    p.controller.abort()
    this.placements.delete(hex)
    return true
  }

  stopAll (): void {
    for (const p of this.placements.values()) p.controller.abort()
    this.placements.clear()
  }

  /** A peer joined the main table: it is a candidate registrar for every advertised service. */
  notePeer (peer: PeerRef): void {
    if (peer.id === this.init.self) return
    for (const p of this.placements.values()) p.table.add(peer)
  }

  forgetPeer (id: string): void {
    for (const p of this.placements.values()) p.table.remove(id)
  }

  /** Tops every bucket of every service up to K_register (the maintenance pass). */
  refill (): void {
    for (const p of this.placements.values()) this.fill(p)
  }

  private fill (p: Placement): void {
    if (p.controller.signal.aborted) return
    const k = this.init.params.kRegister
    const now = this.init.clock.now()
    for (const [id, until] of p.cooling) if (until <= now) p.cooling.delete(id)
    for (let i = 0; i < p.table.bucketCount; i++) {
      const ongoing = p.ongoing[i] as Set<string>
      while (ongoing.size < k) {
        const exclude = new Set([...ongoing, ...p.spent, ...p.cooling.keys(), this.init.self])
        const registrar = p.table.randomIn(i, exclude, this.random)
        if (registrar === undefined) break
        ongoing.add(registrar.id)
        void this.registerWith(p, registrar, i)
      }
    }
  }

  /** ADVERTISE_SINGLE: keeps one registration with one registrar going until it is confirmed and expires. */
  private async registerWith (p: Placement, registrar: PeerRef, bucket: number): Promise<void> {
    const { clock, transport, params } = this.init
    const signal = p.controller.signal
    let ticket: Ticket | undefined
    try {
      while (!signal.aborted) {
        const request = encodeMessage({
          type: MessageType.REGISTER,
          key: p.serviceId,
          closerPeers: [],
          register: ticket === undefined ? { advertisement: p.adBytes } : { advertisement: p.adBytes, ticket }
        })
        let response
        try {
          const deadline = clockDeadline(clock, params.requestTimeoutMs, signal)
          const bytes = await transport.request(registrar, request, { signal: deadline.signal }).finally(deadline.done)
          response = decodeMessage(bytes)
          if (messageKind(response.type) !== 'register' || response.register?.status === undefined) {
            throw new RequestFailedError('registrar answered REGISTER with something else')
          }
        } catch {
          if (signal.aborted) return
          // Unreachable or slow: leave it alone for a while (maintenance retries it), and let the node count it.
          p.cooling.set(registrar.id, clock.now() + FAILURE_COOLDOWN_MS)
          this.init.onPeerFailed?.(registrar)
          return
        }
        this.init.onPeerAnswered?.(registrar)
        this.learn(p, response.closerPeers)
        const status = response.register.status
        if (status === RegistrationStatus.CONFIRMED) {
          p.registered.add(registrar.id)
          try {
            await clock.sleep(params.advertExpiryMs, { signal })
          } finally {
            p.registered.delete(registrar.id)
          }
          return
        }
        if (status === RegistrationStatus.WAIT && response.register.ticket !== undefined) {
          ticket = response.register.ticket
          const waitMs = Math.min(params.advertExpiryMs, ticket.tWaitFor * SECOND_MS)
          await clock.sleep(waitMs, { signal })
          continue
        }
        // REJECTED (or a WAIT without a ticket): "SHOULD NOT attempt further registrations with this registrar".
        p.spent.add(registrar.id)
        return
      }
    } catch {
      // aborted while sleeping: the service stopped or its ad changed
    } finally {
      p.ongoing[bucket]?.delete(registrar.id)
      if (!signal.aborted) this.fill(p)
    }
  }

  private learn (p: Placement, closer: WirePeer[]): void {
    let grew = false
    for (const wp of closer) {
      const peer = this.init.peerFromWire(wp)
      if (peer === undefined || peer.id === this.init.self) continue
      if (!p.table.has(peer.id) && p.table.add(peer)) grew = true
      this.init.onPeerLearnt?.(peer)
    }
    if (grew) this.fill(p)
  }
}
