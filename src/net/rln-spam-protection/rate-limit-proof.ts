import { decodeEpoch, encodeEpoch, fieldFromBytes, toBytesLE } from '../../crypto/rln/index.ts'
import type { RlnProof } from '../../crypto/rln/index.ts'
import { RATE_LIMIT_PROOF_BYTES, VALUE_FIELD_BYTES, ZK_PROOF_FIELD_BYTES } from './constants.ts'
import { MixRlnWireError } from './errors.ts'
import { readFields, writeBytesField } from './protobuf.ts'

/**
 * RateLimitProof (mix-spam-protection-rln.md "Spam protection proof"):
 *   message RateLimitProof { bytes proof = 1; bytes merkle_root = 2; bytes epoch = 3; bytes share_x = 4;
 *                            bytes share_y = 5; bytes nullifier = 6; }
 * proof: 128-byte compressed zkSNARK; merkle_root, share_x, share_y, nullifier: 32-byte little-endian field elements;
 * epoch: 32 bytes (the epoch number as a little-endian u64, zero padded, as the mix RLN plugin writes it).
 * The external nullifier is not on the wire: the receiver derives it from the epoch and the network's RLN identifier.
 */
export interface RateLimitProof {
  proof: Uint8Array
  merkleRoot: bigint
  epoch: bigint
  shareX: bigint
  shareY: bigint
  nullifier: bigint
}

/** Encodes in field order; every field is always present, so the encoding is always 301 bytes. */
export function encodeRateLimitProof (p: RateLimitProof): Uint8Array {
  if (p.proof.length !== ZK_PROOF_FIELD_BYTES) throw new MixRlnWireError(`proof must be ${ZK_PROOF_FIELD_BYTES} bytes`)
  const out: number[] = []
  writeBytesField(out, 1, p.proof)
  writeBytesField(out, 2, toBytesLE(p.merkleRoot))
  writeBytesField(out, 3, encodeEpoch(p.epoch))
  writeBytesField(out, 4, toBytesLE(p.shareX))
  writeBytesField(out, 5, toBytesLE(p.shareY))
  writeBytesField(out, 6, toBytesLE(p.nullifier))
  return Uint8Array.from(out)
}

/**
 * Decodes strictly: each of the six fields exactly once (any order), with its exact size, nothing else. The proof
 * rides at a fixed size per hop, so anything looser would only be room for malleability.
 */
export function decodeRateLimitProof (bytes: Uint8Array): RateLimitProof {
  if (bytes.length !== RATE_LIMIT_PROOF_BYTES) throw new MixRlnWireError(`a RateLimitProof is ${RATE_LIMIT_PROOF_BYTES} bytes, got ${bytes.length}`)
  const seen = new Map<number, Uint8Array>()
  for (const { field, value } of readFields(bytes, 6)) {
    if (field < 1 || field > 6) throw new MixRlnWireError(`unknown RateLimitProof field ${field}`)
    if (seen.has(field)) throw new MixRlnWireError(`RateLimitProof field ${field} appears twice`)
    const want = field === 1 ? ZK_PROOF_FIELD_BYTES : VALUE_FIELD_BYTES
    if (value.length !== want) throw new MixRlnWireError(`RateLimitProof field ${field} must be ${want} bytes`)
    seen.set(field, value)
  }
  const get = (f: number): Uint8Array => {
    const v = seen.get(f)
    if (v === undefined) throw new MixRlnWireError(`RateLimitProof field ${f} is missing`)
    return v
  }
  try {
    return {
      proof: Uint8Array.from(get(1)),
      merkleRoot: fieldFromBytes(get(2), 'merkle_root'),
      epoch: decodeEpoch(get(3)),
      shareX: fieldFromBytes(get(4), 'share_x'),
      shareY: fieldFromBytes(get(5), 'share_y'),
      nullifier: fieldFromBytes(get(6), 'nullifier')
    }
  } catch (err) {
    if (err instanceof MixRlnWireError) throw err
    throw new MixRlnWireError(`bad RateLimitProof value: ${(err as Error).message}`, { cause: err })
  }
}

/** The library's proof from the wire form, given the external nullifier of its epoch. */
export function toRlnProof (p: RateLimitProof, externalNullifier: bigint): RlnProof {
  return { zkProof: p.proof, root: p.merkleRoot, externalNullifier, x: p.shareX, y: p.shareY, nullifier: p.nullifier }
}

export function fromRlnProof (p: RlnProof, epoch: bigint): RateLimitProof {
  return { proof: p.zkProof, merkleRoot: p.root, epoch, shareX: p.x, shareY: p.y, nullifier: p.nullifier }
}
