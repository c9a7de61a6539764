/**
 * RLN spam protection for the mixnet (logos-lips docs/anoncomms/raw/mix-spam-protection-rln.md): the per-hop
 * RateLimitProof (301 bytes), validation with slashing, and the messaging metadata of the coordination layer.
 */
export { RlnSpamProtection, rlnSpamProtection, createRlnSpamProtection } from './spam-protection.ts'
export type { MixSpamProtection, MixSpamMetadataExchange, RlnSpamProtectionInit } from './spam-protection.ts'
export { encodeRateLimitProof, decodeRateLimitProof, toRlnProof, fromRlnProof } from './rate-limit-proof.ts'
export type { RateLimitProof } from './rate-limit-proof.ts'
export { encodeMessagingMetadata, decodeMessagingMetadata } from './messaging-metadata.ts'
export type { MessagingMetadata, MetadataEntry } from './messaging-metadata.ts'
export { MixRlnWireError } from './errors.ts'
export * from './constants.ts'
