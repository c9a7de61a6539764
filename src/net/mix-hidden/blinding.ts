import { createPublicKey, hash, randomBytes, verify } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { concat, label, u64 } from './bytes.ts'
import { HiddenKeyError } from './errors.ts'

/**
 * Ed25519 with key blinding (hs appendix, "Signature scheme with key blinding", after Tor's rend-spec key blinding
 * and Eaton et al. 2023/380):
 *
 *   r_i  = H("key blinding" || hs_id || epoch_i)                         hs 8.4, H = SHA-256, epoch as u64 big-endian
 *   z    = Clamp(r_i)                                                     the Ed25519 clamp
 *   bk_i = z A                      (Sig.BlindPk: anyone with hs_id)
 *   x'   = z x mod l,  d' = SHA-512("key blinding nonce" || d)[0:32]      (Sig.BlindKey: the service)
 *
 * Signatures under (x', d') are ordinary Ed25519 signatures under bk_i, so anyone verifies them with a stock Ed25519
 * verifier (node:crypto here). Signing needs the raw scalar x', which no stock signer takes, so it is written out
 * here with @noble/curves' point arithmetic (the appendix's Sig.Sign).
 *
 * Decision (the appendix multiplies by the clamped z itself, which exceeds the group order l): z is a multiple of 8,
 * so z A = (z / 8)(8 A) with z / 8 < 2^252 < l; the result equals z A for any point, torsion component or not.
 */

const Point = ed25519.Point
const L = Point.Fn.ORDER

export const ED25519_KEY_LENGTH = 32
export const ED25519_SIGNATURE_LENGTH = 64

/** An Ed25519 signing key as the appendix has it: the scalar x, the nonce prefix d, the public key A = xB. */
export interface SigningKey {
  scalar: bigint
  prefix: Uint8Array
  publicKey: Uint8Array
}

function sha512 (...parts: Uint8Array[]): Uint8Array {
  return hash('sha512', concat(parts), 'buffer')
}

export function sha256 (...parts: Uint8Array[]): Uint8Array {
  return hash('sha256', concat(parts), 'buffer')
}

function leToBigInt (b: Uint8Array): bigint {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i] as number)
  return n
}

function bigIntToLe (n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    out[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return out
}

/** Clamp(h) of the appendix: h[0] &= 248, h[31] &= 63, h[31] |= 64, read little-endian. */
export function clamp (h: Uint8Array): bigint {
  const c = Uint8Array.from(h.subarray(0, 32))
  c[0] = (c[0] as number) & 248
  c[31] = ((c[31] as number) & 63) | 64
  return leToBigInt(c)
}

/** Sig.KeyGen from a 32-byte seed (RFC 8032): the same public key node:crypto and every Ed25519 library derive. */
export function signingKeyFromSeed (seed: Uint8Array): SigningKey {
  if (seed.length !== 32) throw new HiddenKeyError('an Ed25519 seed is 32 bytes')
  const h = sha512(seed)
  const scalar = clamp(h.subarray(0, 32))
  return { scalar, prefix: h.slice(32, 64), publicKey: Point.BASE.multiply(scalar % L).toBytes() }
}

/** A fresh Ed25519 key (auth_key, hs_id). */
export function generateSigningKey (): { seed: Uint8Array, key: SigningKey } {
  const seed = randomBytes(32)
  return { seed, key: signingKeyFromSeed(seed) }
}

/** A public key parsed strictly (canonical, on the curve) and refused when of small order. */
export function parsePublicKey (bytes: Uint8Array): InstanceType<typeof Point> {
  if (bytes.length !== ED25519_KEY_LENGTH) throw new HiddenKeyError(`an Ed25519 key is ${ED25519_KEY_LENGTH} bytes`)
  let p: InstanceType<typeof Point>
  try {
    p = Point.fromBytes(bytes)
  } catch (err) {
    throw new HiddenKeyError('not an Ed25519 point', { cause: err })
  }
  if (p.isSmallOrder()) throw new HiddenKeyError('an Ed25519 key of small order')
  return p
}

/** r_i = H("key blinding" || hs_id || epoch_i), the epoch as a u64 big-endian (hs 8.4). */
export function blindingFactor (hsId: Uint8Array, epoch: bigint): Uint8Array {
  return sha256(label('key blinding'), hsId, u64(epoch))
}

/** Sig.BlindPk: bk_i from hs_id alone (what a client derives from the address). */
export function blindPublicKey (hsId: Uint8Array, epoch: bigint): Uint8Array {
  const A = parsePublicKey(hsId)
  const z = clamp(blindingFactor(hsId, epoch))
  return A.multiply(8n).multiply(z >> 3n).toBytes()
}

/** Sig.BlindKey: the epoch's blinded signing key (x', d') and bk_i. */
export function blindSigningKey (identity: SigningKey, epoch: bigint): SigningKey {
  const z = clamp(blindingFactor(identity.publicKey, epoch))
  const scalar = (z * identity.scalar) % L
  const prefix = sha512(label('key blinding nonce'), identity.prefix).slice(0, 32)
  return { scalar, prefix, publicKey: Point.BASE.multiply(scalar).toBytes() }
}

/** Sig.Sign (RFC 8032 with the scalar and prefix given): R || s, 64 bytes. */
export function sign (key: SigningKey, message: Uint8Array): Uint8Array {
  const r = leToBigInt(sha512(key.prefix, message)) % L
  const R = (r === 0n ? Point.ZERO : Point.BASE.multiply(r)).toBytes()
  const k = leToBigInt(sha512(R, key.publicKey, message)) % L
  const s = (r + k * key.scalar) % L
  return concat([R, bigIntToLe(s, 32)])
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** Sig.VerifySig: a plain Ed25519 verification (node:crypto); false for any malformed input. */
export function verifySignature (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) return false
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}
