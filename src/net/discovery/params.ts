import {
  ADVERT_EXPIRY_MS, AD_CACHE_CAPACITY, BUCKET_SIZE, F_LOOKUP, F_RETURN, IP_SIMILARITY_WEIGHT, K_LOOKUP, K_REGISTER,
  LOOKUP_ADS_PER_REGISTRAR,
  MAINTENANCE_INTERVAL_MS, MAX_BOUND_ENTRIES, MAX_REGISTRAR_TABLES, OCCUPANCY_EXPONENT, PEER_REQUEST_BURST,
  PEER_REQUESTS_PER_SECOND, REFRESH_INTERVAL_MS, REGISTRATION_WINDOW_MS, REQUEST_TIMEOUT_MS, SAFETY_PARAMETER,
  SERVICE_BUCKETS, VERIFY_CACHE_SIZE
} from './constants.ts'
import { InvalidArgumentError } from '../../common/index.ts'

/** The protocol's parameters (LOGOS-SERVICE-DISCOVERY, "System Parameters") and the timers that drive it. */
export interface DiscoveryParams {
  /** K_register: registrations kept per bucket of an advertise table. */
  kRegister: number
  /** K_lookup: registrars queried per bucket of a search table. */
  kLookup: number
  /** F_lookup: advertisers a lookup collects before it stops. */
  fLookup: number
  /**
   * Most of one registrar's ads that count towards the F_lookup stopping rule (ours, not the spec's: a defence
   * against Sybil registrars for rare capabilities; F_return or more is the spec's walk). See constants.ts.
   */
  lookupAdsPerRegistrar: number
  /** F_return: ads one registrar returns. */
  fReturn: number
  /** E, in ms (tickets carry whole seconds, so use multiples of 1000). */
  advertExpiryMs: number
  /** C. */
  cacheCapacity: number
  /** P_occ. */
  occupancyExponent: number
  /** G. */
  safetyParameter: number
  /** Weight of the IP similarity score (1 = the spec's formula; 0 ignores addresses, e.g. on one loopback host). */
  ipSimilarityWeight: number
  /** delta, in ms. */
  registrationWindowMs: number
  /** m. */
  serviceBuckets: number
  /** Peers per bucket. */
  bucketSize: number
  /** Deadline of one request. */
  requestTimeoutMs: number
  /** How often advertisers top their buckets up. */
  maintenanceIntervalMs: number
  /** How often KadDHT(peerID) is refreshed by a walk to a random key. */
  refreshIntervalMs: number
  /** REGISTER and GET_ADS one requester may send a registrar per second, and in a burst. */
  peerRequestsPerSecond: number
  peerRequestBurst: number
  /** Service tables (RegT) a registrar keeps; the least recently used is rebuilt on demand. */
  maxRegistrarTables: number
  /** Anti-grinding bound entries kept per kind (service, IP). */
  maxBoundEntries: number
  /** Verified advertisements remembered (a retry with a ticket carries the same bytes). */
  verifyCacheSize: number
}

export const DEFAULT_PARAMS: Readonly<DiscoveryParams> = Object.freeze({
  kRegister: K_REGISTER,
  kLookup: K_LOOKUP,
  fLookup: F_LOOKUP,
  fReturn: F_RETURN,
  lookupAdsPerRegistrar: LOOKUP_ADS_PER_REGISTRAR,
  advertExpiryMs: ADVERT_EXPIRY_MS,
  cacheCapacity: AD_CACHE_CAPACITY,
  occupancyExponent: OCCUPANCY_EXPONENT,
  safetyParameter: SAFETY_PARAMETER,
  ipSimilarityWeight: IP_SIMILARITY_WEIGHT,
  registrationWindowMs: REGISTRATION_WINDOW_MS,
  serviceBuckets: SERVICE_BUCKETS,
  bucketSize: BUCKET_SIZE,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  maintenanceIntervalMs: MAINTENANCE_INTERVAL_MS,
  refreshIntervalMs: REFRESH_INTERVAL_MS,
  peerRequestsPerSecond: PEER_REQUESTS_PER_SECOND,
  peerRequestBurst: PEER_REQUEST_BURST,
  maxRegistrarTables: MAX_REGISTRAR_TABLES,
  maxBoundEntries: MAX_BOUND_ENTRIES,
  verifyCacheSize: VERIFY_CACHE_SIZE
})

/** The defaults with `init` over them; refuses values that would break the protocol. */
export function resolveParams (init: Partial<DiscoveryParams> = {}): DiscoveryParams {
  const p: DiscoveryParams = { ...DEFAULT_PARAMS }
  for (const [k, v] of Object.entries(init)) {
    if (v === undefined) continue
    if (!(k in DEFAULT_PARAMS)) throw new InvalidArgumentError(`unknown discovery parameter "${k}"`)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(`discovery parameter "${k}" must be a finite number >= 0`)
    p[k as keyof DiscoveryParams] = v
  }
  for (const k of ['kRegister', 'kLookup', 'fLookup', 'lookupAdsPerRegistrar', 'fReturn', 'cacheCapacity', 'serviceBuckets', 'bucketSize', 'peerRequestBurst', 'maxRegistrarTables', 'maxBoundEntries', 'verifyCacheSize'] as const) {
    if (!Number.isInteger(p[k]) || p[k] < 1) throw new InvalidArgumentError(`discovery parameter "${k}" must be a positive integer`)
  }
  if (p.serviceBuckets > 256) throw new InvalidArgumentError('serviceBuckets must be at most 256 (bits of a key)')
  if (p.advertExpiryMs < 1000) throw new InvalidArgumentError('advertExpiryMs must be at least 1000 (tickets count whole seconds)')
  return p
}
