import { createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { SphinxInvalidPointError, SphinxKeyAgreementError, SphinxLengthError } from './errors.ts'

/**
 * X25519 through node:crypto (OpenSSL), about forty times faster than a pure-JS curve. node:crypto takes keys only as
 * KeyObjects, so raw 32-byte values are imported through fixed DER/JWK wrappers:
 * - a public point: JWK import (measured faster than SPKI DER: it skips the ASN.1 parser);
 * - a scalar: PKCS#8 DER into a reused scratch buffer (OpenSSL copies it). OpenSSL computes the scalar's public key
 *   (a fixed-base multiplication) on import; `basePointMul` puts that to use instead of paying for a second one.
 *
 * Scalars are clamped by X25519 itself (RFC 7748), which is also how the nim reference multiplies at every step.
 * Decision (mix.md leaves it open, MIX.md digest): the blinding factor b = H(alpha || s) is used as an X25519 scalar,
 * i.e. clamped, not reduced into Z_q*; this interoperates with nim and keeps every alpha in the prime-order subgroup.
 */

export const X25519_LENGTH = 32

const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const pkcs8Scratch = Buffer.alloc(PKCS8_PREFIX.length + X25519_LENGTH)
pkcs8Scratch.set(PKCS8_PREFIX, 0)

/** An imported X25519 scalar, with its public key (scalar * G) read back at no extra cost. */
export interface ScalarKey {
  readonly key: KeyObject
  /** scalar * basepoint, 32 bytes. */
  readonly publicKey: Uint8Array
}

/** Imports a raw 32-byte scalar; OpenSSL clamps it. */
export function importScalar (scalar: Uint8Array): KeyObject {
  if (scalar.length !== X25519_LENGTH) throw new SphinxLengthError('X25519 scalar', X25519_LENGTH, scalar.length)
  pkcs8Scratch.set(scalar, PKCS8_PREFIX.length)
  const key = createPrivateKey({ key: pkcs8Scratch, format: 'der', type: 'pkcs8' })
  pkcs8Scratch.fill(0, PKCS8_PREFIX.length)
  return key
}

/** Imports a scalar and returns it with clamp(scalar) * G (the public key OpenSSL computed on import). */
export function importScalarWithPublic (scalar: Uint8Array): ScalarKey {
  const key = importScalar(scalar)
  const jwk = key.export({ format: 'jwk' })
  return { key, publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')) }
}

/** Imports a raw 32-byte point (u-coordinate), refusing non-canonical and small-order encodings. */
export function importPoint (point: Uint8Array): KeyObject {
  assertPoint(point)
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(point.buffer, point.byteOffset, point.byteLength).toString('base64url') }, format: 'jwk' })
}

/** X25519(scalar, point) = clamp(scalar) * point, 32 bytes. */
export function x25519 (scalar: KeyObject, point: KeyObject): Uint8Array {
  try {
    const out = diffieHellman({ privateKey: scalar, publicKey: point })
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  } catch (err) {
    // OpenSSL refuses an all-zero result (RFC 7748 section 6.1), which only a small-order point gives.
    throw new SphinxKeyAgreementError({ cause: err })
  }
}

/** X25519 from raw bytes: imports both and multiplies. */
export function x25519Raw (scalar: Uint8Array, point: Uint8Array): Uint8Array {
  return x25519(importScalar(scalar), importPoint(point))
}

/** clamp(scalar) * G. */
export function basePointMul (scalar: Uint8Array): Uint8Array {
  return importScalarWithPublic(scalar).publicKey
}

/** A fresh X25519 key pair as raw bytes. */
export function generateMixKeyPair (): { privateKey: Uint8Array, publicKey: Uint8Array } {
  const privateKey = new Uint8Array(randomBytes(X25519_LENGTH))
  return { privateKey, publicKey: basePointMul(privateKey) }
}

/**
 * Encodings of the points of order 1, 2, 4 and 8 (with the canonical top bit clear), as listed by libsodium.
 * X25519 with any of them gives zero, and a relay must not accept them as alpha (MIX.md: "reject non-canonical or
 * low-order alpha").
 */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
].map(hex => Buffer.from(hex, 'hex'))

