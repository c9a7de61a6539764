import { createHash, createHmac } from 'node:crypto'
import { GAMMA_LENGTH } from './constants.ts'

/**
 * KDF(label, seed) = SHA-256(label || seed) (mix.md 8.2, mix-lioness.md 4.3): the label's ASCII bytes followed
 * directly by the seed, with no separator or length. The 32-byte output is truncated by the caller where the spec
 * says so (the header AES key and IV).
 */
export function kdf (label: string, seed: Uint8Array): Buffer {
  return createHash('sha256').update(label, 'latin1').update(seed).digest()
}

/** H(x): plain SHA-256 (mix.md 8.2), over the concatenation of its arguments. */
export function sha256 (...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** gamma = HMAC-SHA256(key, data) truncated to kappa bytes (mix.md 8.2). */
export function mac (key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest().subarray(0, GAMMA_LENGTH)
}
