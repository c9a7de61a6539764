/**
 * Every default of capability discovery, with why. The protocol parameters come from LOGOS-SERVICE-DISCOVERY,
 * "System Parameters" (themselves from the DISC-NG paper); the limits are ours and each bounds a queue, cache or table.
 */

/** The protocol id REGISTER and GET_ADS travel on (nim-libp2p `ExtendedServiceDiscoveryCodec`). */
export const DISCOVERY_PROTOCOL = '/logos/service-discovery/1.0.0'

/** Largest message either side reads (nim-libp2p `ServiceDiscoveryMaxMsgSize`): F_return ads of <= 1 KiB fit in four. */
export const MAX_MESSAGE_SIZE = 4096

/** K_register: live registrations plus attempts per bucket of the advertise table (spec default). */
export const K_REGISTER = 3

/** K_lookup: random registrars queried per bucket of the search table (spec default). */
export const K_LOOKUP = 5

/** F_lookup: a lookup stops once it has this many distinct advertisers (spec default). */
export const F_LOOKUP = 30

/**
 * Most of one registrar's ads that count towards a lookup's stopping rule (F_lookup, or the caller's limit). Not a
 * spec parameter: the spec's walk stops at F_lookup ads whoever vouches for them, so F_lookup / F_return Sybil
 * registrars met in the far buckets end the lookup of a rare capability, whose ads only the few registrars close to
 * the service hold, before it reaches them. With 1, the walk goes on until F_lookup distinct registrars have each
 * vouched for a new provider: Sybils must be F_lookup of the registrars asked, not three. Every verified ad is still
 * kept and returned up to the limit. F_return (10) is the spec's behaviour. Measured in BENCHMARKS.md `## discovery`.
 */
export const LOOKUP_ADS_PER_REGISTRAR = 1

/** F_return: most ads one registrar returns to one GET_ADS (spec default). */
export const F_RETURN = 10

/** E: how long an admitted ad stays in a registrar's cache, 15 minutes (spec default). */
export const ADVERT_EXPIRY_MS = 900_000

/** C: the registrar's ad cache capacity (spec default). */
export const AD_CACHE_CAPACITY = 1000

/** P_occ: occupancy exponent of the waiting time; the higher, the steeper waits grow as the cache fills (spec). */
export const OCCUPANCY_EXPONENT = 10

/** G: safety term so a waiting time never reaches zero from the formula alone (spec default 10^-7). */
export const SAFETY_PARAMETER = 1e-7

/** Weight of the IP similarity score in the waiting time (nim `ipSimCoefficient`); 1 is the spec's formula. */
export const IP_SIMILARITY_WEIGHT = 1

/** delta: a ticket is valid from t_mod + t_wait_for to this much later (spec default 1 s). */
export const REGISTRATION_WINDOW_MS = 1000

/** m: buckets of the service-specific tables AdvT, DiscT and RegT (spec default). */
export const SERVICE_BUCKETS = 16

/** Peers a bucket holds (Kademlia's k); more gives redundancy under churn, fewer saves memory. */
export const BUCKET_SIZE = 20

/** Buckets of the node's own table KadDHT(peerID): one per bit of a 256-bit key. */
export const MAIN_TABLE_BUCKETS = 256

/** Most bytes of ServiceInfo.data (EXTENSIBLE-PEER-RECORDS: a 256-bit key with parity). */
export const MAX_SERVICE_DATA = 33

/** Most bytes of a signed extensible peer record (EXTENSIBLE-PEER-RECORDS, "Size constraints"). */
export const MAX_RECORD_SIZE = 1024

/** Signed-envelope domain of extensible peer records (EXTENSIBLE-PEER-RECORDS; also nim-libp2p). */
export const XPR_DOMAIN = 'libp2p-peer-record'

/** Signed-envelope payload type: the multicodec libp2p-peer-record, 0x0301 (EXTENSIBLE-PEER-RECORDS). */
export const XPR_PAYLOAD_TYPE = Uint8Array.from([0x03, 0x01])

