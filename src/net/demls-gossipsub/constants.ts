/** Defaults of the De-MLS gossipsub binding. */

/** Publishes in flight at once; more wait in order (a commit burst is a few dozen messages). */
export const MAX_PUBLISH_IN_FLIGHT = 32
/** Messages waiting to be published when the pub/sub layer is slower than the group; the oldest are dropped past this (the protocol recovers lost messages). */
export const MAX_PUBLISH_QUEUE = 4096
/** The libp2p service name of the pub/sub service this binding uses (js-libp2p convention: services.pubsub). */
export const DEFAULT_PUBSUB_SERVICE = 'pubsub'
