/**
 * The De-MLS binding for js-libp2p: runs a De-MLS client (src/crypto/demls) over gossipsub between real nodes.
 * Mount it after the pub/sub service: `services: { pubsub: gossipsub(...), demls: demlsGossipsub({ clientOptions }) }`.
 */
export { demlsGossipsub, DemlsGossipsub } from './demls-gossipsub.ts'
export type { DemlsGossipsubInit, DemlsGossipsubComponents, DemlsGossipsubStats, PubSubLike } from './demls-gossipsub.ts'
export { DemlsNoPubsubError, DemlsNotStartedError } from './errors.ts'
export { DEFAULT_PUBSUB_SERVICE, MAX_PUBLISH_IN_FLIGHT, MAX_PUBLISH_QUEUE } from './constants.ts'
