/**
 * Defaults of the hidden-service layer (logos-co/logos-lips PR #330, docs/anoncomms/raw/mix-hidden-service.md; cited
 * as "hs" with its section). Each has a line of why. Sizes fixed on the wire are marked so: changing one makes a
 * node unable to talk to the others.
 */

/** The reserved codec exits handle themselves (hs 6.5). */
export const HIDDEN_SERVICES_CODEC = '/mix/hiddenservices/1.0.0'

// ---------------------------------------------------------------------------------------------------------------
// Introduction points (hs 7)
// ---------------------------------------------------------------------------------------------------------------

/** k, the introduction points a service keeps (hs 7.1: "the default value for k is three"; Tor uses 3 too). */
export const INTRO_POINT_COUNT = 3
/**
 * surb_max, the intro-SURBs an introduction point keeps for a service (hs 7.1). An EstablishIntro carries them and
 * one more for its IntroEstablished: 5 SURBs of 734 bytes is what one packet holds next to the message.
 */
export const INTRO_SURB_MAX = 4
/**
 * The service replaces all intro-SURBs of each introduction point this often. A SURB dies when a node on its
 * return path rotates its mix key and the old key's grace period (5 min, src/net/mix) ends, so a SURB must be
 * replaced within 5 minutes of the rotation: 4 minutes keeps every held intro-SURB usable.
 */
export const INTRO_REFRESH_MS = 4 * 60_000
/** The service keeps the secrets of its intro-SURBs this long: two refresh rounds, so none is dropped while held. */
export const INTRO_SURB_TTL_MS = 2 * INTRO_REFRESH_MS + 60_000
/** An introduction point forgets a service not refreshed in this long (three missed refreshes; hs 9.3 "expiry"). */
export const INTRO_STATE_TTL_MS = 4 * INTRO_REFRESH_MS
/** How long the service waits for IntroEstablished before trying another node (three delayed hops each way). */
export const INTRO_ESTABLISH_TIMEOUT_MS = 20_000
/** Nodes tried per introduction point slot before the service gives up on that slot for now. */
export const INTRO_ESTABLISH_ATTEMPTS = 3
/** A refresh unanswered this many times in a row replaces the introduction point (and republishes). */
export const INTRO_MAX_MISSED_REFRESHES = 2
/** Services one node serves as an introduction point for at most (hs 7.2: "its local capacity"). */
export const MAX_INTRO_SERVICES = 256
/** Client tags H(client_key) remembered per service at an introduction point and per intro point at the service (hs 9.5). */
export const REPLAY_CACHE_SIZE = 4096
/**
 * DoS protection, left open by hs 9.5: an introduction point forwards at most this many introductions per second
 * for one service (token bucket), which also bounds how fast its intro-SURBs can be drained.
 */
export const INTRO_RATE_PER_SECOND = 10
/** The bucket's depth: a burst of this many introductions passes at once. */
export const INTRO_BURST = 20
/** The service side of the same limit: introductions it processes per second over all its introduction points. */
export const SERVICE_INTRO_RATE_PER_SECOND = 20
export const SERVICE_INTRO_BURST = 40

// ---------------------------------------------------------------------------------------------------------------
// Descriptors (hs 8)
// ---------------------------------------------------------------------------------------------------------------

/** The descriptor epoch length (hs 8.3: 86400 s). */
export const EPOCH_LENGTH_MS = 86_400_000
/** The validity a service writes into its descriptors (hs 8.3: 10800 s, 180 minutes). */
export const DESCRIPTOR_VALIDITY_S = 10_800
/** The validity range a directory node accepts (hs 8.6, "Discovery Node Processing": 30 to 720 minutes). */
export const MIN_VALIDITY_S = 30 * 60
export const MAX_VALIDITY_S = 720 * 60
/** Republish after a random 60 to 120 minutes (hs 8.3). */
export const REPUBLISH_MIN_MS = 60 * 60_000
export const REPUBLISH_MAX_MS = 120 * 60_000
/**
 * Directory nodes that store each descriptor: the mix nodes closest to the discovery key (XOR of SHA-256 of their
 * peer ids). Tor uses 6 directories; 4 here tolerates senders and clients knowing slightly different node sets.
 */
export const HSDIR_REPLICAS = 4
/** A client asks this many of the responsible directories at once, then the others. */
export const FETCH_PARALLEL = 2
/** How long to wait for a directory's answer to a publish or a fetch. */
export const DIRECTORY_TIMEOUT_MS = 20_000
/**
 * Attempts per directory when publishing: a mixnet loses packets now and then (a relay restarting, a full queue), and
 * each attempt takes a fresh path, so a lost publish is sent again rather than leaving a replica missing for the
 * 60 to 120 minutes until the next republish. A directory that answers "stale" or "invalid" is not asked again; "stale"
 * to a second copy means the first one got there (its answer was what got lost), so it counts as stored.
 */
