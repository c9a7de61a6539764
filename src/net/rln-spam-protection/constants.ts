/** Defaults of the mixnet's RLN spam protection (mix-spam-protection-rln.md, LOGOS-MIXNET profile). */

import type { ProverKind } from '../../crypto/rln/index.ts'

/** Bytes of a zkSNARK proof in RateLimitProof (128, compressed) */
export const ZK_PROOF_FIELD_BYTES = 128

/** Bytes of every other RateLimitProof field (merkle_root, epoch, share_x, share_y, nullifier). */
export const VALUE_FIELD_BYTES = 32

/**
 * The encoded RateLimitProof appended to each packet per hop: 288 bytes of values plus the protobuf framing of six
 * length-delimited fields (six tags, one two-byte length for the proof, five one-byte lengths) = 301 bytes.
 */
export const RATE_LIMIT_PROOF_BYTES = 301

/** Shares in one exported MessagingMetadata message (a bound on what one coordination message may carry). */
export const MAX_METADATA_SHARES = 10_000

/**
 * The prover of an RLN instance made for the mixnet (createRlnSpamProtection): the split prover. Every hop proves
 * every packet it forwards, so a proof's time is added at each hop; with a precomputed proof ready the online step
 * takes milliseconds, where zerokit's wasm takes a second or more on the same machine (BENCHMARKS.md, rln: the
 * mix spec's "Future Work: pre-computed proofs").
 */
export const MIX_RLN_PROVER: ProverKind = 'split'

/**
 * Precomputed proofs a mix node keeps ready: one per packet in flight; each uses up a message_id of its epoch and is
 * lost if the epoch passes unused, so the stock stays small.
 */
export const MIX_RLN_PRECOMPUTE = 1
