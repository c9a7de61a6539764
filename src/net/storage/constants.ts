/**
 * Every default and limit of the storage service, with why. The wire limits are logos-storage-nim's
 * (storage/blockexchange/protocol/constants.nim, storage/manifest/protocol.nim), as the Logos Storage digest lists them.
 */

/** Block exchange protocol id (logos-storage-nim storage/blockexchange/network/network.nim `Codec`). */
export const BLOCKEXC_PROTOCOL = '/storage/blockexc/1.0.0'

/** Manifest transfer protocol id (storage/manifest/protocol.nim `ManifestProtocolCodec`). */
export const MANIFEST_PROTOCOL = '/storage/manifest/1.0.0'

// ---- datasets -------------------------------------------------------------------------------------------------------

/** Default block size: 64 KiB (LIP MERKLE-TREE footnote 3; CODEX-MANIFEST `blockSize`). */
export const DEFAULT_BLOCK_SIZE = 64 * 1024

/** Smallest block size allowed (the digest: a power of two from 4 KiB to 512 KiB). */
export const MIN_BLOCK_SIZE = 4 * 1024

/** Largest block size allowed (same rule). */
export const MAX_BLOCK_SIZE = 512 * 1024

/** Largest manifest served or accepted on /storage/manifest/1.0.0 (`ManifestMaxDataSize`). */
export const MAX_MANIFEST_BYTES = 64 * 1024

/** Largest CID in a manifest request (`ManifestMaxCidSize`). */
export const MAX_MANIFEST_CID_BYTES = 512

/** Longest filename or mimetype kept in a manifest: room for real names, far below the manifest cap. */
export const MAX_MANIFEST_TEXT = 1024

// ---- block exchange wire limits --------------------------------------------------------------------------------------

/** Largest protobuf control message (`MaxMessageSize` = 16 MiB). */
export const MAX_CONTROL_MESSAGE_BYTES = 16 * 1024 * 1024

/** Target bytes of block data per WantBlocks batch (`TargetBatchBytes` = 128 KiB). */
export const TARGET_BATCH_BYTES = 128 * 1024

/** Blocks per batch at most: the target batch over the smallest block (`MaxBlocksPerBatch`). */
export const MAX_BLOCKS_PER_BATCH = TARGET_BATCH_BYTES / MIN_BLOCK_SIZE

/** Entries decoded from one want list or presence list (`MaxWantListEntries`, `MaxBlockPresenceEntries`). */
export const MAX_WANTLIST_ENTRIES = 1024

/** Largest metadata part of a WantBlocks response (`MaxMetadataSize` = 4 MiB). */
export const MAX_RESPONSE_METADATA_BYTES = 4 * 1024 * 1024

/**
 * Largest WantBlocks response frame: length field + metadata + one batch of data. nim caps the data at
 * TargetBatchBytes; a batch of blocks larger than that target (a single 512 KiB block) must still fit, so the data
 * part here is max(target, one largest block).
 */
export const MAX_RESPONSE_BYTES = 4 + MAX_RESPONSE_METADATA_BYTES + Math.max(TARGET_BATCH_BYTES, MAX_BLOCK_SIZE)

/** Largest WantBlocks request (`MaxWantBlocksRequestBytes`: the worst sparse batch of ranges + 1 KiB). */
export const MAX_REQUEST_BYTES = (MAX_BLOCKS_PER_BATCH / 2) * 16 + 1024

/** Deepest Merkle proof accepted (`MaxMerkleProofDepth`). */
export const MAX_PROOF_DEPTH = 64

/** A want-have that cannot be sent within this is given up for that peer (`DefaultWantHaveSendTimeout` = 30 s). */
export const WANT_HAVE_TIMEOUT_MS = 30_000

/** Control messages and requests in flight from this node at once (`DefaultMaxInflight` = 100). */
export const MAX_SENDS_IN_FLIGHT = 100

/** Inbound block exchange streams at once (nim mounts the protocol with maxIncomingStreamsTotal = maxInflight). */
export const MAX_INBOUND_STREAMS = 100

