import { compressProof } from './arkworks-codec.ts'
import type { Groth16Points } from './arkworks-codec.ts'
import { FIELD_ORDER } from './constants.ts'
import { bn254Curve } from './curve.ts'
import type { WasmCurve } from './curve.ts'
import { mod, randomField } from './field.ts'
import type { ZkeyFile } from './zkey.ts'

/**
 * The split prover: a Groth16 proof of the RLN circuit made in two steps, most of it before the message exists
 * (mix-spam-protection-rln.md "Future Work": pre-computed proofs). Neither snarkjs nor zerokit can do this; both make
 * a proof in one step from the whole witness, which here includes the signal's hash x.
 *
 * In the RLN circuit only the public signals x and y = a0 + x a1 depend on the signal, and both are affine in x: the
 * witness is w(x) = w0 + x d with w0 the witness at x = 0 and d zero outside {x, y}. Every sum of the proof is linear
 * or (for the quotient h) quadratic in w, so it is a polynomial in x of degree at most two whose coefficients are
 * known before the message: `precompute` does all the multi-exponentiations for them (as long as one full proof),
 * and `finalize` turns them into a proof for one signal with a dozen scalar multiplications and fresh randomness
 * r, s. The sums it ends with are exactly those of a direct proof over w(x), so the proof is an ordinary Groth16
 * proof (tests check it with snarkjs and zerokit).
 *
 * It runs on ffjavascript's wasm curve (the engine of snarkjs), with the key parsed once per thread. Field elements
 * of the evaluation domain are kept in ffjavascript's Montgomery form; scalars given to multi-exponentiations in
 * standard form; the coset used for h is the one of the circom/snarkjs convention (evaluations at w_{2n}^(2k+1)),
 * which the key's H points are made for.
 */

/**
 * Which sums a precomputation makes: 'a' (A and the three quotient sums H0, H1, H2), 'b' (B in G1 and G2, and C), or
 * all. The two halves cost about the same, so they can run side by side on two threads.
 */
export type ProofPart = 'a' | 'b' | 'all'

/** d = w1 - w0, checked to be zero on every private signal (else the proof cannot be split in x). */
export function xDerivative (w0: readonly bigint[], w1: readonly bigint[], nPublic: number): bigint[] {
  const d = w1.map((v, i) => mod(v - (w0[i] as bigint)))
  for (let i = nPublic + 1; i < d.length; i++) {
    if (d[i] !== 0n) throw new RangeError(`private signal ${i} depends on x: the proof cannot be split`)
  }
  return d
}

/** The pieces of a proof that do not depend on the signal (or some of them: the others are zero). */
export interface PrecomputedProof {
  /** Projective points (ffjavascript layout): [A0, dA, B1_0, dB1, C0, dC, H0, H1, H2] in G1, then [B2_0, dB2] in G2. */
  g1: Uint8Array[]
  g2: Uint8Array[]
  /**
   * Public signals at x = 0 and their derivative in x, circuit order. For RLN, y at x = 0 is a0 itself and the
   * derivative of y is a1: a precomputed proof holds the member's secret and never leaves its process.
   */
  publics0: bigint[]
  publicsD: bigint[]
}

interface Coefficients {
  matrix: Uint8Array
  constraint: Uint32Array
  signal: Uint32Array
  /** value i at [i * 32, (i + 1) * 32), as stored in the key */
  values: Uint8Array
}

function readCoefficients (section: Uint8Array, n8r: number): Coefficients {
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength)
  const n = view.getUint32(0, true)
  const size = 12 + n8r
  const out: Coefficients = { matrix: new Uint8Array(n), constraint: new Uint32Array(n), signal: new Uint32Array(n), values: new Uint8Array(n * n8r) }
  for (let i = 0; i < n; i++) {
    const o = 4 + i * size
    out.matrix[i] = view.getUint32(o, true)
    out.constraint[i] = view.getUint32(o + 4, true)
    out.signal[i] = view.getUint32(o + 8, true)
    out.values.set(section.subarray(o + 12, o + 12 + n8r), i * n8r)
  }
  return out
}

function toLE (v: bigint, out: Uint8Array, offset: number): void {
  let x = v
  for (let i = 0; i < 32; i++) { out[offset + i] = Number(x & 0xffn); x >>= 8n }
}

