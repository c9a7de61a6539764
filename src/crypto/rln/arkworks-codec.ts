import { bn254 } from '@noble/curves/bn254.js'
import { RlnEncodingError } from './errors.ts'
import { fromBytesLE, toBytesLE } from './field.ts'

/**
 * The compressed point encoding of arkworks (ark-serialize, short Weierstrass), which zerokit uses for the 128-byte
 * Groth16 proof: x little-endian (for G2: x.c0 then x.c1), with two flags in the top bits of the last byte:
 * bit 7 "y is the larger of (y, -y)", bit 6 "point at infinity". For Fp2 "larger" compares c1 first, then c0.
 * We need it to hand a zerokit proof to snarkjs (affine coordinates) and a snarkjs proof to zerokit.
 */

const Fp = bn254.fields.Fp
const Fp2 = bn254.fields.Fp2
const Q = Fp.ORDER
const FLAG_Y_NEGATIVE = 0x80
const FLAG_INFINITY = 0x40

export interface G1Affine { x: bigint, y: bigint }
export interface Fp2Value { c0: bigint, c1: bigint }
export interface G2Affine { x: Fp2Value, y: Fp2Value }

/** A Groth16 proof in affine coordinates. */
export interface Groth16Points { a: G1Affine, b: G2Affine, c: G1Affine }

/** snarkjs's JSON form of a proof. */
export interface SnarkjsProof {
  pi_a: string[]
  pi_b: string[][]
  pi_c: string[]
  protocol: string
  curve: string
}

function fpIsLarger (y: bigint): boolean {
  return y > (y === 0n ? 0n : Q - y)
}

function fp2IsLarger (y: Fp2Value): boolean {
  const neg = Fp2.neg(y)
  if (y.c1 !== neg.c1) return y.c1 > neg.c1
  return y.c0 > neg.c0
}

function readFp (bytes: Uint8Array, what: string): bigint {
  const v = fromBytesLE(bytes)
  if (v >= Q) throw new RlnEncodingError(`${what} is not a canonical base field element`)
  return v
}

export function compressG1 (p: G1Affine): Uint8Array {
  const out = toBytesLE(p.x)
  if (fpIsLarger(p.y)) out[31] = (out[31] as number) | FLAG_Y_NEGATIVE
  return out
}

export function compressG2 (p: G2Affine): Uint8Array {
  const out = new Uint8Array(64)
  out.set(toBytesLE(p.x.c0), 0)
  out.set(toBytesLE(p.x.c1), 32)
  if (fp2IsLarger(p.y)) out[63] = (out[63] as number) | FLAG_Y_NEGATIVE
  return out
}

export function decompressG1 (bytes: Uint8Array): G1Affine {
  if (bytes.length !== 32) throw new RlnEncodingError('a compressed G1 point is 32 bytes')
  const flags = (bytes[31] as number) & 0xc0
  if ((flags & FLAG_INFINITY) !== 0) throw new RlnEncodingError('a proof point is the point at infinity')
  const raw = Uint8Array.from(bytes)
  raw[31] = (raw[31] as number) & 0x3f
  const x = readFp(raw, 'G1 x')
  const rhs = Fp.add(Fp.mul(Fp.sqr(x), x), 3n)
  let y: bigint
  try {
    y = Fp.sqrt(rhs)
  } catch (err) {
    throw new RlnEncodingError('G1 x is not on the curve', { cause: err })
  }
  if (fpIsLarger(y) !== ((flags & FLAG_Y_NEGATIVE) !== 0)) y = Fp.neg(y)
  const point = { x, y }
  try {
    bn254.G1.Point.fromAffine(point).assertValidity()
  } catch (err) {
    throw new RlnEncodingError('not a valid G1 point', { cause: err })
  }
  return point
}

/** The twist's b: 3 / (9 + u). */
const B2 = Fp2.div(Fp2.fromBigTuple([3n, 0n]), Fp2.fromBigTuple([9n, 1n]))

/**
 * `subgroup` (default true) also checks membership of the prime-order subgroup (a scalar multiplication by r in
 * pure JS, about 7 ms); a caller that checks it faster elsewhere (PreparedVerifier, in wasm) turns it off.
 */
export function decompressG2 (bytes: Uint8Array, subgroup = true): G2Affine {
  if (bytes.length !== 64) throw new RlnEncodingError('a compressed G2 point is 64 bytes')
  const flags = (bytes[63] as number) & 0xc0
  if ((flags & FLAG_INFINITY) !== 0) throw new RlnEncodingError('a proof point is the point at infinity')
  const raw = Uint8Array.from(bytes)
  raw[63] = (raw[63] as number) & 0x3f
  const x = { c0: readFp(raw.subarray(0, 32), 'G2 x.c0'), c1: readFp(raw.subarray(32, 64), 'G2 x.c1') }
  const rhs = Fp2.add(Fp2.mul(Fp2.sqr(x), x), B2)
  let y: Fp2Value
  try {
    y = Fp2.sqrt(rhs)
  } catch (err) {
    throw new RlnEncodingError('G2 x is not on the curve', { cause: err })
  }
  if (fp2IsLarger(y) !== ((flags & FLAG_Y_NEGATIVE) !== 0)) y = Fp2.neg(y)
  const point = { x, y }
  if (!subgroup) return point
  try {
    // Checks the curve equation and, for G2, membership of the prime-order subgroup.
    bn254.G2.Point.fromAffine(point).assertValidity()
  } catch (err) {
    throw new RlnEncodingError('not a valid G2 point', { cause: err })
  }
  return point
}

/** The 128-byte arkworks proof (a, b, c compressed). */
export function compressProof (p: Groth16Points): Uint8Array {
  const out = new Uint8Array(128)
  out.set(compressG1(p.a), 0)
  out.set(compressG2(p.b), 32)
  out.set(compressG1(p.c), 96)
  return out
}

export function decompressProof (bytes: Uint8Array, subgroup = true): Groth16Points {
  if (bytes.length !== 128) throw new RlnEncodingError('a compressed Groth16 proof is 128 bytes')
  return { a: decompressG1(bytes.subarray(0, 32)), b: decompressG2(bytes.subarray(32, 96), subgroup), c: decompressG1(bytes.subarray(96, 128)) }
}

export function toSnarkjsProof (p: Groth16Points): SnarkjsProof {
  return {
    pi_a: [p.a.x.toString(), p.a.y.toString(), '1'],
    pi_b: [[p.b.x.c0.toString(), p.b.x.c1.toString()], [p.b.y.c0.toString(), p.b.y.c1.toString()], ['1', '0']],
    pi_c: [p.c.x.toString(), p.c.y.toString(), '1'],
    protocol: 'groth16',
    curve: 'bn128'
  }
}

/** Reads snarkjs's affine proof (the z coordinates must be 1). */
export function fromSnarkjsProof (proof: SnarkjsProof): Groth16Points {
  const n = (s: string | undefined): bigint => BigInt(s as string)
  if (proof.pi_a[2] !== '1' || proof.pi_c[2] !== '1' || proof.pi_b[2]?.[0] !== '1' || proof.pi_b[2]?.[1] !== '0') {
    throw new RlnEncodingError('the snarkjs proof is not in affine form')
  }
  return {
    a: { x: n(proof.pi_a[0]), y: n(proof.pi_a[1]) },
    b: { x: { c0: n(proof.pi_b[0]?.[0]), c1: n(proof.pi_b[0]?.[1]) }, y: { c0: n(proof.pi_b[1]?.[0]), c1: n(proof.pi_b[1]?.[1]) } },
    c: { x: n(proof.pi_c[0]), y: n(proof.pi_c[1]) }
  }
}
