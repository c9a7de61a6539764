/**
 * Sphinx for the libp2p mix protocol (logos-lips docs/anoncomms/raw/mix.md section 8, mix-lioness.md): X25519
 * through node:crypto, the spec's KDF labels, AES-128-CTR and truncated HMAC-SHA256 on the header, LIONESS on the
 * payload, SURBs, and the byte layouts of hop addresses and of the message inside the payload.
 *
 * Pure functions over bytes: no I/O, no clocks, and all randomness passed in (so test vectors are exact). The
 * choices on points the spec leaves open are written beside the code that makes them and listed in docs/mix.md.
 */
export * from './constants.ts'
export {
  SphinxError, SphinxLengthError, SphinxInvalidPointError, SphinxReplayError, SphinxMacError,
  SphinxPayloadIntegrityError, SphinxMalformedPayloadError, SphinxAddressError, SphinxPathError,
  SphinxMessageTooLargeError, SphinxKeyAgreementError
} from './errors.ts'
export {
  X25519_LENGTH, GROUP_ORDER, importScalar, importScalarWithPublic, importPoint, x25519, x25519Raw, basePointMul,
  generateMixKeyPair, isCanonicalPoint, isSmallOrderPoint, assertPoint, clampedScalar, ScalarProduct
} from './x25519.ts'
export type { ScalarKey } from './x25519.ts'
export { kdf, sha256, mac } from './kdf.ts'
export { aesCtr, aesCtrKeystream, addToCounter } from './stream-cipher.ts'
export { lionessKeys, lionessEncrypt, lionessDecrypt } from './lioness.ts'
export type { LionessKeys } from './lioness.ts'
export { computePathSecrets, chained } from './secrets.ts'
export type { PathKey, PathSecrets } from './secrets.ts'
export { hopKeys, buildHeader, encryptPayload, buildPacket, processPacket, payloadRoundKeys } from './packet.ts'
export type {
  HopKeys, PathHop, ExitInstruction, HeaderInput, BuiltHeader, BuildPacketInput, ReplayGuard, ProcessingKey, ProcessResult
} from './packet.ts'
export { createSurb, encodeSurb, decodeSurb, useSurb, recoverReply } from './surb.ts'
export type { Surb, SurbSecrets, SurbInput } from './surb.ts'
export { encodeAddress, decodeAddress, isZeroAddress } from './address.ts'
export type { HopAddress } from './address.ts'
export {
  PAD_FIELD_LENGTH, BODY_LENGTH, MESSAGE_ID_LENGTH, FRAGMENT_HEADER_LENGTH, REPLY_HEADER_LENGTH, MAX_CODEC_LENGTH,
  REPLY_DATA_CAPACITY, REPLY_STATUS, padMessage, unpadMessage, forwardDataCapacity, encodeForwardMessage,
  decodeForwardMessage, encodeReplyMessage, decodeReplyMessage
} from './payload.ts'
export type { Fragment, ForwardMessage, ReplyMessage } from './payload.ts'
