/**
 * Every default of the delivery protocols (Waku: relay, store, lightpush), each with the reason for its value.
 * Specs: logos-co/logos-lips docs/messaging (11/relay, 14/message, 13/store, lightpush v3, relay-sharding,
 * 17/rln-relay) and, where the text lags behind, the logos-delivery (nwaku) code.
 */

/** 11/WAKU2-RELAY: gossipsub speaks this protocol id instead of /meshsub/*. */
export const RELAY_CODEC = '/vac/waku/relay/2.0.0'

/** 13/WAKU2-STORE v3. */
export const STORE_CODEC = '/vac/waku/store-query/3.0.0'

/** WAKU-LIGHTPUSH v3 (docs/messaging/raw/lightpush.md). */
export const LIGHTPUSH_CODEC = '/vac/waku/lightpush/3.0.0'

/** 64/WAKU2-NETWORK: messages above 150 KiB are refused by relay (messaging-api.md MessageValidation default). */
export const MAX_MESSAGE_BYTES = 150 * 1024

/** 14/WAKU2-MESSAGE "meta": at most 64 bytes. */
export const MAX_META_BYTES = 64

/** Longest content topic accepted: content topics are short paths; this bounds what a peer can make us hash. */
export const MAX_CONTENT_TOPIC_LENGTH = 512

/** The Waku Network preset (messaging-api.md TheWakuNetworkPreset): cluster 1 ... */
export const DEFAULT_CLUSTER_ID = 1

/** ... with 8 autosharded shards. */
export const DEFAULT_NUM_SHARDS = 8

/** relay-sharding.md "Static Sharding": 1024 shards per cluster. */
export const MAX_SHARDS_PER_CLUSTER = 1024

/** 17/WAKU2-RLN-RELAY as implemented (logos-delivery rln_relay.nim): a message more than 20 s off our clock is invalid. */
export const MAX_TIMESTAMP_GAP_MS = 20_000

/**
 * The RLN identifier of the Waku Network (logos-delivery constants.nim DefaultRlnIdentifier): the ASCII bytes zero
 * padded to 32, read little-endian as a field element.
 */
export const WAKU_RLN_IDENTIFIER = 'rln/waku-rln-relay/v2.0.0'

/** RLN epoch length of the Waku Network (messaging-api.md TheWakuNetworkMessageValidation epoch_size_sec). */
export const WAKU_EPOCH_PERIOD_SECONDS = 600

/** RLN roots a Waku relay accepts (logos-delivery: AcceptableRootWindowSize = 50). */
export const WAKU_ROOT_WINDOW = 50

/**
 * Gossipsub parameters of Waku relay (logos-delivery waku_relay/protocol.nim GossipsubParams; the digest lists them):
 * D 6, Dlo 4, Dhi 8, Dscore 6, Dout 3, Dlazy 6, gossip factor 0.25, heartbeat 1 s, history 6/3, fanout TTL 1 min,
 * seen TTL 2 min, prune backoff 1 min, flood publish.
 */
export const RELAY_GOSSIPSUB = Object.freeze({
  D: 6,
  Dlo: 4,
  Dhi: 8,
  Dscore: 6,
  Dout: 3,
  Dlazy: 6,
  gossipFactor: 0.25,
  heartbeatInterval: 1_000,
  mcacheLength: 6,
  mcacheGossip: 3,
  fanoutTTL: 60_000,
  seenTTL: 120_000,
  pruneBackoff: 60_000,
  floodPublish: true
})

/** P4 (invalid messages) weight per topic: a relay that forwards an invalid message is heavily penalised (nwaku: -100). */
export const INVALID_MESSAGE_WEIGHT = -100

/** P4 decay per decay interval (nwaku: 0.5). */
export const INVALID_MESSAGE_DECAY = 0.5

/** IP colocation weight (nwaku: -50) ... */
export const IP_COLOCATION_WEIGHT = -50

/** ... above this many peers on one IP (nwaku: 5). */
export const IP_COLOCATION_THRESHOLD = 5

/**
 * Addresses the colocation penalty never applies to: on a loopback devnet every peer is 127.0.0.1, and the penalty
 * (meant for one operator's many nodes on one host) would graylist all of them.
 */
export const IP_COLOCATION_WHITELIST = Object.freeze(['127.0.0.1', '::1'])

/**
 * Score thresholds: below gossip no gossip is exchanged, below publish we do not flood-publish to the peer, below
 * graylist its RPCs are ignored. Chosen so one invalid message (P4 = -100) stops gossip with the sender and ten
 * graylist it, while the decay (0.5 per second) lets an honest peer that relayed one bad message recover in seconds.
 */
export const SCORE_THRESHOLDS = Object.freeze({
  gossipThreshold: -100,
  publishThreshold: -1_000,
  graylistThreshold: -10_000,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 5
})

/**
 * Messages held waiting for an asynchronous validator; beyond it new ones are ignored (not penalised). Gossipsub
 * keeps them in its cache for `mcacheLength` heartbeats anyway, so a larger backlog could not be forwarded.
 */
export const MAX_PENDING_VALIDATIONS = 1_024

/**
 * A validator that has not answered after this long gets its message ignored: gossipsub forgets unvalidated
 * messages after mcacheLength (6) heartbeats of 1 s, so a later verdict could not forward it anyway.
 */
export const VALIDATION_TIMEOUT_MS = 5_000

/** Store v3 (13/WAKU2-STORE "Pagination"): the page size when the client gives none ... */
export const STORE_DEFAULT_PAGE = 20

/** ... and the largest page a store node returns. */
export const STORE_MAX_PAGE = 100

/** Message hashes a single store lookup may ask for (same bound as the page: one page answers it). */
export const STORE_MAX_HASHES = 100

/** Content topics in one store query (the filter protocol's bound of 100 content topics). */
export const STORE_MAX_CONTENT_TOPICS = 100

/** Messages an archive keeps before the oldest go (about 2.5 GB of the largest messages; far fewer in practice). */
export const ARCHIVE_MAX_MESSAGES = 100_000

/** How long an archive keeps a message (nwaku's default retention policy: 2 days). */
export const ARCHIVE_MAX_AGE_MS = 2 * 24 * 3600 * 1000

/** How often retention runs. */
export const ARCHIVE_PRUNE_INTERVAL_MS = 60_000

/**
 * 13/WAKU2-STORE "Waku Message Store Eligibility": a store node may refuse messages more than 20 s off its clock;
 * we do (a far-future timestamp would sit at the head of every backward query).
 */
export const ARCHIVE_MAX_TIMESTAMP_GAP_MS = 20_000

/** Largest request or response frame on the request/response protocols (a store page of 100 messages of 150 KiB
 * would be 15 MB: the server shortens its pages to fit). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024

/** A request/response exchange gives up after this long. */
export const REQUEST_TIMEOUT_MS = 10_000

/** Inbound streams per peer on the store and lightpush protocols. */
export const MAX_INBOUND_STREAMS = 32

/** Outbound streams per peer on the store and lightpush protocols. */
export const MAX_OUTBOUND_STREAMS = 32

/** Longest request id accepted from a peer. */
export const MAX_REQUEST_ID_LENGTH = 128
