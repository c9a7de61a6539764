import { FIELD_BYTES, RLN_PROOF_BYTES, ZK_PROOF_BYTES, decodeEpoch, encodeEpoch } from '../../crypto/rln/index.ts'
import { DeliveryDecodeError } from './errors.ts'
import { ProtoReader, ProtoWriter } from './protobuf.ts'

/**
 * The RateLimitProof of Waku RLN relay v2 as logos-delivery encodes it (rln_relay/protocol_types.nim; the spec
 * text 17/WAKU2-RLN-RELAY still describes v1 without rln_identifier, the code is followed):
 * ```protobuf
 * message RateLimitProof {
 *   bytes proof = 1; bytes merkle_root = 2; bytes epoch = 3; bytes share_x = 4; bytes share_y = 5;
 *   bytes nullifier = 6; bytes rln_identifier = 7;
 * }
 * ```
 * proof: 128-byte compressed Groth16 proof; every other field 32 bytes (field elements little-endian; epoch the
 * epoch number as a little-endian u64 zero padded, as the RLN library writes it).
 */
export interface WakuRateLimitProof {
  proof: Uint8Array
  merkleRoot: Uint8Array
  epoch: Uint8Array
  shareX: Uint8Array
  shareY: Uint8Array
  nullifier: Uint8Array
  rlnIdentifier: Uint8Array
}

const FIELDS: Array<[keyof WakuRateLimitProof, number]> = [
  ['proof', ZK_PROOF_BYTES], ['merkleRoot', FIELD_BYTES], ['epoch', FIELD_BYTES], ['shareX', FIELD_BYTES],
  ['shareY', FIELD_BYTES], ['nullifier', FIELD_BYTES], ['rlnIdentifier', FIELD_BYTES]
]

export function encodeRateLimitProof (p: WakuRateLimitProof): Uint8Array {
  const w = new ProtoWriter(FIELD_BYTES * 7 + ZK_PROOF_BYTES + 16)
  FIELDS.forEach(([key, size], i) => {
    const v = p[key]
    if (v.length !== size) throw new RangeError(`RateLimitProof ${key} must be ${size} bytes`)
    w.bytes(i + 1, v)
  })
  return w.finish()
}

/** Strict: every field present once with its exact size; unknown fields refused (a proof has nothing optional). */
export function decodeRateLimitProof (bytes: Uint8Array): WakuRateLimitProof {
  const r = new ProtoReader(bytes, 'RateLimitProof')
  const seen = new Map<number, Uint8Array>()
  for (let f = r.next(); f !== undefined; f = r.next()) {
    const spec = FIELDS[f.field - 1]
    if (spec === undefined) throw new DeliveryDecodeError(`RateLimitProof: unknown field ${f.field}`)
    if (seen.has(f.field)) throw new DeliveryDecodeError(`RateLimitProof: field ${f.field} appears twice`)
    const v = r.bytes(f, spec[1])
    if (v.length !== spec[1]) throw new DeliveryDecodeError(`RateLimitProof: ${spec[0]} must be ${spec[1]} bytes`)
    seen.set(f.field, Uint8Array.from(v))
  }
  const out: Partial<WakuRateLimitProof> = {}
  FIELDS.forEach(([key], i) => {
    const v = seen.get(i + 1)
    if (v === undefined) throw new DeliveryDecodeError(`RateLimitProof: ${key} is missing`)
    out[key] = v
  })
  return out as WakuRateLimitProof
}

/** The epoch number a proof states. */
export function proofEpoch (p: WakuRateLimitProof): bigint {
  try {
    return decodeEpoch(p.epoch)
  } catch (err) {
    throw new DeliveryDecodeError('RateLimitProof: the epoch is not a u64', { cause: err })
  }
}

/**
 * The RLN library's 288-byte proof (zerokit's layout: proof | root | external_nullifier | x | y | nullifier) from
 * the wire form, with the external nullifier the verifier derives from the epoch and its own RLN identifier.
 */
export function toZerokitProof (p: WakuRateLimitProof, externalNullifierLE: Uint8Array): Uint8Array {
  const out = new Uint8Array(RLN_PROOF_BYTES)
  out.set(p.proof, 0)
  out.set(p.merkleRoot, ZK_PROOF_BYTES)
  out.set(externalNullifierLE, ZK_PROOF_BYTES + FIELD_BYTES)
  out.set(p.shareX, ZK_PROOF_BYTES + 2 * FIELD_BYTES)
  out.set(p.shareY, ZK_PROOF_BYTES + 3 * FIELD_BYTES)
  out.set(p.nullifier, ZK_PROOF_BYTES + 4 * FIELD_BYTES)
  return out
}

/** The wire form of a 288-byte proof made for `epoch` under `rlnIdentifierLE`. */
export function fromZerokitProof (zk: Uint8Array, epoch: bigint, rlnIdentifierLE: Uint8Array): WakuRateLimitProof {
  if (zk.length !== RLN_PROOF_BYTES) throw new RangeError(`an RLN proof is ${RLN_PROOF_BYTES} bytes`)
  const at = (i: number): Uint8Array => zk.slice(ZK_PROOF_BYTES + i * FIELD_BYTES, ZK_PROOF_BYTES + (i + 1) * FIELD_BYTES)
  return {
    proof: zk.slice(0, ZK_PROOF_BYTES),
    merkleRoot: at(0),
    epoch: encodeEpoch(epoch),
    shareX: at(2),
    shareY: at(3),
    nullifier: at(4),
    rlnIdentifier: Uint8Array.from(rlnIdentifierLE)
  }
}
