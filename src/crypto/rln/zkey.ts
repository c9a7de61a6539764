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

export function readZkey (bytes: Uint8Array): ZkeyFile {
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
    sections.set(id, bytes.subarray(o, o + size))
    o += size
  }
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
