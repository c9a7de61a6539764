import { RlnEncodingError } from './errors.ts'

/**
 * Reads the sections of a snarkjs/circom Groth16 proving key (.zkey, "zkey" binary format v1): a magic, a version,
 * then sections of (id u32, size u64, bytes). Points are stored affine, coordinates little-endian in Montgomery
 * form: ffjavascript's own representation, so they can be handed to it as they are.
 */
export interface ZkeyFile {
  n8q: number
  n8r: number
  nVars: number
  nPublic: number
  domainSize: number
  alpha1: Uint8Array
  beta1: Uint8Array
  beta2: Uint8Array
  gamma2: Uint8Array
  delta1: Uint8Array
  delta2: Uint8Array
  /** IC points (nPublic + 1 of them), concatenated. */
  ic: Uint8Array
  /** Section 4: the QAP coefficients (u32 count, then entries of matrix u32, constraint u32, signal u32, value). */
  coeffs: Uint8Array
  /** Sections 5 to 9: the bases of the A, B1 (G1), B2 (G2), C and H sums. */
  pointsA: Uint8Array
  pointsB1: Uint8Array
  pointsB2: Uint8Array
  pointsC: Uint8Array
  pointsH: Uint8Array
}

const GROTH16 = 1

/** The sections of a zkey by id (the first of each id), as views into `bytes`. */
function readSections (bytes: Uint8Array): Map<number, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 4)) !== 'zkey') throw new RlnEncodingError('not a zkey file')
  const nSections = view.getUint32(8, true)
  const sections = new Map<number, Uint8Array>()
  let o = 12
  for (let i = 0; i < nSections; i++) {
    if (o + 12 > bytes.length) throw new RlnEncodingError('truncated zkey section header')
    const id = view.getUint32(o, true)
    const size = Number(view.getBigUint64(o + 4, true))
    o += 12
    if (o + size > bytes.length) throw new RlnEncodingError('truncated zkey section')
    if (!sections.has(id)) sections.set(id, bytes.subarray(o, o + size))
    o += size
  }
  return sections
}

export function readZkey (bytes: Uint8Array): ZkeyFile {
  const sections = readSections(bytes)
  const section = (id: number): Uint8Array => {
    const s = sections.get(id)
    if (s === undefined) throw new RlnEncodingError(`zkey section ${id} is missing`)
    return s
  }
  const h1 = section(1)
  if (new DataView(h1.buffer, h1.byteOffset).getUint32(0, true) !== GROTH16) throw new RlnEncodingError('the zkey is not a Groth16 key')
  const h = section(2)
  const hv = new DataView(h.buffer, h.byteOffset, h.byteLength)
  let p = 0
  const n8q = hv.getUint32(p, true); p += 4 + n8q
  const n8r = hv.getUint32(p, true); p += 4 + n8r
  const nVars = hv.getUint32(p, true); p += 4
  const nPublic = hv.getUint32(p, true); p += 4
  const domainSize = hv.getUint32(p, true); p += 4
  const g1 = (): Uint8Array => { const v = h.slice(p, p + 2 * n8q); p += 2 * n8q; return v }
  const g2 = (): Uint8Array => { const v = h.slice(p, p + 4 * n8q); p += 4 * n8q; return v }
  const alpha1 = g1()
  const beta1 = g1()
  const beta2 = g2()
  const gamma2 = g2()
  const delta1 = g1()
  const delta2 = g2()
  return {
    n8q,
    n8r,
    nVars,
    nPublic,
    domainSize,
    alpha1,
    beta1,
    beta2,
    gamma2,
    delta1,
    delta2,
    ic: section(3),
    coeffs: section(4),
    pointsA: section(5),
    pointsB1: section(6),
    pointsB2: section(7),
    pointsC: section(8),
    pointsH: section(9)
  }
}

/**
 * Evaluation points the verifying-only key keeps: a power of two above the public signals, so that zerokit's zkey
 * reader (ark-circom read_zkey, which sizes its constraint table by the domain) finds room for the one coefficient.
 */
const VERIFYING_ONLY_DOMAIN = 8

/**
 * A zkey that holds the ceremony's verification key (alpha, beta, gamma, delta and the IC points, byte for byte) and
 * proving sections cut to the fewest points zerokit's reader accepts (one witness variable, eight H points, one
 * coefficient that names no constraint). Zerokit's wasm has no constructor from a verification key: `newRLN` parses
 * the whole proving key (seconds of CPU), though its verify_with_roots reads only the verification key. With this
 * file `newRLN` takes milliseconds, and checks proofs exactly as with the full key; it cannot prove.
 */
export function verifyingOnlyZkey (bytes: Uint8Array): Uint8Array {
  const sections = readSections(bytes)
  const zkey = readZkey(bytes)
  const nVars = zkey.nPublic + 1
  const header = Uint8Array.from(sections.get(2) as Uint8Array)
  const hv = new DataView(header.buffer)
  const at = 4 + zkey.n8q + 4 + zkey.n8r
  hv.setUint32(at, nVars, true)
  hv.setUint32(at + 8, VERIFYING_ONLY_DOMAIN, true)
  // One coefficient (matrix A, constraint nPublic, signal 0, value 0): the reader computes its constraint count as
  // the largest constraint index minus nPublic, which an empty list would take below zero.
  const coeffs = new Uint8Array(4 + 12 + zkey.n8r)
  const cv = new DataView(coeffs.buffer)
  cv.setUint32(0, 1, true)
  cv.setUint32(8, zkey.nPublic, true)
  const kept: Array<[number, Uint8Array]> = [
    [1, sections.get(1) as Uint8Array],
    [2, header],
    [3, zkey.ic],
    [4, coeffs],
    [5, zkey.pointsA.subarray(0, nVars * 2 * zkey.n8q)],
    [6, zkey.pointsB1.subarray(0, nVars * 2 * zkey.n8q)],
    [7, zkey.pointsB2.subarray(0, nVars * 4 * zkey.n8q)],
    [8, new Uint8Array(0)],
    [9, zkey.pointsH.subarray(0, VERIFYING_ONLY_DOMAIN * 2 * zkey.n8q)]
  ]
  const out = new Uint8Array(12 + kept.reduce((n, [, s]) => n + 12 + s.length, 0))
  const ov = new DataView(out.buffer)
  out.set(bytes.subarray(0, 8), 0)
  ov.setUint32(8, kept.length, true)
  let o = 12
  for (const [id, s] of kept) {
    ov.setUint32(o, id, true)
    ov.setBigUint64(o + 4, BigInt(s.length), true)
    out.set(s, o + 12)
    o += 12 + s.length
  }
  return out
}
