/** Every default of the network module, with why. */

/** Listen on loopback with a free port: a node is private until its user says otherwise. */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/** The Kad-DHT protocol id under the Logos prefix, so Logos nodes form their own DHT, apart from IPFS's. */
export const KAD_PROTOCOL = '/logos/kad/1.0.0'

/** File in the module's data directory holding the node's private key (protobuf, as libp2p marshals it). */
export const PEER_KEY_FILE = 'peer-key'

/** Connections kept at most: room for dozens of local peers plus the DHT's and gossipsub's own. */
export const MAX_CONNECTIONS = 300

/**
 * Inbound connections accepted per second from one host. js-libp2p's default of 5 breaks a loopback network, where
 * every peer is the same host and dozens connect at once when a devnet starts.
 */
export const INBOUND_CONNECTION_THRESHOLD = 1000

/** Inbound connections being upgraded (Noise, Yamux) at once; js-libp2p's 10 stalls a devnet start. */
export const MAX_INCOMING_PENDING_CONNECTIONS = 200

/** Dials in flight at once. */
export const MAX_PARALLEL_DIALS = 100

/** Outbound and inbound ping streams per connection: Kad-DHT and the connection monitor both ping. */
export const PING_STREAMS = 8

/** A bootstrap peer that cannot be reached is tried again this many times. */
export const BOOTSTRAP_RETRIES = 10

/** First pause between bootstrap attempts; it doubles each time. */
export const BOOTSTRAP_BACKOFF_MS = 250

/** Longest pause between bootstrap attempts. */
export const BOOTSTRAP_BACKOFF_MAX_MS = 5000

/** A findProviders call without a timeout gives up after this long. */
export const FIND_PROVIDERS_TIMEOUT_MS = 20_000

/** Largest gossipsub payload accepted from a module (gossipsub's own cap is 1 MiB per RPC). */
export const MAX_PUBLISH_BYTES = 512 * 1024
