import { buildBn128 } from 'ffjavascript'

/**
 * The part of ffjavascript's BN254 curve (wasm, Montgomery form inside) that the split prover uses. Elements are
 * Uint8Arrays in ffjavascript's layout: Fr 32 bytes; G1 affine 64, projective 96; G2 affine 128, projective 192.
 */
export interface WasmField {
  n8: number
  one: Uint8Array
  zero: Uint8Array
  add: (a: Uint8Array, b: Uint8Array) => Uint8Array
  sub: (a: Uint8Array, b: Uint8Array) => Uint8Array
  mul: (a: Uint8Array, b: Uint8Array) => Uint8Array
}

export interface WasmGroup {
  zero: Uint8Array
  add: (a: Uint8Array, b: Uint8Array) => Uint8Array
  timesScalar: (a: Uint8Array, s: bigint | Uint8Array) => Uint8Array
  toAffine: (a: Uint8Array) => Uint8Array
  isZero: (a: Uint8Array) => boolean
  toObject: (a: Uint8Array) => unknown[]
  multiExpAffine: (bases: Uint8Array, scalars: Uint8Array) => Promise<Uint8Array>
}

export interface WasmFr extends WasmField {
  s: number
  shift: Uint8Array
  w: Uint8Array[]
  fft: (buff: Uint8Array) => Promise<Uint8Array>
  ifft: (buff: Uint8Array) => Promise<Uint8Array>
  batchApplyKey: (buff: Uint8Array, first: Uint8Array, inc: Uint8Array) => Promise<Uint8Array>
  batchFromMontgomery: (buff: Uint8Array) => Promise<Uint8Array>
}

export interface WasmCurve {
  Fr: WasmFr
  G1: WasmGroup
  G2: WasmGroup
}

let curve: Promise<WasmCurve> | undefined

/**
 * One single-threaded curve per thread. It is also put where ffjavascript caches its shared curve
 * (globalThis.curve_bn128), so snarkjs calls made in this thread use it instead of starting threads of its own, which
 * cannot start inside a worker thread (ffjavascript's 'web-worker' shim takes any worker for one of its own).
 */
export async function bn254Curve (): Promise<WasmCurve> {
  curve ??= (async () => {
    const g = globalThis as { curve_bn128?: unknown }
    if (g.curve_bn128 !== null && g.curve_bn128 !== undefined) return g.curve_bn128 as WasmCurve
    const built = await buildBn128(true) as WasmCurve
    g.curve_bn128 = built
    return built
  })()
  return await curve
}