/** Most multiaddrs kept per peer learnt from a closerPeers list: enough for dual-stack, bounded against junk. */
export const MAX_ADDRS_PER_PEER = 8

/** Most closerPeers decoded from one response: GETPEERS returns at most one per bucket (m = 16) plus slack. */
export const MAX_CLOSER_PEERS = 32

/** Most advertisements decoded from one GET_ADS response: F_return plus slack for other implementations. */
export const MAX_ADS_PER_RESPONSE = 32

/** One REGISTER or GET_ADS exchange must finish within this, or the peer counts as failed. */
export const REQUEST_TIMEOUT_MS = 5000

/** A peer leaves KadDHT(peerID) after this many failed requests in a row: one timeout on a busy host is no proof. */
export const MAX_CONSECUTIVE_FAILURES = 3

/** A registrar that failed a REGISTER is not asked again for the same ad until this much later. */
export const FAILURE_COOLDOWN_MS = 30_000

/** A lookup tries at most this many times K_lookup registrars per bucket (K_lookup must answer; failures are replaced). */
export const LOOKUP_ATTEMPTS_FACTOR = 2

/** How often an advertiser tops its buckets up from peers learnt since the last pass. */
export const MAINTENANCE_INTERVAL_MS = 60_000

/** How often KadDHT(peerID) is refreshed by a walk to a random key (Kad-DHT's bucket refresh period, 10 min). */
export const REFRESH_INTERVAL_MS = 600_000

/** Refresh walks right after the first peer is known, a second apart: enough to learn the neighbourhood quickly. */
export const INITIAL_REFRESHES = 3

/** Pause between the initial refresh walks, and between checks while no peer is known yet. */
export const INITIAL_REFRESH_PAUSE_MS = 1000

/** After a new peer joins the main table, advertisers refill after this pause (batches a burst of joins). */
export const REFILL_DEBOUNCE_MS = 200

/**
 * REGISTER and GET_ADS one requester (peer, else IP) may send a registrar per second, and in a burst. A REGISTER
 * costs at most an Ed25519 verification and a ticket MAC (about 65 us), a GET_ADS for a new service a table copy:
 * 16/s holds one requester to about 1 ms of work per second. The burst covers an honest peer's peaks: an
 * advertiser placing all its services (at most 64) with one registrar at once, plus a lookup and a refresh walk.
 */
export const PEER_REQUESTS_PER_SECOND = 16
export const PEER_REQUEST_BURST = 128

/** Requesters whose buckets a registrar keeps (the least recently seen is forgotten past it). */
export const MAX_RATE_LIMITED_PEERS = 4096

/** Most service tables (RegT) a registrar keeps at once; the least recently used is dropped and rebuilt on demand. */
export const MAX_REGISTRAR_TABLES = 256

/** Most search tables (DiscT) kept between lookups. */
export const MAX_SEARCH_TABLES = 64

/** Most services one node advertises at once (each costs up to m * K_register registrations). */
export const MAX_ADVERTISED_SERVICES = 64

/** Verified-advertisement cache entries: a retry with a ticket carries the same bytes, so it is not verified twice. */
export const VERIFY_CACHE_SIZE = 4096

/** Anti-grinding bound entries kept per kind (service, IP); the oldest is dropped past it. */
export const MAX_BOUND_ENTRIES = 8192

/** Providers remembered per watched or looked-up service, to tell new ones from known ones. */
export const MAX_KNOWN_PROVIDERS = 1024

/** How often a watched service (startDiscovering) is looked up again. */
export const WATCH_INTERVAL_MS = 30_000

/** Inbound discovery streams per connection at once (js-libp2p registrar limit). */
export const MAX_INBOUND_STREAMS = 32

/** Outbound discovery streams per connection at once. */
export const MAX_OUTBOUND_STREAMS = 64

/** Tickets carry whole seconds (LOGOS-SERVICE-DISCOVERY, Ticket: Unix time in seconds). */
export const SECOND_MS = 1000
