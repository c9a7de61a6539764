import {
  RlnBusyError, RlnDuplicateMessageError, epochAt, externalNullifier, parseProof, rlnIdentifierField, serializeProof,
  toBytesLE
} from '../../crypto/rln/index.ts'
import type { Rln } from '../../crypto/rln/index.ts'
import { throwIfAborted } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { MAX_TIMESTAMP_GAP_MS } from './constants.ts'
import {
  DeliveryDecodeError, DeliveryEpochMismatchError, DeliveryMissingProofError, DeliveryRlnIdentifierError,
  DeliveryTimestampError
} from './errors.ts'
import { rlnSignal } from './message.ts'
import type { WakuMessage } from './message.ts'
import { decodeRateLimitProof, encodeRateLimitProof, fromZerokitProof, proofEpoch, toZerokitProof } from './rate-limit-proof.ts'

/**
 * RLN relay (17/WAKU2-RLN-RELAY, v2 as logos-delivery implements it): proving a message before it is published, and
 * validating one before it is relayed. The RLN work itself (root window, zkSNARK, nullifier log, slashing) is behind
 * two small interfaces, so the same code runs over a local `Rln` (rlnRelayOver) or over the rln module's methods.
 */

export interface RlnRelayParams {
  /** Epoch length in seconds: epoch = floor(timestamp / period). */
  readonly epochPeriodSeconds: number
  /** The application's RLN identifier as a field element (external_nullifier = Poseidon(epoch, rln_identifier)). */
  readonly rlnIdentifier: bigint
}

export interface RlnRelayVerifier extends RlnRelayParams {
  /**
   * Checks a proof of `signal` for `epoch`: root among the recent roots, x = hash(signal), the zkSNARK, then the
   * nullifier log (ERR_RLN_DUPLICATE_MESSAGE for a replay; double signalling slashes the sender and throws
   * ERR_RLN_SPAM_DETECTED). `proof` is the library's 288-byte form. Runs off the event loop (worker threads).
   */
  verify: (signal: Uint8Array, proof: Uint8Array, epoch: bigint, options?: AbortOptions) => Promise<void>
}

export interface RlnRelayProver extends RlnRelayParams {
  /** Proves `signal` for this member (one message_id of the epoch); the current epoch unless `epoch` is given. */
  prove: (signal: Uint8Array, options?: AbortOptions & { epoch?: bigint }) => Promise<{ proof: Uint8Array, epoch: bigint }>
}

/** The epoch of a message timestamp (ns): floor(seconds / period), the formula of the RLN library's clock. */
export function epochOfTimestamp (timestampNs: bigint, periodSeconds: number): bigint {
  return epochAt(Number(timestampNs / 1_000_000n), periodSeconds)
}

const extNullifierCache = new Map<string, Uint8Array>()
/** Bound on the cache of external nullifiers (one Poseidon hash each). */
const EXT_NULLIFIER_CACHE = 64

function externalNullifierLE (epoch: bigint, rlnIdentifier: bigint): Uint8Array {
  const key = `${epoch}:${rlnIdentifier}`
  let v = extNullifierCache.get(key)
  if (v === undefined) {
    v = toBytesLE(externalNullifier(epoch, rlnIdentifier))
    if (extNullifierCache.size >= EXT_NULLIFIER_CACHE) extNullifierCache.delete(extNullifierCache.keys().next().value as string)
    extNullifierCache.set(key, v)
  }
  return v
}

export interface ValidateOptions extends AbortOptions {
  /** Our clock in ms (tests set it). */
  nowMs?: number
  maxTimestampGapMs?: number
}

export interface ValidatedProof {
  epoch: bigint
  /** The proof's nullifier (32 bytes, little-endian). */
  nullifier: Uint8Array
}

/**
 * Validates a message in the order of logos-delivery's validateMessage (the digest's order): the timestamp within
 * 20 s of our clock, the proof's epoch equal to floor(timestamp / period), then (in the verifier) the root among
 * the recent roots, the zkSNARK over signal = payload || content_topic || timestamp (u64 LE), and the nullifier.
 * Throws the typed error of the first failed check. We also refuse a proof naming another RLN identifier (its
 * external nullifier could never match ours; saying so is clearer than "invalid proof").
 */
