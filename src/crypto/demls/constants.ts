/**
 * Every default and bound of the De-MLS library, each with the reason for its value. Spec references are to
 * logos-lips docs/anoncomms/raw/decentralized-mls-offchain-consensus.md ("DE-MLS") and consensus-hashgraphlike.md
 * ("HASHGRAPHLIKE").
 */

/** Version byte that starts every De-MLS wire message; a reader refuses any other. */
export const WIRE_VERSION = 1

/** DE-MLS "Roles": a member id is a 20-byte value. Ours is SHA-256(Ed25519 public key)[0..20]. */
export const MEMBER_ID_LENGTH = 20

/** Ed25519 public keys and signatures. */
export const PUBLIC_KEY_LENGTH = 32
export const SIGNATURE_LENGTH = 64
export const HASH_LENGTH = 32

/** The MLS cipher suite groups use unless told otherwise: suite 1 is the RFC 9420 mandatory-to-implement suite. */
export const DEFAULT_CIPHER_SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'

/**
 * GroupContext extension type that carries the group's De-MLS governance state (configuration and steward list). It
 * is in the private-use range of RFC 9420 §17.3 (0xF000-0xFFFF). Putting it in the GroupContext makes the steward
 * list part of the MLS key schedule: two members that disagree on it cannot share an epoch.
 */
export const GOVERNANCE_EXTENSION_TYPE = 0xfd31

/** Group ids are opaque bytes; this bound keeps topic names and envelopes small. */
export const MAX_GROUP_ID_LENGTH = 64

/** Upper bound on any single wire message we decode (a Welcome carries the ratchet tree: ~350 B per member). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024

/** Bound on list lengths in decoded messages (votes, certificates, stewards): above any group we plan for. */
export const MAX_LIST_LENGTH = 10_000

// ---- timers (DE-MLS "Inactivity Timer"; the Rust reference uses 60 s / 30 s / 30 s / 10 s / 5 s / 600 s) ----

/** How long a member waits before it casts the automatic vote when the application did not vote (Rust: 10 s). */
export const DEFAULT_VOTING_DELAY_MS = 10_000
/** HASHGRAPHLIKE §4: after this, silent voters count per liveness_criteria_yes (Rust: 30 s). */
export const DEFAULT_CONSENSUS_TIMEOUT_MS = 30_000
/** DE-MLS "Flow": the epoch steward waits this Δ after the first approval to batch more proposals into one commit. */
export const DEFAULT_BATCH_WINDOW_MS = 5_000
/** DE-MLS "Inactivity Timer" 1: how long each steward in line gets before the next one commits (Rust: 60 s). */
export const DEFAULT_COMMIT_INACTIVITY_MS = 60_000
/** DE-MLS "Flow": the freeze window in which competing commit candidates are collected (Rust: 30 s). */
export const DEFAULT_FREEZE_MS = 30_000
/** DE-MLS "Inactivity Timer" 2: shorter wait during re-election and deadlock recovery (Rust: 5 s). */
export const DEFAULT_RECOVERY_INACTIVITY_MS = 5_000
/** A proposal's lifetime (HASHGRAPHLIKE expiration_timestamp; Rust: 600 s). */
export const DEFAULT_PROPOSAL_EXPIRATION_MS = 600_000
/** How often an undecided proposal is re-broadcast with the votes we hold (HASHGRAPHLIKE §4 "MAY continue to propagate"). */
export const DEFAULT_REPROPAGATE_MS = 5_000
/** How often members re-announce the commit they accepted, so a member that missed it learns it is behind. */
export const DEFAULT_ANNOUNCE_INTERVAL_MS = 15_000
/** Tolerated clock difference and propagation delay: when judging another member's timestamps, and how late a steward may learn of an approval before leaving it out counts as censorship. */
export const DEFAULT_TOLERANCE_MS = 2_000

// ---- stewards (DE-MLS "Steward list creation", "Three-Layer Steward Protection") ----

export const DEFAULT_SN_MIN = 3
export const DEFAULT_SN_MAX = 5
/** Layer 2: re-elections tried in one epoch before the deadlock ECP of Layer 3 (set at group creation). */
export const DEFAULT_MAX_REELECTION_ATTEMPTS = 3
/** The Rust reference caps a commit batch at 50 proposals; so do we. */
export const DEFAULT_COMMIT_BATCH_MAX = 50

// ---- peer scoring (DE-MLS "Peer Scoring"; deltas follow the Rust reference, the spec leaves them open) ----

export const DEFAULT_PEER_SCORE = 100
/** Removal through an ECP once a score is at or below this (DE-MLS threshold_peer_score). */
export const DEFAULT_THRESHOLD_PEER_SCORE = 0
export const DEFAULT_SCORE_DELTAS = {
  brokenCommit: -50,
  brokenProposal: -30,
  censorship: -40,
  emergencyYesCreator: 20,
  emergencyNoCreator: -50,
  successfulCommit: 10,
  honestLosingCommit: 5,
  notSteward: -10
} as const

// ---- bounds ----

/** Open voting sessions kept per group (Rust keeps 10 consensus sessions); the oldest is evicted first. */
export const MAX_SESSIONS = 256
/** Key packages announced on the welcome topic kept per group, each for 3 epochs (DE-MLS "Buffering KeyPackages"). */
export const MAX_BUFFERED_KEY_PACKAGES = 256
export const KEY_PACKAGE_BUFFER_EPOCHS = 3
/** Commit candidates buffered in one freeze window. */
export const MAX_FREEZE_CANDIDATES = 32
/** Accepted commits kept (as wire bytes) so a member can serve the ones others missed. */
export const MAX_COMMIT_HISTORY = 64
/** Epoch states kept for rolling back to a better competing commit found after the freeze window. */
export const MAX_ROLLBACK_EPOCHS = 4
/** Messages from epochs ahead of ours held until we catch up. */
export const MAX_FUTURE_MESSAGES = 512
/** Candidates for epochs ahead of ours held while we fetch the commits in between. */
export const MAX_FUTURE_CANDIDATES = 16
/** Welcome messages kept to re-serve joiners that missed theirs. */
export const MAX_WELCOMES = 32
/** Pending operations queued on one group (inbound messages, timer ticks, API calls). */
export const MAX_QUEUE_LENGTH = 4096
/** Re-broadcasts of one undecided proposal. */
export const MAX_REPROPAGATIONS = 4
/** Open (undecided) proposals one member may have at once; more are dropped (DE-MLS: limit proposals against spam). */
export const MAX_OPEN_PROPOSALS_PER_MEMBER = 16
/** Own requests (add/remove/leave) waiting to be proposed or re-proposed in a later epoch. */
export const MAX_OUTBOX = 256
/** Attempts at re-proposing one request before it is dropped. */
export const MAX_REPROPOSALS = 8
/** Decided sessions remembered, so late votes and duplicates of a decided proposal are ignored. */
export const MAX_DECIDED_REMEMBERED = 1024
/** Replies to commit and welcome requests are spread over this window; a reply seen from another member cancels ours. */
export const DEFAULT_REPLY_JITTER_MS = 300
/** Commit requests one member sends for the same epoch before it waits for the next announcement. */
export const MAX_COMMIT_REQUESTS_PER_EPOCH = 16
