import type { Groth16Points } from './arkworks-codec.ts'
import { FIELD_ORDER } from './constants.ts'
import { bn254Curve } from './curve.ts'
import type { WasmCurve } from './curve.ts'
import type { ZkeyFile } from './zkey.ts'

/** Partial input sums kept for (root, external nullifier) pairs, which repeat across an epoch's messages. */
const IC_CACHE_SIZE = 16

/**
 * A Groth16 verifier with the key prepared once: e(alpha, beta) is computed once as a Miller loop value, gamma and
 * delta are prepared G2 points, so a check costs three Miller loops (one with B prepared on the fly), one final
 * exponentiation, and the input sum. The check is e(-A, B) e(alpha, beta) e(IC(x), gamma) e(C, delta) = 1
 * (Groth 2016, section 3.2), over ffjavascript's wasm pairing.
 */
export class PreparedVerifier {
  private readonly curve: WasmCurve
  private readonly ic: Uint8Array[]
  private readonly alphaBeta: Uint8Array
  private readonly gamma: Uint8Array
  private readonly delta: Uint8Array
  private readonly rBytes: Uint8Array
  private readonly icCache = new Map<string, Uint8Array>()
  readonly nPublic: number

  private constructor (curve: WasmCurve, zkey: ZkeyFile) {
    this.curve = curve
    this.nPublic = zkey.nPublic
    const size = 2 * zkey.n8q
    this.ic = Array.from({ length: zkey.nPublic + 1 }, (_, i) => zkey.ic.slice(i * size, (i + 1) * size))
    this.alphaBeta = curve.millerLoop(curve.prepareG1(curve.G1.toJacobian(zkey.alpha1)), curve.prepareG2(curve.G2.toJacobian(zkey.beta2)))
    this.gamma = curve.prepareG2(curve.G2.toJacobian(zkey.gamma2))
    this.delta = curve.prepareG2(curve.G2.toJacobian(zkey.delta2))
    this.rBytes = new Uint8Array(32)
    let r = FIELD_ORDER
    for (let i = 0; i < 32; i++) { this.rBytes[i] = Number(r & 0xffn); r >>= 8n }
  }

  static async create (zkey: ZkeyFile): Promise<PreparedVerifier> {
    return new PreparedVerifier(await bn254Curve(), zkey)
  }

  /**
   * `signals` in the circuit's order. The points come decompressed (on their curves); B is checked here to be in
   * the prime-order subgroup of G2 (r B = 0), as arkworks does when it reads a compressed point.
   */
  verify (proof: Groth16Points, signals: readonly bigint[], cacheKey?: { indices: [number, number] }): boolean {
    const { curve } = this
    if (signals.length !== this.nPublic) return false
    for (const s of signals) if (s < 0n || s >= FIELD_ORDER) return false
    const a = curve.G1.fromObject([proof.a.x, proof.a.y])
    const b = curve.G2.fromObject([[proof.b.x.c0, proof.b.x.c1], [proof.b.y.c0, proof.b.y.c1]])
    const c = curve.G1.fromObject([proof.c.x, proof.c.y])
    if (!curve.G1.isValid(a) || !curve.G1.isValid(c) || !curve.G2.isValid(b)) return false
    if (!curve.G2.isZero(curve.G2.timesScalar(b, this.rBytes))) return false

    let sum: Uint8Array
    let skip: Set<number>
    if (cacheKey !== undefined) {
      const [i, j] = cacheKey.indices
      const key = `${signals[i] as bigint}:${signals[j] as bigint}`
      let partial = this.icCache.get(key)
      if (partial === undefined) {
        partial = curve.G1.add(curve.G1.add(this.ic[0] as Uint8Array, curve.G1.timesScalar(this.ic[i + 1] as Uint8Array, signals[i] as bigint)), curve.G1.timesScalar(this.ic[j + 1] as Uint8Array, signals[j] as bigint))
        if (this.icCache.size >= IC_CACHE_SIZE) this.icCache.delete(this.icCache.keys().next().value as string)
        this.icCache.set(key, partial)
      }
      sum = partial
      skip = new Set([i, j])
    } else {
      sum = this.ic[0] as Uint8Array
      skip = new Set()
    }
    for (let k = 0; k < signals.length; k++) {
      if (skip.has(k)) continue
      const s = signals[k] as bigint
      if (s !== 0n) sum = curve.G1.add(sum, curve.G1.timesScalar(this.ic[k + 1] as Uint8Array, s))
    }
    const Gt = curve.Gt
    let acc = curve.millerLoop(curve.prepareG1(curve.G1.toJacobian(curve.G1.neg(a))), curve.prepareG2(curve.G2.toJacobian(b)))
    acc = Gt.mul(acc, this.alphaBeta)
    acc = Gt.mul(acc, curve.millerLoop(curve.prepareG1(curve.G1.toJacobian(sum)), this.gamma))
    acc = Gt.mul(acc, curve.millerLoop(curve.prepareG1(curve.G1.toJacobian(c)), this.delta))
    return Gt.eq(curve.finalExponentiation(acc), Gt.one)
  }
}
