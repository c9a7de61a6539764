import { IpTree } from './ip-tree.ts'
import { bytesEqual } from './keyspace.ts'
import type { Random } from './routing-table.ts'
import type { Advertisement } from './xpr.ts'

/** What `put` did: admitted (new or replacing), refused for want of room, or refused as not newer than the entry held. */
export type PutResult = 'admitted' | 'full' | 'stale'

export interface CachedAd {
  /** Hex of the service id the ad was registered under (an entry is scoped to exactly one service). */
  service: string
  /** The advertiser's peer id string (from the ad). */
  peer: string
  ad: Advertisement
  /** The IP the registration came from (the connection's, not the ad's), counted in the IP tree. */
  ip: string | undefined
  admittedS: number
  expiresS: number
}

/**
 * The registrar's ad_cache (LOGOS-SERVICE-DISCOVERY, "Registrars"): one entry per (service, advertiser), each expiring
 * E after admission, at most `capacity` entries, with the IP tree counting one address per entry. Every entry lives
 * the same E, so admission order is expiry order and a Map in insertion order prunes in O(expired). The cache never
 * evicts a live entry to make room: admission control (the waiting time) is what keeps it from filling.
 */
export class AdCache {
  readonly capacity: number
  readonly ipTree = new IpTree()
  private readonly entries = new Map<string, CachedAd>()
  private readonly byService = new Map<string, Map<string, CachedAd>>()

  constructor (capacity: number) {
    this.capacity = capacity
  }

  get size (): number {
    return this.entries.size
  }

  /** Distinct services with at least one entry. */
  get services (): number {
    return this.byService.size
  }

  /** c(service): entries for one service. */
  count (service: string): number {
    return this.byService.get(service)?.size ?? 0
  }

  get (service: string, peer: string): CachedAd | undefined {
    return this.byService.get(service)?.get(peer)
  }

  /**
   * Whether `ad` may replace what the cache holds for (service, peer): nothing held, a higher seq, or the very same
   * record (same seq, same bytes: a refresh). Decision (EXTENSIBLE-PEER-RECORDS orders records by seq; the discovery
   * spec does not say what a registrar does with an older one): a record whose seq is lower, or equal with other
   * bytes, is refused, so a replay of an advertiser's old record can neither replace its current one nor extend the
   * old one's life.
   */
  accepts (service: string, peer: string, ad: Advertisement): boolean {
    const known = this.get(service, peer)
    if (known === undefined || ad.seq > known.ad.seq) return true
    return ad.seq === known.ad.seq && bytesEqual(ad.bytes, known.ad.bytes)
  }

  /** Admits or replaces the entry of (service, peer): refused when it is new and the cache is full, or stale (see accepts). */
  put (entry: CachedAd): PutResult {
    if (!this.accepts(entry.service, entry.peer, entry.ad)) return 'stale'
    const known = this.get(entry.service, entry.peer)
    if (known === undefined && this.entries.size >= this.capacity) return 'full'
    if (known !== undefined) this.delete(known)
    this.entries.set(`${entry.service}/${entry.peer}`, entry)
    let peers = this.byService.get(entry.service)
    if (peers === undefined) {
      peers = new Map()
      this.byService.set(entry.service, peers)
    }
    peers.set(entry.peer, entry)
    if (entry.ip !== undefined) this.ipTree.add(entry.ip)
    return 'admitted'
  }

  private delete (entry: CachedAd): void {
    this.entries.delete(`${entry.service}/${entry.peer}`)
    const peers = this.byService.get(entry.service)
    peers?.delete(entry.peer)
    if (peers?.size === 0) this.byService.delete(entry.service)
    if (entry.ip !== undefined) this.ipTree.remove(entry.ip)
  }

  /** Removes every entry whose expiry has come; returns how many. */
  prune (nowS: number): number {
    let removed = 0
    for (const entry of this.entries.values()) {
      if (entry.expiresS > nowS) break
      this.delete(entry)
      removed++
    }
    return removed
  }

  /**
   * Up to `limit` entries of a service, chosen at random (the spec takes "up to F_return"; a random choice spreads
   * discoverers over all the advertisers a registrar knows rather than always the same first ones).
   */
  sample (service: string, limit: number, random: Random = Math.random): CachedAd[] {
    const peers = this.byService.get(service)
    if (peers === undefined || limit <= 0) return []
    const all = [...peers.values()]
    if (all.length <= limit) return all
    for (let i = 0; i < limit; i++) {
      const j = i + Math.floor(random() * (all.length - i))
      const tmp = all[i] as CachedAd
      all[i] = all[j] as CachedAd
      all[j] = tmp
    }
    return all.slice(0, limit)
  }
}
