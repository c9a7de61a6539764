import { FIELD_BYTES, RLN_PROOF_BYTES, ZK_PROOF_BYTES } from './constants.ts'
import { RlnEncodingError } from './errors.ts'
import { fieldFromBytes, toBytesLE } from './field.ts'

/**
 * An RLN v2 proof and its public values. The circuit's public signals, in the verifier's order, are
 * [y, root, nullifier, x, external_nullifier] (rln-v1.md "zk_proof verification").
 */
export interface RlnProof {
  /** The Groth16 proof, compressed the arkworks way (128 bytes). */
  zkProof: Uint8Array
  /** Merkle root the membership was proven against. */
  root: bigint
  /** Poseidon(epoch, rln_identifier). */
  externalNullifier: bigint
  /** Share x: the signal hash. */
  x: bigint
  /** Share y = a0 + x * a1. */
  y: bigint
  /** Internal nullifier Poseidon(a1): equal for two messages of one member with one epoch and message_id. */
  nullifier: bigint
}

/** Zerokit's serialization: proof<128> | root<32> | external_nullifier<32> | x<32> | y<32> | nullifier<32>. */
export function serializeProof (p: RlnProof): Uint8Array {
  if (p.zkProof.length !== ZK_PROOF_BYTES) throw new RlnEncodingError(`the zk proof must be ${ZK_PROOF_BYTES} bytes`)
  const out = new Uint8Array(RLN_PROOF_BYTES)
  out.set(p.zkProof, 0)
  let o = ZK_PROOF_BYTES
  for (const v of [p.root, p.externalNullifier, p.x, p.y, p.nullifier]) {
    out.set(toBytesLE(v), o)
    o += FIELD_BYTES
  }
  return out
}

export function parseProof (bytes: Uint8Array): RlnProof {
  if (bytes.length !== RLN_PROOF_BYTES) throw new RlnEncodingError(`an RLN proof is ${RLN_PROOF_BYTES} bytes, got ${bytes.length}`)
  const f = (i: number, what: string): bigint => fieldFromBytes(bytes.subarray(ZK_PROOF_BYTES + i * FIELD_BYTES, ZK_PROOF_BYTES + (i + 1) * FIELD_BYTES), what)
  return {
    zkProof: bytes.slice(0, ZK_PROOF_BYTES),
    root: f(0, 'root'),
    externalNullifier: f(1, 'external nullifier'),
    x: f(2, 'x'),
    y: f(3, 'y'),
    nullifier: f(4, 'nullifier')
  }
}

/** The public signals in the circuit's order, for snarkjs. */
export function publicSignals (p: RlnProof): string[] {
  return [p.y, p.root, p.nullifier, p.x, p.externalNullifier].map(v => v.toString())
}