/**
 * Outbound block exchange streams kept per peer. nim keeps one; a peer serves requests on whatever stream they come
 * on, so several are wire-compatible, and they matter: each Yamux stream has its own flow-control window, and one
 * stream carrying every batch is held to a window per round trip.
 */
export const STREAMS_PER_PEER = 4

/** Outbound streams per protocol per connection: the lanes, plus room for reopening. */
export const MAX_OUTBOUND_STREAMS = 2 * STREAMS_PER_PEER

/** WantBlocks requests from one peer being served at once on one stream; more wait in the stream's own order. */
export const MAX_SERVING_PER_STREAM = 4

/** Requests this node keeps waiting for answers per peer; more are refused rather than queued. */
export const MAX_PENDING_REQUESTS_PER_PEER = 64

// ---- downloads -------------------------------------------------------------------------------------------------------

/** WantBlocks requests in flight to one peer at once (nim starts its pipeline at 2 and adapts up to 32). */
export const PIPELINE_DEPTH = 4

/** Providers asked at once for one dataset (nim's swarm: target 8 active, at most 16). */
export const MAX_SWARM_PEERS = 16

/** Providers asked for in one lookup. */
export const PROVIDER_LOOKUP_LIMIT = 16

/** A batch that has no answer within this is requeued (nim clamps its adaptive timeout to 5-45 s, 30 s default). */
export const BATCH_TIMEOUT_MS = 30_000

/** A download with no new block for this long fails (the caller can start it again: it resumes). */
export const STALL_TIMEOUT_MS = 60_000

/** Pause between provider lookups while a download has no usable peer. */
export const LOOKUP_RETRY_MS = 1_000

/** Failed requests (errors, not timeouts) after which a peer leaves a download's swarm (nim: 2). */
export const MAX_PEER_FAILURES = 2

/** Downloads running at once on this node; more are refused with a typed error. */
export const MAX_CONCURRENT_DOWNLOADS = 32

/** Manifest fetch attempt per provider (`DefaultManifestFetchTimeout` = 30 s). */
export const MANIFEST_FETCH_TIMEOUT_MS = 30_000

/** Rounds of provider lookup for a manifest (`DefaultManifestRetries` = 10). */
export const MANIFEST_RETRIES = 10

/** Pause between manifest lookup rounds (nim: 3 s; shorter here, a round is a local discovery lookup). */
export const MANIFEST_RETRY_DELAY_MS = 1_000

// ---- providers -------------------------------------------------------------------------------------------------------

/** Manifests advertised at once (the digest: "advertised on the Kad-DHT every 30 min, 10 at a time"). */
export const ADVERTISE_CONCURRENCY = 10

/** How often every stored manifest is advertised again on the DHT (the digest: every 30 min). */
export const READVERTISE_INTERVAL_MS = 30 * 60 * 1000

/** Manifests waiting to be advertised; beyond it the oldest waits for the next periodic round. */
export const MAX_ADVERTISE_QUEUE = 10_000

/** One DHT provide or lookup gives up after this long (a small network answers in well under a second). */
export const DHT_TIMEOUT_MS = 10_000

// ---- store -----------------------------------------------------------------------------------------------------------

/** Default quota: 20 GiB (the Basecamp storage module's default). */
export const DEFAULT_QUOTA_BYTES = 20 * 1024 * 1024 * 1024

/** Default block TTL: 30 days (the Basecamp storage module's default). */
export const DEFAULT_BLOCK_TTL_MS = 30 * 24 * 60 * 60 * 1000

/** How often expired blocks are looked for. */
export const MAINTENANCE_INTERVAL_MS = 10 * 60 * 1000

/** Expired blocks deleted per maintenance pass, so one pass never holds the event loop long. */
export const MAINTENANCE_BATCH = 1_000

/** SQLite database file in the store's folder. */
export const STORE_FILE = 'blocks.sqlite'

/** Most bytes a single read returns (callers page through larger ranges). */
export const MAX_READ_BYTES = 4 * 1024 * 1024

/** Uploads open at once; more are refused with a typed error. */
export const MAX_OPEN_UPLOADS = 64