export const PUBLISH_ATTEMPTS = 3
/** Descriptors one directory node stores at most. */
export const MAX_STORED_DESCRIPTORS = 4096
/** The largest descriptor: it must travel in one SURB reply (3968 bytes) and one forward packet with a SURB. */
export const MAX_DESCRIPTOR_BYTES = 3072
/** Wire: bytes of the inner layer's salt (hs 8.5 "salt = random()"). */
export const DESCRIPTOR_SALT_LENGTH = 16
/** The inner plaintext is zero-padded to a multiple of this, so the descriptor's size hides the exact contents. */
export const INNER_PAD_BLOCK = 256
/** Descriptors a client caches (until their validity ends). */
export const MAX_CACHED_DESCRIPTORS = 256
/** Client authorisation (open in hs 8.6): authorised clients one descriptor lists at most (what fits its size). */
export const MAX_AUTHORIZED_CLIENTS = 48
/** The list of authorised clients is padded with random entries to a multiple of this (hides their number). */
export const CLIENT_AUTH_PAD = 8

// ---------------------------------------------------------------------------------------------------------------
// Introduction and rendezvous (hs 9, 10)
// ---------------------------------------------------------------------------------------------------------------

/** SURBs an Introduce1 carries for its IntroduceAck (hs 9.2 step 7: 1-2). */
export const INTRO_ACK_SURBS = 1
/** client-SURBs in the introduction request: enough for the first answer and for asking for more. */
export const INTRO_CLIENT_SURBS = 3
/**
 * How long a client waits for the service's first frame after its Introduce1 before it tries another introduction
 * point (hs 9.2 steps 9-10); the service sends one as soon as it accepted the introduction. Two legs of 6 delayed
 * hops take about 1.5 s with the deployed delays.
 */
export const INTRO_ACCEPT_TIMEOUT_MS = 15_000
/** Introduction points tried per connection attempt. */
export const CONNECT_ATTEMPTS = 3
/**
 * Wire: j, the fixed size of a Rendezvous inner payload (hs 10.1): what is left of one forward packet with the
 * reserved codec after the message type and the SURB (3927 - 1 - 734 = 3192 bytes), rounded down to 16.
 */
export const RENDEZVOUS_INNER_LENGTH = 3184
/** Each side keeps this many of its SURBs in the other side's hands (hs 10.1, "keep handing over fresh SURBs"). */
export const SESSION_TARGET_SURBS = 4
/** SURBs a data frame carries at most (each costs 734 of its 3149 bytes). */
export const MAX_SURBS_PER_DATA_FRAME = 2
/** SURBs a credit frame (no data) carries at most. */
export const MAX_SURBS_PER_CREDIT_FRAME = 4
/** How long the SURBs a session hands over stay usable: within the mix key grace period, as for intro-SURBs. */
export const SESSION_SURB_TTL_MS = 5 * 60_000
/**
 * A client about to send on a session that holds none of the service's SURBs waits this long for some (a credit
 * frame may be behind the last answer) before it introduces itself again.
 */
export const SURB_WAIT_MS = 5_000
/**
 * The service answers an introduction with a credit frame only if its handler has not answered within this long:
 * a quick answer carries the SURBs itself, and one packet is saved.
 */
export const ACCEPT_DELAY_MS = 200
/** A session idle this long is closed at both ends (its SURBs may be dying); the next request introduces anew. */
export const SESSION_IDLE_MS = 4 * 60_000
/** Sessions one service keeps at most. */
export const MAX_SESSIONS = 256
/** Frames waiting for SURBs in one session at most. */
export const MAX_QUEUED_FRAMES = 256
/** Messages being reassembled in one session at most. */
export const MAX_SESSION_REASSEMBLIES = 32
/** The largest request or response a session carries (about 28 frames). */
export const MAX_MESSAGE_BYTES = 64 * 1024
/** How long a client waits for a complete response. */
export const REQUEST_TIMEOUT_MS = 60_000
/** How long a service's handler has to answer a request. */
export const HANDLER_TIMEOUT_MS = 30_000
/** Requests waiting for responses at once, per client layer. */
export const MAX_PENDING_REQUESTS = 256
/** How often the layer sweeps expired state (intro registrations, descriptors, idle sessions). */
export const SWEEP_INTERVAL_MS = 10_000