/** A witness (bigints, standard form) as the little-endian buffer multi-exponentiations take. */
export function witnessBuffer (w: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(w.length * 32)
  for (let i = 0; i < w.length; i++) toLE(mod(w[i] as bigint), out, i * 32)
  return out
}

export class SplitProver {
  private readonly curve: WasmCurve
  private readonly zkey: ZkeyFile
  private readonly coefs: Coefficients
  private readonly inc: Uint8Array
  /** For each signal, the indices of its coefficients (built lazily for the few signals that need it). */
  private readonly bySignal = new Map<number, number[]>()
  /** Q(e_i, e_j) + Q(e_j, e_i) (or Q(e_i, e_i)) for the signals that depend on x, by "i,j". */
  private readonly pairTerms = new Map<string, Uint8Array>()

  private constructor (curve: WasmCurve, zkey: ZkeyFile) {
    this.curve = curve
    this.zkey = zkey
    this.coefs = readCoefficients(zkey.coeffs, zkey.n8r)
    const power = Math.log2(zkey.domainSize)
    if (!Number.isInteger(power)) throw new RangeError('the domain size is not a power of two')
    const Fr = curve.Fr
    this.inc = power === Fr.s ? Fr.shift : Fr.w[power + 1] as Uint8Array
  }

  static async create (zkey: ZkeyFile): Promise<SplitProver> {
    return new SplitProver(await bn254Curve(), zkey)
  }

  get nPublic (): number {
    return this.zkey.nPublic
  }

  /** A(w) and B(w) on the domain (Montgomery form), w in standard form. */
  private evaluations (w: Uint8Array, only?: readonly number[]): [Uint8Array, Uint8Array] {
    const Fr = this.curve.Fr
    const n = this.zkey.domainSize
    const out: [Uint8Array, Uint8Array] = [new Uint8Array(n * 32), new Uint8Array(n * 32)]
    const { matrix, constraint, signal, values } = this.coefs
    const visit = (i: number): void => {
      const s = signal[i] as number
      const c = constraint[i] as number
      const target = out[matrix[i] as number] as Uint8Array
      const term = Fr.mul(values.subarray(i * 32, i * 32 + 32), w.subarray(s * 32, s * 32 + 32))
      target.set(Fr.add(target.subarray(c * 32, c * 32 + 32), term), c * 32)
    }
    if (only === undefined) {
      for (let i = 0; i < matrix.length; i++) visit(i)
    } else {
      for (const i of only) visit(i)
    }
    return out
  }

  private coefficientsOf (signals: readonly number[]): number[] {
    const out: number[] = []
    for (const s of signals) {
      let list = this.bySignal.get(s)
      if (list === undefined) {
        list = []
        for (let i = 0; i < this.coefs.signal.length; i++) if (this.coefs.signal[i] === s) list.push(i)
        this.bySignal.set(s, list)
      }
      out.push(...list)
    }
    return out
  }

  /** Evaluations on the shifted coset, from evaluations on the domain. */
  private async coset (v: Uint8Array): Promise<Uint8Array> {
    const Fr = this.curve.Fr
    return await Fr.fft(await Fr.batchApplyKey(await Fr.ifft(v), Fr.one, this.inc))
  }

  private pointwise (a: Uint8Array, b: Uint8Array, op: 'mul' | 'add' | 'sub'): Uint8Array {
    const Fr = this.curve.Fr
    const out = new Uint8Array(a.length)
    for (let o = 0; o < a.length; o += 32) out.set(Fr[op](a.subarray(o, o + 32), b.subarray(o, o + 32)), o)
    return out
  }

  /**
   * The quotient's values for the bilinear form Q(u, v): T(A u) T(B v) - T((A u)(B v)) on the coset, Montgomery
   * form; Q(w, w) is the h of a proof for witness w (its scalars once out of Montgomery form).
   */
  private async quotient (au: Uint8Array, bv: Uint8Array, cosetA?: Uint8Array, cosetB?: Uint8Array): Promise<Uint8Array> {
    const ta = cosetA ?? await this.coset(au)
    const tb = cosetB ?? await this.coset(bv)
    const tc = await this.coset(this.pointwise(au, bv, 'mul'))
    return this.pointwise(this.pointwise(ta, tb, 'mul'), tc, 'sub')
  }

