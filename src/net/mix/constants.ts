/**
 * Defaults of the mix service. Each has a line of why; the sizes of the wire format itself are in
 * src/crypto/sphinx/constants.ts.
 */

/** The protocol id (mix.md 7.1). */
export const MIX_PROTOCOL = '/mix/1.0.0'
/** The reserved codec of cover loops (mix-cover-traffic.md 5): handled inside the exit, never delivered. */
export const COVER_CODEC = '/mix/cover/1.0.0'
/** Hops of a path, the exit included: LOGOS-MIXNET fixes 3 (mix.md allows 3 to r = 5). */
export const PATH_LENGTH = 3

/**
 * Mean delay each intermediate hop applies, written into the header (mix.md 6.2). 100 ms is the nim code's
 * exponential default; with the exit's and the sender's delay it adds about 0.4 s end to end, and the anonymity
 * simulation (bench/mix-anonymity.ts) gives a degree of about 0.97 at 100 nodes with the default cover rate.
 */
export const MEAN_DELAY_MS = 100
/** Mean delay before a locally originated packet (message, reply, cover) leaves (mix.md 8.5.2 step 3.f). */
export const SENDER_DELAY_MS = 100
/**
 * Mean delay the exit holds a message before delivering it. The spec's exit has a zero delay field (that marks
 * it) and says nothing of waiting; without a wait a global observer links the exit's input to its delivery, which
 * costs a third of the mixing a 3-hop path has (bench/mix-anonymity.ts: degree 0.82 without, 0.97 with).
 */
export const EXIT_DELAY_MS = 100
/** Truncate exponential delays where their tail falls below 1e-6 (the nim code's practical window: 13.8 x mean). */
export const DELAY_TAIL_PROBABILITY = 1e-6
/** Never hold a packet longer than this, whatever the header says (65535 ms is the field's maximum). */
export const MAX_HOLD_MS = 60_000

/**
 * The slot budget R per epoch P shared by cover, local and forwarded packets (mix-cover-traffic.md 4). Without a
 * spam-protection plugin there is no RLN rate to inherit, so R is ours: 2400 per 10 s (240 packets/s, about
 * 1.1 MB/s of 4.6 KB packets) gives the constant cover rate 0.7 x 2400 / (4 x 10 s) = 42 loops/s that reaches the
 * anonymity goal in the simulation. A deployment under RLN takes R and P from its rate limit.
 */
export const SLOTS_PER_EPOCH = 2400
/** P, the epoch length: the 10 s of the RLN digest's deployment parameters. */
export const EPOCH_MS = 10_000
/** f, the cover rate fraction (mix-cover-traffic.md 7; LOGOS-MIXNET MUST use 0.7). */
export const COVER_RATE_FRACTION = 0.7

/** Rotate the mix key hourly: replay tables can then be flushed (mix.md 8.6.1) and stay small. */
export const KEY_ROTATION_INTERVAL_MS = 60 * 60_000
/** Keep processing with the previous key this long after a rotation: in-flight packets and fresh SURBs still use it. */
export const KEY_GRACE_MS = 5 * 60_000
/**
 * Replay tags kept per key, at most (a tag is never evicted: that would let its packet be replayed; past this a
 * packet is refused). 1 M tags is about 90 MB at worst, more than an hour of traffic at the default slot budget.
 */
export const REPLAY_CACHE_SIZE = 1 << 20
/**
 * The current key rotates when its replay table reaches this share of its capacity, not when it is full: the rest
 * (20 %, 209,715 tags) stays for the packets in flight under the old key during its grace period, which must be at
 * least what the node can process in that time, R x (grace / P + 1) = 2400 x 31 = 74,400 with the defaults.
 */
export const REPLAY_ROTATE_FRACTION = 0.8
/** Old keys kept in their grace period at once (rotations closer together than the grace period retire the oldest). */
export const MAX_RETIRING_KEYS = 2

/** The largest message `send`/`request` take (fragmented into about 66 packets). */
export const MAX_MESSAGE_BYTES = 256 * 1024
/** SURBs per request by default: one reply packet (3961 bytes). */
export const DEFAULT_SURBS = 1
/** The most SURBs a request may carry (replies up to about 63 KB). */
export const MAX_SURBS_PER_REQUEST = 16
/** SURBs that fit in one packet next to a short codec (5 x 734 bytes of 3966). */
export const MAX_SURBS_PER_PACKET = 5
/** How long a request waits for its reply (three delayed hops each way, plus the destination's time). */
export const REQUEST_TIMEOUT_MS = 30_000
/** How long our SURB secrets live (mix.md 8.7.2: discard after a timeout, at most the key rotation interval). */
export const SURB_TTL_MS = 60_000
/** SURB secrets kept at once (each about 1 KB with its LIONESS round keys). */
export const MAX_SURBS_STORED = 4096
/** Requests waiting for replies at once. */
export const MAX_PENDING_REQUESTS = 256

