import { MAX_BOUND_ENTRIES } from './constants.ts'

/** The largest waiting time a ticket can carry: t_wait_for is a uint32 of seconds. */
export const MAX_WAIT_S = 0xffff_ffff

export interface WaitingTimeParams {
  /** E, in seconds. */
  expiryS: number
  /** C. */
  capacity: number
  /** P_occ. */
  occupancyExponent: number
  /** G. */
  safety: number
  /** Weight of the IP score (1 in the spec's formula). */
  ipWeight: number
}

/**
 * w(ad) = E * 1/(1 - c/C)^P_occ * (c_s/C + score(ip) + G), in whole seconds (LOGOS-SERVICE-DISCOVERY, "Waiting Time
 * Calculation"). Tickets carry seconds, so the value is rounded to the nearest second as nim-libp2p does: an ad for a
 * fresh service from a fresh address at an empty registrar waits E*G, which rounds to 0 and is admitted at once.
 * A full cache (c >= C) gives the formula's limit, infinity, clamped to the largest ticket value: nothing is admitted
 * until entries expire, which is what keeps the cache bounded without evicting anyone.
 */
export function baseWaitingTime (params: WaitingTimeParams, occupancy: number, serviceCount: number, ipScore: number): number {
  const { expiryS, capacity, occupancyExponent, safety, ipWeight } = params
  if (occupancy >= capacity) return MAX_WAIT_S
  const occupancyScore = 1 / Math.pow(1 - occupancy / capacity, occupancyExponent)
  const w = expiryS * occupancyScore * (serviceCount / capacity + ipWeight * ipScore + safety)
  if (!Number.isFinite(w)) return MAX_WAIT_S
  return Math.min(MAX_WAIT_S, Math.max(0, Math.round(w)))
}

interface Bound {
  /** The last waiting time issued, seconds. */
  bound: number
  /** When it was issued, seconds. */
  at: number
}

/**
 * The anti-grinding lower bounds of LOGOS-SERVICE-DISCOVERY ("Lower Bound Enforcement"): a waiting time issued now is
 * never smaller than one issued earlier for the same service or the same IP, minus the time elapsed since:
 * w_new >= w_prev - (t_now - t_prev). State is kept per service id and per IP, dropped once older than E, and bounded
 * (MAX_BOUND_ENTRIES per kind, oldest first).
 */
export class LowerBounds {
  private readonly services = new Map<string, Bound>()
  private readonly ips = new Map<string, Bound>()
  private readonly maxEntries: number

  constructor (maxEntries: number = MAX_BOUND_ENTRIES) {
    this.maxEntries = maxEntries
  }

  get size (): number {
    return this.services.size + this.ips.size
  }

  /** Bound entries kept per service id, and per IP. */
  get serviceEntries (): number {
    return this.services.size
  }

  get ipEntries (): number {
    return this.ips.size
  }

  /** w_final = max(w_service, w_ip...) for a base waiting time `base` at `nowS`. */
  apply (service: string, ips: readonly string[], base: number, nowS: number): number {
    let w = Math.max(base, remaining(this.services.get(service), nowS))
    for (const ip of ips) w = Math.max(w, base, remaining(this.ips.get(ip), nowS))
    return w
  }

  /** Records an issued waiting time: a bound moves only where the base exceeds what remains of the old one. */
  record (service: string, ips: readonly string[], base: number, nowS: number): void {
    update(this.services, service, base, nowS, this.maxEntries)
    for (const ip of ips) update(this.ips, ip, base, nowS, this.maxEntries)
  }

  /** Drops state older than E ("The lower-bound state is removed when the corresponding entry expires"). */
  prune (nowS: number, expiryS: number): void {
    for (const map of [this.services, this.ips]) {
      for (const [k, b] of map) {
        if (nowS - b.at <= expiryS) break // insertion order is issue order
        map.delete(k)
      }
    }
  }
}

function remaining (b: Bound | undefined, nowS: number): number {
  // A service or IP seen for the first time starts at bound 0 (the spec's initial state); a negative remainder is
  // kept as is ("MUST NOT be clamped to zero"), the max with the base takes care of it.
  return b === undefined ? 0 : b.bound - (nowS - b.at)
}

function update (map: Map<string, Bound>, key: string, base: number, nowS: number, maxEntries: number): void {
  if (base <= remaining(map.get(key), nowS) && map.has(key)) return
  map.delete(key)
  map.set(key, { bound: base, at: nowS })
  while (map.size > maxEntries) {
    const oldest = map.keys().next()
    if (oldest.done === true) break
    map.delete(oldest.value)
  }
}
