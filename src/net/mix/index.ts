/**
 * @packageDocumentation
 *
 * The libp2p mix protocol (`/mix/1.0.0`, logos-co/logos-lips docs/anoncomms/raw/mix.md) as a js-libp2p service:
 * Sphinx packets with LIONESS payloads, exponential per-hop delays (mixing on by default), replay tables, exit
 * delivery to the destination protocol, fragmentation, SURB replies, constant-rate (or Poisson) cover loops on one
 * slot budget with real traffic, path selection from mix nodes found through capability discovery, key rotation,
 * and a pluggable per-hop spam protection (RLN).
 *
 * ```ts
 * const node = await createLibp2p({ ..., services: { discovery: capabilityDiscovery(), mix: mixnet() } })
 * await node.services.mix.handle('/echo/1', ({ data }) => data)            // on B
 * const answer = await node.services.mix.request(bPeerId, '/echo/1', bytes)  // on A, through 3 mix nodes
 * ```
 * See docs/mix.md for the wire format and the choices made where the spec is open.
 */
import { MixnetService } from './mixnet.ts'
import type { MixComponents, Mixnet, MixnetInit } from './mixnet.ts'

export function mixnet (init: MixnetInit = {}): (components: MixComponents) => Mixnet {
  return (components) => new MixnetService(components, init)
}

export { MixnetService } from './mixnet.ts'
export type {
  Mixnet, MixnetInit, MixComponents, MixDestination, MixSendOptions, MixRequestOptions, PacketOutcome, MixStats, MixnetEvents,
  MixInternalMessage, MixInternalHandler, MixExitSendOptions, MixSurbOptions
} from './mixnet.ts'
export type { MixHandler, MixIncomingMessage } from './exit-layer.ts'
export type { MixSpamProtection } from './spam-protection.ts'
export { appendProof, splitProof } from './spam-protection.ts'
export { StaticMixNodeSource, staticMixNodeSource, DiscoveryMixNodeSource, discoveryMixNodeSource, parseMixKey } from './node-source.ts'
export type { MixNodeInfo, MixNodeSource, MixDiscovery, DiscoveryMixNodeSourceInit } from './node-source.ts'
export { coverRatePerSecond } from './cover-traffic.ts'
export type { CoverStrategy } from './cover-traffic.ts'
export { planFragments, Reassembler } from './fragmentation.ts'
export { SlotPool } from './slot-pool.ts'
export { ReplayCache } from './replay-cache.ts'
export { isPublicIPv4 } from './destinations.ts'
export { exponentialDelay } from './random.ts'
export { FrameDecoder, encodeFrame } from './wire.ts'
export {
  MixNotStartedError, MixNotEnoughNodesError, MixUnroutableDestinationError, MixMessageTooLargeError, MixQueueFullError,
  MixSlotsExhaustedError, MixReplyTimeoutError, MixDeliveryFailedError, MixUnknownSurbError, MixFragmentError,
  MixSpamProofError, MixDuplicateHandlerError, MixFrameError, MixDialError, MixReplayTableFullError, MixPeerRateLimitedError,
  MixPrivateDestinationError
} from './errors.ts'
export * as MIX_DEFAULTS from './constants.ts'
