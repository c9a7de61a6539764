import type { KeyObject } from 'node:crypto'
import { sha256 } from './kdf.ts'
import { ScalarProduct, assertPoint, importPoint, importScalar, importScalarWithPublic, x25519 } from './x25519.ts'

/**
 * The sender's side of mix.md 8.5.2 step 3.a: alpha_i and the shared secrets s_i of a path.
 *
 *   alpha_0 = g^x, s_0 = y_0^x, b_0 = H(alpha_0 | s_0)
 *   alpha_i = alpha_{i-1}^{b_{i-1}}, s_i = y_i^{x b_0 ... b_{i-1}}, b_i = H(alpha_i | s_i)
 *
 * Done literally this takes i+1 multiplications for s_i (the nim code's way, O(L^2)). Here the product
 * x b_0 ... b_{i-1} is kept modulo the group order and turned into one clamp-invariant scalar K_i, so each hop costs
 * one import of K_i (which OpenSSL follows with K_i * G = alpha_i, read back for free) and one X25519 with y_i:
 * 2L operations in all. The chain remains as the fallback for the ~2^-124 case where no such K_i exists.
 */

export interface PathKey {
  /** The hop's 32-byte X25519 public key y_i. */
  publicKey: Uint8Array
  /** The same key already imported, when the caller keeps one (saves an import). */
  keyObject?: KeyObject
}

export interface PathSecrets {
  /** alpha_0, the header's first field. */
  alpha: Uint8Array
  /** s_0 ... s_{L-1}. */
  secrets: Uint8Array[]
}

function pointKey (hop: PathKey): KeyObject {
  if (hop.keyObject !== undefined) return hop.keyObject
  return importPoint(hop.publicKey)
}

/** Computes alpha_0 and s_i for the path keys, from the ephemeral scalar x (32 random bytes). */
export function computePathSecrets (keys: readonly PathKey[], ephemeral: Uint8Array): PathSecrets {
  for (const k of keys) assertPoint(k.publicKey)
  const secrets: Uint8Array[] = []
  const product = new ScalarProduct(ephemeral)
  let alpha0: Uint8Array | undefined
  const blinders: Uint8Array[] = []
  for (let i = 0; i < keys.length; i++) {
    const hop = keys[i] as PathKey
    const scalar = i === 0 ? ephemeral : product.toClampInvariantScalar()
    let alpha: Uint8Array
    let s: Uint8Array
    if (scalar !== undefined) {
      const k = importScalarWithPublic(scalar)
      alpha = k.publicKey
      s = x25519(k.key, pointKey(hop))
    } else {
      ;({ alpha, s } = chained(ephemeral, blinders, hop))
    }
    if (i === 0) alpha0 = alpha
    secrets.push(s)
    const b = sha256(alpha, s)
    blinders.push(b)
    product.multiply(b)
  }
  if (alpha0 === undefined) throw new RangeError('a path has at least one hop')
  return { alpha: alpha0, secrets }
}

/** The literal chain of multiplications, for the fallback and as a cross-check in tests. */
export function chained (ephemeral: Uint8Array, blinders: readonly Uint8Array[], hop: PathKey): { alpha: Uint8Array, s: Uint8Array } {
  const first = importScalarWithPublic(ephemeral)
  let alpha = first.publicKey
  let s = x25519(first.key, pointKey(hop))
  for (const b of blinders) {
    const bk = importScalar(b)
    alpha = x25519(bk, importPoint(alpha))
    s = x25519(bk, importPoint(s))
  }
  return { alpha, s }
}