/** p - 1 = 2^255 - 20, little-endian: a canonical u is at most this. */
const P_MINUS_1_LE = Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex')

/** True when `u` is a canonical encoding: top bit clear and u < p. */
export function isCanonicalPoint (u: Uint8Array): boolean {
  if (u.length !== X25519_LENGTH) return false
  if (((u[31] as number) & 0x80) !== 0) return false
  for (let i = 31; i >= 0; i--) {
    const a = u[i] as number
    const b = P_MINUS_1_LE[i] as number
    if (a < b) return true
    if (a > b) return false
  }
  return true
}

/** True when `u` is one of the small-order points. */
export function isSmallOrderPoint (u: Uint8Array): boolean {
  const buf = Buffer.from(u.buffer, u.byteOffset, u.byteLength)
  return SMALL_ORDER.some(p => p.equals(buf))
}

/**
 * A relay accepts alpha only as a canonical large-order point. X25519 ignores the top bit, so without this check a
 * replay with that bit flipped would share the secret of the original; the tag H(s) catches it anyway, and this
 * check refuses it before any work.
 */
export function assertPoint (u: Uint8Array): void {
  if (u.length !== X25519_LENGTH) throw new SphinxLengthError('X25519 point', X25519_LENGTH, u.length)
  if (!isCanonicalPoint(u)) throw new SphinxInvalidPointError('non-canonical encoding')
  if (isSmallOrderPoint(u)) throw new SphinxInvalidPointError('small-order point')
}

// ---------------------------------------------------------------------------------------------------------------
// Scalar arithmetic for the sender: one multiplication per secret instead of a chain.
// ---------------------------------------------------------------------------------------------------------------

/** The order of the prime-order subgroup, l = 2^252 + 27742317777372353535851937790883648493. */
export const GROUP_ORDER = (1n << 252n) + 27742317777372353535851937790883648493n
const EIGHT_L = 8n * GROUP_ORDER
const TWO_254 = 1n << 254n
const TWO_255 = 1n << 255n
const INV8 = modPow(8n, GROUP_ORDER - 2n, GROUP_ORDER)

function modPow (base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  let b = base % mod
  let e = exp
  while (e > 0n) {
    if ((e & 1n) === 1n) result = (result * b) % mod
    b = (b * b) % mod
    e >>= 1n
  }
  return result
}

function leToBigInt (bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number)
  return n
}

function bigIntToLe (n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length)
  let v = n
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

/** The integer an X25519 scalar stands for after RFC 7748 clamping. */
export function clampedScalar (scalar: Uint8Array): bigint {
  const c = Uint8Array.from(scalar)
  c[0] = (c[0] as number) & 248
  c[31] = ((c[31] as number) & 127) | 64
  return leToBigInt(c)
}

/**
 * A running product of clamped scalars modulo l. Multiplying a point of the prime-order subgroup by the product
 * equals multiplying by each scalar in turn, which is what the relays do (alpha_i = alpha_{i-1}^{b_{i-1}}).
 */
export class ScalarProduct {
  private value: bigint

  constructor (first: Uint8Array) {
    this.value = clampedScalar(first) % GROUP_ORDER
  }

  multiply (scalar: Uint8Array): void {
    this.value = (this.value * (clampedScalar(scalar) % GROUP_ORDER)) % GROUP_ORDER
  }

  /**
   * A 32-byte scalar K that X25519 leaves unchanged when it clamps (K = 0 mod 8, 2^254 <= K < 2^255) and with
   * K = +-product (mod l): then X25519(K, P) is the chained result for P = G or any honest public key, since an
   * x-coordinate does not see the sign, and K = 0 mod 8 clears any small-order component of a dishonest key exactly
   * as the chain's clamped scalars do. Returns undefined in the (probability ~2^-124) case where neither sign fits,
   * and the caller falls back to the chain.
   */
  toClampInvariantScalar (): Uint8Array | undefined {
    const k0 = 8n * ((this.value * INV8) % GROUP_ORDER)
    if (k0 >= TWO_254 && k0 < TWO_255) return bigIntToLe(k0)
    const k1 = EIGHT_L - k0
    if (k1 >= TWO_254 && k1 < TWO_255) return bigIntToLe(k1)
    return undefined
  }
}
