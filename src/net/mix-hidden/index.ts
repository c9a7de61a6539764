/**
 * @packageDocumentation
 *
 * Hidden services over the mixnet (logos-co/logos-lips PR #330, docs/anoncomms/raw/mix-hidden-service.md): a
 * service reachable by its `.mix` address without anyone learning where it runs, as a layer over the mix service
 * (src/net/mix). Introduction points keep the service's intro-SURBs (hs 7), descriptors signed with per-epoch
 * blinded keys sit at the mix nodes closest to their discovery keys (hs 8), clients introduce themselves with SURBs
 * (hs 9), and both sides then talk through SURBs relayed by one-time rendezvous nodes (hs 10). Every node running
 * the layer also serves as an introduction point, directory and rendezvous node for others.
 *
 * ```ts
 * const node = await createLibp2p({ ..., services: { discovery: capabilityDiscovery(), mix: mixnet(), hidden: mixHiddenServices() } })
 * const svc = await node.services.hidden.host({ protocol: '/echo/1', handler: ({ data }) => data })   // on S
 * const answer = await other.services.hidden.request(svc.address, '/echo/1', bytes)                  // on C
 * ```
 * See docs/hidden-services.md for the wire formats and the choices made where the proposal is open.
 */
import { HiddenServicesService } from './hidden-services.ts'
import type { HiddenServices, HiddenServicesComponents, HiddenServicesInit } from './hidden-services.ts'

export function mixHiddenServices (init: HiddenServicesInit = {}): (components: HiddenServicesComponents) => HiddenServices {
  return (components) => new HiddenServicesService(components, init)
}

export { HiddenServicesService } from './hidden-services.ts'
export type { HiddenServices, HiddenServicesComponents, HiddenServicesInit, HiddenStats, HiddenServicesEvents } from './hidden-services.ts'
export type { HiddenMixTransport } from './transport.ts'
export { HostedService } from './service.ts'
export type { HostInit, HiddenRequest, HiddenRequestHandler, PublishResult } from './service.ts'
export type { HiddenRequestOptions, LookupOptions } from './client.ts'
export { INTRO_APP_DATA_CAPACITY } from './client.ts'
export {
  encodeMixAddress, decodeMixAddress, normalizeMixAddress, addressChecksum, base32Encode, base32Decode, ADDRESS_SUFFIX, ADDRESS_CHARS
} from './address.ts'
export {
  signingKeyFromSeed, generateSigningKey, blindingFactor, blindPublicKey, blindSigningKey, sign, verifySignature, clamp, parsePublicKey
} from './blinding.ts'
export type { SigningKey } from './blinding.ts'
export {
  buildDescriptor, openDescriptor, verifyOuter, encodeOuter, decodeOuter, discoveryKey, defaultPublicEntropy, epochOf
} from './descriptor.ts'
export type { IntroPointEntry, OuterLayer, EncryptedBlob, OpenedDescriptor, BuildDescriptorInput } from './descriptor.ts'
export { DescriptorStore } from './directory.ts'
export { generateDhKey, dh } from './dh.ts'
export type { DhKeyPair } from './dh.ts'
export {
  MSG, encodeEstablishIntro, decodeEstablishIntro, verifyEstablishIntro, encodeIntroSurbs, sealIntroduce, openIntroduce,
  encodeIntroduce, decodeIntroduce, encodeRendezvous, decodeRendezvous
} from './messages.ts'
export type { Introduce, IntroRequest, EstablishIntro } from './messages.ts'
export { encodeFrame, decodeFrame, sealInner, openInner, sessionKeys, frameCapacity, FRAME_LENGTH } from './session.ts'
export type { Frame } from './session.ts'
export {
  HiddenAddressError, HiddenKeyError, HiddenMalformedError, HiddenDescriptorInvalidError, HiddenDescriptorStaleError,
  HiddenDescriptorNotFoundError, HiddenUnauthorizedError, HiddenIntroAuthError, HiddenIntroDuplicateError,
  HiddenCapacityError, HiddenReplayError, HiddenUnknownIntroError, HiddenNoIntroSurbError, HiddenRateLimitedError,
  HiddenIntroMacError, HiddenRendezvousIntegrityError, HiddenNoIntroPointsError, HiddenPublishFailedError,
  HiddenConnectFailedError, HiddenRequestTimeoutError, HiddenResponseError, HiddenMessageTooLargeError,
  HiddenNotStartedError, HiddenDuplicateServiceError, HiddenSessionClosedError
} from './errors.ts'
export * as HIDDEN_DEFAULTS from './constants.ts'
