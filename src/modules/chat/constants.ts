/** Every default of the chat module, with why. */

/** Content topics are /logos-chat/1/{name}/proto (the digest's inbox topic; one application and version, so one shard). */
export const CHAT_APPLICATION = 'logos-chat'
export const CHAT_VERSION = '1'

/** File of the module's SQLite database (identity, key packages, conversations, messages). */
export const CHAT_DB_FILE = 'chat.sqlite'

/**
 * De-MLS timers of a chat group: a chat wants a join in seconds, not the protocol's minutes (commit inactivity 60 s,
 * freeze 30 s). Same shape as the demls defaults, scaled down; votes still count and stewards still rotate.
 */
export const CHAT_GROUP_TIMERS = Object.freeze({
  votingDelayMs: 300,
  consensusTimeoutMs: 4_000,
  batchWindowMs: 400,
  commitInactivityMs: 2_500,
  freezeMs: 800,
  recoveryInactivityMs: 800,
  proposalExpirationMs: 120_000,
  repropagateMs: 1_200,
  announceIntervalMs: 1_500,
  toleranceMs: 300
})

/** How long init waits for its intro (key package) to be held by a store node before it returns. */
export const INTRO_PROPAGATION_WAIT_MS = 40_000

/** An intro older than this is published again at init (store nodes keep messages two days). */
export const INTRO_REFRESH_MS = 24 * 3600 * 1000

/** Own key packages kept with their private keys (a peer may use any recent intro). */
export const MAX_KEY_PACKAGES = 16

/** How long a group join waits for its Welcome. */
export const GROUP_JOIN_TIMEOUT_MS = 120_000

/** Conversations one node keeps. */
export const MAX_CONVERSATIONS = 10_000

/** Longest text message (UTF-8 bytes); the delivery layer's 150 KiB less MLS and framing overhead. */
export const MAX_CONTENT_BYTES = 100 * 1024

/** Messages returned by one getMessages call at most. */
export const MAX_PAGE = 500

/** Longest group name. */
export const MAX_NAME_LENGTH = 200

/** Delivery requests whose outcome (propagated, sent, failed) the module tracks at once. */
export const MAX_TRACKED_SENDS = 4_096

/** Processed delivery message hashes remembered (catch-up from the store skips them). */
export const MAX_SEEN_HASHES = 100_000

/** At start, the store is asked for inbox and conversation messages this far back (missed while offline). */
export const CATCH_UP_WINDOW_MS = 2 * 24 * 3600 * 1000

/** How long the catch-up waits for the delivery node to know a store peer. */
export const CATCH_UP_PEER_WAIT_MS = 30_000
