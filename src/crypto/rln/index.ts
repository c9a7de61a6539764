/**
 * RLN v2 (Rate Limiting Nullifier) on zerokit's ceremony circuit: identities, a persisted membership group with a
 * window of recent roots, proofs made and checked in worker threads (zerokit's wasm by default, witness by
 * circom_runtime; a split prover for millisecond online proofs; snarkjs as a second implementation), epochs with a
 * bounded gap, and a nullifier log that detects double signalling, recovers the secret, proves it and slashes.
 * Specs: vacp2p/rfc-index vac/32/rln-v1.md and vac/raw/rln-v2.md.
 */
export * from './constants.ts'
export * from './errors.ts'
export { mod, inverse, toBytesLE, fromBytesLE, fieldFromBytes, fieldFromBytesReduced, hashToField, randomField, fieldToHex, fieldFromHex, equalBytes } from './field.ts'
export { poseidon } from './poseidon.ts'
export { EpochClock, epochAt, encodeEpoch, decodeEpoch, rlnIdentifierField, externalNullifier } from './epoch.ts'
export type { EpochOptions } from './epoch.ts'
export { createIdentity, identityFromSecret, rateCommitment, saveIdentity, loadIdentity } from './identity.ts'
export type { RlnIdentity } from './identity.ts'
export { MerkleTree, zeroHashes, rootFromProof } from './merkle-tree.ts'
export type { MerkleProof } from './merkle-tree.ts'
export { MembershipGroup } from './group.ts'
export type { Member, MemberChange, GroupOptions } from './group.ts'
export { serializeProof, parseProof, publicSignals } from './proof.ts'
export type { RlnProof } from './proof.ts'
export { compressProof, decompressProof, toSnarkjsProof, fromSnarkjsProof, compressG1, compressG2, decompressG1, decompressG2 } from './arkworks-codec.ts'
export type { Groth16Points, SnarkjsProof, G1Affine, G2Affine } from './arkworks-codec.ts'
export { RlnEngine, serializeWitness, PROVER_KINDS, VERIFIER_KINDS, proverParts, verifierParts } from './engine.ts'
export type { ProverKind, VerifierKind, EnginePart, WitnessInput, EngineResources } from './engine.ts'
export { readZkey, verifyingOnlyZkey } from './zkey.ts'
export type { ZkeyFile } from './zkey.ts'
export type { PrecomputedProof, ProofPart } from './split-prover.ts'
export { ProverPool, defaultWorkerCount } from './pool.ts'
export type { PoolOptions } from './pool.ts'
export { resolveResources, defaultCacheDir } from './resources.ts'
export type { ResourceOptions, RlnResources } from './resources.ts'
export { NullifierLog, recoverSecret } from './nullifier-log.ts'
export type { MessageShare, Observation, NullifierLogOptions } from './nullifier-log.ts'
export { buildEvidence, verifyEvidence, evidenceToJson, evidenceFromJson } from './slashing.ts'
export type { SlashingEvidence, SlashingEvidenceJson } from './slashing.ts'
export { MessageIdAllocator } from './message-ids.ts'
export { Rln } from './rln.ts'
export type { RlnOptions, ProveOptions, VerifyOptions, ProvenMessage, VerifiedMessage, SlashedEvent } from './rln.ts'