export async function validateRlnMessage (m: WakuMessage, verifier: RlnRelayVerifier, options: ValidateOptions = {}): Promise<ValidatedProof> {
  throwIfAborted(options.signal)
  if (m.proof === undefined || m.proof.length === 0) throw new DeliveryMissingProofError('the message has no rate limit proof')
  const now = options.nowMs ?? Date.now()
  const gap = options.maxTimestampGapMs ?? MAX_TIMESTAMP_GAP_MS
  const tsMs = Number((m.timestamp ?? 0n) / 1_000_000n)
  if (Math.abs(now - tsMs) > gap) {
    throw new DeliveryTimestampError(`timestamp ${tsMs} ms is ${Math.round(Math.abs(now - tsMs) / 1000)} s from our clock; at most ${gap / 1000} s allowed`, { data: { timestampMs: tsMs, nowMs: now } })
  }
  let proof
  try {
    proof = decodeRateLimitProof(m.proof)
  } catch (err) {
    throw new DeliveryMissingProofError('the rate limit proof does not decode', { cause: err })
  }
  const ours = toBytesLE(verifier.rlnIdentifier)
  if (!Buffer.from(proof.rlnIdentifier).equals(Buffer.from(ours))) throw new DeliveryRlnIdentifierError('the proof is for another RLN identifier')
  let epoch: bigint
  try {
    epoch = proofEpoch(proof)
  } catch (err) {
    throw new DeliveryMissingProofError('the proof epoch does not decode', { cause: err })
  }
  const expected = epochOfTimestamp(m.timestamp ?? 0n, verifier.epochPeriodSeconds)
  if (epoch !== expected) throw new DeliveryEpochMismatchError(`the proof is for epoch ${epoch}, the timestamp is in epoch ${expected}`, { data: { epoch: epoch.toString(), expected: expected.toString() } })
  await verifier.verify(rlnSignal(m), toZerokitProof(proof, externalNullifierLE(epoch, verifier.rlnIdentifier)), epoch, { signal: options.signal })
  return { epoch, nullifier: proof.nullifier }
}

/**
 * Adds a rate limit proof to a message (its timestamp must be set): signal = payload || content_topic || timestamp,
 * for the epoch of the timestamp. The prover's precomputed stock serves the current epoch; if the epoch turned
 * between the timestamp and the proof, the proof is made again for the timestamp's epoch.
 */
export async function proveRlnMessage (m: WakuMessage, prover: RlnRelayProver, options: AbortOptions = {}): Promise<WakuMessage> {
  if (m.timestamp === undefined) throw new DeliveryDecodeError('a message needs a timestamp before it is proven')
  const signal = rlnSignal(m)
  const want = epochOfTimestamp(m.timestamp, prover.epochPeriodSeconds)
  let made = await prover.prove(signal, { signal: options.signal })
  if (made.epoch !== want) made = await prover.prove(signal, { epoch: want, signal: options.signal })
  const wire = fromZerokitProof(made.proof, made.epoch, toBytesLE(prover.rlnIdentifier))
  return { ...m, proof: encodeRateLimitProof(wire) }
}

/** What gossipsub is told: replays and overload are ignored (no penalty); every other failure is rejected (P4). */
export function relayVerdict (err: unknown): 'reject' | 'ignore' {
  const code = (err as { code?: unknown })?.code
  if (code === RlnDuplicateMessageError.code || code === RlnBusyError.code) return 'ignore'
  if (code === 'ERR_ABORTED' || code === 'ERR_CALL_TIMEOUT' || code === 'ERR_CALL_ABORTED' || code === 'ERR_MODULE_NOT_RUNNING' || code === 'ERR_RLN_WORKER') return 'ignore'
  return 'reject'
}

/** RLN relay over a local RLN instance (tests, a standalone js-libp2p node). */
export function rlnRelayOver (rln: Rln): RlnRelayVerifier & RlnRelayProver {
  return {
    epochPeriodSeconds: rln.clock.periodSeconds,
    rlnIdentifier: rln.rlnIdentifier,
    verify: async (signal, proof, epoch, options = {}) => {
      await rln.verify(signal, parseProof(proof), { epoch, signal: options.signal })
    },
    prove: async (signal, options = {}) => {
      const made = await rln.prove(signal, { epoch: options.epoch, signal: options.signal })
      return { proof: serializeProof(made.proof), epoch: made.epoch }
    }
  }
}

/** The field element of an RLN identifier string (ASCII zero padded to 32 bytes, little-endian). */
export function rlnIdentifierOf (identifier: string): bigint {
  return rlnIdentifierField(identifier)
}
