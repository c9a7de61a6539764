import { hash } from 'node:crypto'
import { GAMMA_LENGTH } from './constants.ts'

/**
 * SHA-256, the KDF and the truncated HMAC. All go through node:crypto's one-shot `hash`, which makes no Hash or Hmac
 * object: a relay hashes about fifteen times per packet, and native wrapper objects, not the hashing, were what
 * made its garbage collector slow (see BENCHMARKS.md, "mix"). Inputs are assembled in scratch buffers; every
 * function is synchronous, so the scratch is never shared across calls.
 */

let scratch = Buffer.alloc(4096)

function room (length: number): Buffer {
  if (scratch.length < length) scratch = Buffer.alloc(Math.max(length, scratch.length * 2))
  return scratch
}

/** SHA-256 of one buffer. */
function digest (data: Uint8Array): Buffer {
  return hash('sha256', data, 'buffer')
}

/**
 * KDF(label, seed) = SHA-256(label || seed) (mix.md 8.2, mix-lioness.md 4.3): the label's ASCII bytes followed
 * directly by the seed, with no separator or length. The 32-byte output is truncated by the caller where the spec
 * says so (the header AES key and IV).
 */
export function kdf (label: string, seed: Uint8Array): Buffer {
  const buf = room(label.length + seed.length)
  const n = buf.write(label, 0, 'latin1')
  buf.set(seed, n)
  return digest(buf.subarray(0, n + seed.length))
}

/** H(x): plain SHA-256 (mix.md 8.2), over the concatenation of its arguments. */
export function sha256 (...parts: Uint8Array[]): Buffer {
  if (parts.length === 1) return digest(parts[0] as Uint8Array)
  let length = 0
  for (const p of parts) length += p.length
  const buf = room(length)
  let o = 0
  for (const p of parts) {
    buf.set(p, o)
    o += p.length
  }
  return digest(buf.subarray(0, length))
}

const BLOCK = 64
const ipadKey = Buffer.alloc(BLOCK)
const opadKey = Buffer.alloc(BLOCK + 32)

/** HMAC-SHA256 (RFC 2104) from two one-shot hashes: H((K ^ opad) || H((K ^ ipad) || m)). */
export function hmacSha256 (key: Uint8Array, data: Uint8Array): Buffer {
  const k = key.length > BLOCK ? digest(key) : key
  ipadKey.fill(0x36)
  opadKey.fill(0x5c, 0, BLOCK)
  for (let i = 0; i < k.length; i++) {
    ipadKey[i] = (k[i] as number) ^ 0x36
    opadKey[i] = (k[i] as number) ^ 0x5c
  }
  const buf = room(BLOCK + data.length)
  buf.set(ipadKey, 0)
  buf.set(data, BLOCK)
  const inner = digest(buf.subarray(0, BLOCK + data.length))
  opadKey.set(inner, BLOCK)
  return digest(opadKey)
}

/** gamma = HMAC-SHA256(key, data) truncated to kappa bytes (mix.md 8.2). */
export function mac (key: Uint8Array, data: Uint8Array): Buffer {
  return hmacSha256(key, data).subarray(0, GAMMA_LENGTH)
}

/** SHA-256(k || m): LIONESS's keyed hash (mix-lioness.md 4.2). */
export function keyedHash (k: Uint8Array, m: Uint8Array): Buffer {
  return sha256(k, m)
}