  private async scalars (montgomery: Uint8Array): Promise<Uint8Array> {
    return await this.curve.Fr.batchFromMontgomery(montgomery)
  }

  private async msm (group: 'G1' | 'G2', bases: Uint8Array, scalars: Uint8Array): Promise<Uint8Array> {
    return await this.curve[group].multiExpAffine(bases, scalars)
  }

  /**
   * The signal-independent part of a proof, from the witness at x = 0 and the witness at x = 1 (both full
   * witnesses of the same inputs but x). Throws when the difference is not zero outside public signals.
   * `which` computes only the sums of A and H ('a'), only those of B (and C) ('b'), or all: the two halves cost
   * about the same and can run on two threads; `finalize` adds the parts.
   */
  async precompute (w0: readonly bigint[], w1: readonly bigint[], which: ProofPart = 'all'): Promise<PrecomputedProof> {
    return await this.part(w0, xDerivative(w0, w1, this.zkey.nPublic), which)
  }

  /** One part (or all) of the sums, for the witness w0 + x d. */
  private async part (w0: readonly bigint[], d: bigint[], which: ProofPart): Promise<PrecomputedProof> {
    const { curve, zkey } = this
    const nPub = zkey.nPublic
    const w = witnessBuffer(w0)
    const G1 = curve.G1
    const G2 = curve.G2
    const g1 = new Array<Uint8Array>(9).fill(G1.zero)
    const g2 = new Array<Uint8Array>(2).fill(G2.zero)
    const support = d.map((v, i) => (v === 0n ? -1 : i)).filter(i => i >= 0)
    const at = (points: Uint8Array, size: number, i: number): Uint8Array => points.subarray(i * size, (i + 1) * size)
    if (which !== 'a') {
      g1[2] = await this.msm('G1', zkey.pointsB1, w)
      g2[0] = await this.msm('G2', zkey.pointsB2, w)
      // C goes with B: the A half has the three H sums.
      g1[4] = await this.msm('G1', zkey.pointsC, w.subarray((nPub + 1) * 32))
      for (const i of support) {
        const di = d[i] as bigint
        g1[3] = G1.add(g1[3] as Uint8Array, G1.timesScalar(at(zkey.pointsB1, 64, i), di))
        g2[1] = G2.add(g2[1] as Uint8Array, G2.timesScalar(at(zkey.pointsB2, 128, i), di))
      }
    }
    if (which !== 'b') {
      g1[0] = await this.msm('G1', zkey.pointsA, w)
      for (const i of support) g1[1] = G1.add(g1[1] as Uint8Array, G1.timesScalar(at(zkey.pointsA, 64, i), d[i] as bigint))
      const [a0, b0] = this.evaluations(w)
      const ta0 = await this.coset(a0)
      const tb0 = await this.coset(b0)
      g1[6] = await this.msm('G1', zkey.pointsH, await this.scalars(await this.quotient(a0, b0, ta0, tb0)))
      if (support.length > 0) {
        // h(x) = Q(w0 + x d, w0 + x d) = h0 + x (Q(d, w0) + Q(w0, d)) + x^2 Q(d, d).
        const [da, db] = this.evaluations(witnessBuffer(d), this.coefficientsOf(support))
        const tda = await this.coset(da)
        const tdb = await this.coset(db)
        const cross = this.pointwise(this.pointwise(ta0, tdb, 'mul'), this.pointwise(tda, tb0, 'mul'), 'add')
        const crossC = await this.coset(this.pointwise(this.pointwise(a0, db, 'mul'), this.pointwise(da, b0, 'mul'), 'add'))
        g1[7] = await this.msm('G1', zkey.pointsH, await this.scalars(this.pointwise(cross, crossC, 'sub')))
        g1[8] = await this.quadraticTerm(support, d)
      }
    }
    return {
      g1,
      g2,
      publics0: w0.slice(1, nPub + 1).map(mod),
      publicsD: d.slice(1, nPub + 1)
    }
  }