/** Partly received messages an exit or requester holds at once. */
export const MAX_REASSEMBLIES = 256
/** Bytes those partial messages may hold in all. */
export const MAX_REASSEMBLY_BYTES = 16 * 1024 * 1024
/** A partial message is dropped when its last fragment is this late (fragments take independent paths). */
export const REASSEMBLY_TIMEOUT_MS = 60_000

/** How long the exit waits to dial the destination and for its answer. */
export const DELIVERY_TIMEOUT_MS = 10_000
/**
 * Deliveries to destinations in progress at once at an exit (and the streams one exit may open to a destination
 * serving through `handle()`).
 */
export const MAX_CONCURRENT_DELIVERIES = 64
/** Messages an exit holds for delivery at once (waiting their exit delay, queued, or being delivered). */
export const MAX_HELD_DELIVERIES = 1024

/** Packets held for their delay at once (about 1 s of traffic at the goal rate of 5,000 packets/s). */
export const MAX_DELAYED_PACKETS = 10_000
/** Spam proofs being verified at once; more incoming packets wait in the stream. */
export const MAX_CONCURRENT_VERIFICATIONS = 256
/** Locally originated packets waiting for the next epoch's slots (mix-cover-traffic.md 5.2). */
export const MAX_QUEUED_SENDS = 256
/** Packets queued for one next hop's stream before new ones are dropped. */
export const MAX_QUEUED_PER_PEER = 512
/** Outbound streams kept open to next hops (mix.md 5.5 allows reuse). */
export const MAX_OUTBOUND_PEERS = 256
/** Close an outbound stream idle this long. */
export const OUTBOUND_IDLE_MS = 60_000
/** A fragment whose first hop is unreachable is sent again on another path this many times. */
export const FIRST_HOP_RETRIES = 2
/** A peer we failed to reach stays out of our paths this long (it may have left; discovery forgets it later). */
export const UNREACHABLE_MS = 60_000
/** How long to dial a next hop before dropping the packet. */
export const DIAL_TIMEOUT_MS = 10_000
/**
 * Packets one peer may send us per second, and in a burst (a token bucket per peer, counted before any work, junk
 * included). The default is the default slot budget, R / P = 240 per second with one epoch (2400) in a burst: a
 * neighbour with that budget cannot emit more in all, so an honest one never meets the limit, while a peer sending
 * junk (which costs us two X25519 before the MAC refuses it, and no slot) is held to that rate.
 */
export const INBOUND_PEER_RATE_PER_S = 240
export const INBOUND_PEER_BURST = 2400
/** Peers whose inbound buckets are kept (the least recently seen is forgotten past it). */
export const MAX_RATE_LIMITED_PEERS = 1024
/**
 * Whether a relay may dial loopback, private or reserved IPv4 addresses named in a packet (as a next hop, an exit
 * destination or a SURB's first hop). Off: a deployed exit is otherwise an open proxy into its own network and a port
 * scanner through its reply status. A devnet on 127.0.0.1 turns it on.
 */
export const ALLOW_PRIVATE_DESTINATIONS = false
/** Inbound /mix/1.0.0 streams one peer may have open (the nim code reuses one per peer). */
export const MAX_INBOUND_STREAMS = 32
/** Outbound streams per peer libp2p allows us (we use one per next hop). */
export const MAX_OUTBOUND_STREAMS = 8

/** Mix nodes a discovery-backed source keeps (newest record per peer). */
export const MAX_KNOWN_NODES = 1024
/** How often a discovery-backed source looks for more mix nodes. */
export const NODE_REFRESH_MS = 60_000
/** How often to look while too few mix nodes for a path and its return path are known (a new node, a new network). */
export const NODE_FAST_REFRESH_MS = 2_000
/** How many providers one lookup asks for. */
export const NODE_LOOKUP_LIMIT = 64
/** Drop a discovered node not seen again in this long. */
export const NODE_TTL_MS = 30 * 60_000
