/** Every default of the delivery module, with why. Protocol defaults live in src/net/delivery/constants.ts. */

/** Sends being proven, published or confirmed at once; more are refused (ERR_DLV_BUSY) instead of queueing without end. */
export const MAX_OUTSTANDING_SENDS = 256

/** Received messages being validated at once; beyond it they are ignored (gossipsub keeps them 6 s anyway). */
export const MAX_PENDING_VALIDATIONS = 512

/** Content topics one node subscribes to (the filter protocol's bound of 100 per subscription, times ten). */
export const MAX_SUBSCRIPTIONS = 1_000

/** A publish that reached no peer is tried again this many times (P2P reliability: peers may still be joining the mesh). */
export const PUBLISH_ATTEMPTS = 5

/** First pause before publishing again; it doubles each time (0.25, 0.5, 1, 2 s). */
export const PUBLISH_RETRY_MS = 250

/** Store presence queries that confirm a send (message_sent) ... */
export const CONFIRM_ATTEMPTS = 5

/** ... the first after this long (store nodes archive once they validated), doubling after each miss. */
export const CONFIRM_FIRST_DELAY_MS = 300

/** A peer that does not serve store or lightpush is not asked again for this long. */
export const NOT_A_SERVICE_PEER_MS = 60_000

/** How often the health status is computed (and a health event emitted when it changed). */
export const HEALTH_INTERVAL_MS = 2_000

/**
 * Relay peers for "Connected" (messaging-api.md Health): gossipsub's Dlo (4), the fewest mesh peers it keeps. Fewer
 * but at least one, with a store peer, is "PartiallyConnected".
 */
export const HEALTHY_RELAY_PEERS = 4

/** A send waits this long for this node's RLN membership to arrive from the registry before failing. */
export const MEMBERSHIP_WAIT_MS = 15_000

/** How often a registrar republishes its snapshot (late joiners and lost messages catch up within this). */
export const SNAPSHOT_INTERVAL_MS = 10_000

/** A registrar publishes a changed snapshot this long after the change, so a burst of joins makes one snapshot. */
export const SNAPSHOT_DEBOUNCE_MS = 200

/** A node not yet a member announces its commitment again this often until a snapshot lists it. */
export const JOIN_RETRY_MS = 2_000

/** Joins a registrar accepts per minute (a devnet bound against a flood of commitments). */
export const MAX_JOINS_PER_MINUTE = 120

/** Largest user_message_limit a registrar grants (the Waku Network's 100). */
export const MAX_GRANTED_MESSAGE_LIMIT = 100

/** File in the module's data folder holding the registrar's Ed25519 seed (mode 0600). */
export const REGISTRAR_KEY_FILE = 'registrar.key'

/** File in the module's data folder holding the message archive. */
export const ARCHIVE_FILE = 'archive.sqlite'

/** Slashing notices this node remembers having sent (one per slashed commitment). */
export const MAX_SLASHING_NOTICES = 1_024

/** A store query without an explicit peer tries at most this many store peers. */
export const STORE_PEERS_TRIED = 3

/**
 * A proof that took longer than this is made again with a fresh timestamp: relays refuse a timestamp more than
 * 20 s from their clock, and the message still has to cross the network.
 */
export const MAX_PROOF_AGE_MS = 12_000

/**
 * A proof is a second or two, but it queues behind the prover's own work (precomputing the next proof) and, on a
 * loaded machine, behind every other thread: well above the kernel's 30 s default, so a busy node sends late
 * rather than not at all.
 */
export const RLN_PROVE_TIMEOUT_MS = 120_000

/** A check runs on the verifier's own thread (milliseconds), but it too can wait behind a loaded machine. */
export const RLN_VERIFY_TIMEOUT_MS = 30_000

/** Validation times kept for the health report's percentiles (the latest ones). */
export const VALIDATION_SAMPLES = 1_024