  /** Q(d, d) = sum over i <= j of d_i d_j P_ij, with P_ij = Q(e_i, e_j) + Q(e_j, e_i) (i < j) or Q(e_i, e_i), kept per thread. */
  private async quadraticTerm (support: number[], d: bigint[]): Promise<Uint8Array> {
    const { curve } = this
    let sum = curve.G1.zero
    for (let x = 0; x < support.length; x++) {
      for (let y = x; y < support.length; y++) {
        const i = support[x] as number
        const j = support[y] as number
        const key = `${i},${j}`
        let point = this.pairTerms.get(key)
        if (point === undefined) {
          const ei = new Array<bigint>(d.length).fill(0n)
          ei[i] = 1n
          const ej = new Array<bigint>(d.length).fill(0n)
          ej[j] = 1n
          const [ai, bi] = this.evaluations(witnessBuffer(ei), this.coefficientsOf([i]))
          const [aj, bj] = this.evaluations(witnessBuffer(ej), this.coefficientsOf([j]))
          let h = await this.quotient(ai, bj)
          if (i !== j) h = this.pointwise(h, await this.quotient(aj, bi), 'add')
          point = await this.msm('G1', this.zkey.pointsH, await this.scalars(h))
          this.pairTerms.set(key, point)
        }
        const coef = mod((d[i] as bigint) * (d[j] as bigint))
        if (coef !== 0n) sum = curve.G1.add(sum, curve.G1.timesScalar(point, coef))
      }
    }
    return sum
  }

  /** A proof for signal hash x from the precomputed part: the sums at x, then Groth16's randomization. */
  finalize (parts: readonly PrecomputedProof[], x: bigint): { zkProof: Uint8Array, publics: bigint[] } {
    const { curve, zkey } = this
    const G1 = curve.G1
    const G2 = curve.G2
    const pre = parts[0]
    if (pre === undefined) throw new RangeError('no precomputed part')
    const g1 = pre.g1.map((p, i) => parts.slice(1).reduce((acc, q) => G1.add(acc, q.g1[i] as Uint8Array), p))
    const g2 = pre.g2.map((p, i) => parts.slice(1).reduce((acc, q) => G2.add(acc, q.g2[i] as Uint8Array), p))
    const [A0, dA, B10, dB1, C0, dC, H0, H1, H2] = g1 as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]
    const [B20, dB2] = g2 as [Uint8Array, Uint8Array]
    const xm = mod(x)
    const x2 = mod(xm * xm)
    const times1 = (p: Uint8Array, k: bigint): Uint8Array => (k === 0n || G1.isZero(p) ? G1.zero : G1.timesScalar(p, k))
    const times2 = (p: Uint8Array, k: bigint): Uint8Array => (k === 0n || G2.isZero(p) ? G2.zero : G2.timesScalar(p, k))
    const A = G1.add(A0, times1(dA, xm))
    const B1 = G1.add(B10, times1(dB1, xm))
    const B2 = G2.add(B20, times2(dB2, xm))
    const C = G1.add(C0, times1(dC, xm))
    const H = G1.add(G1.add(H0, times1(H1, xm)), times1(H2, x2))
    const r = randomField()
    const s = randomField()
    const piA = G1.add(G1.add(A, zkey.alpha1), G1.timesScalar(zkey.delta1, r))
    const piB = G2.add(G2.add(B2, zkey.beta2), G2.timesScalar(zkey.delta2, s))
    const pib1 = G1.add(G1.add(B1, zkey.beta1), G1.timesScalar(zkey.delta1, s))
    let piC = G1.add(C, H)
    piC = G1.add(piC, G1.timesScalar(piA, s))
    piC = G1.add(piC, G1.timesScalar(pib1, r))
    piC = G1.add(piC, G1.timesScalar(zkey.delta1, mod(FIELD_ORDER - mod(r * s))))
    const a = G1.toObject(G1.toAffine(piA)) as bigint[]
    const b = G2.toObject(G2.toAffine(piB)) as bigint[][]
    const c = G1.toObject(G1.toAffine(piC)) as bigint[]
    const points: Groth16Points = {
      a: { x: a[0] as bigint, y: a[1] as bigint },
      b: { x: { c0: b[0]?.[0] as bigint, c1: b[0]?.[1] as bigint }, y: { c0: b[1]?.[0] as bigint, c1: b[1]?.[1] as bigint } },
      c: { x: c[0] as bigint, y: c[1] as bigint }
    }
    const publics = pre.publics0.map((v, i) => mod(v + xm * (pre.publicsD[i] as bigint)))
    return { zkProof: compressProof(points), publics }
  }
}
