import { randomBytes } from 'node:crypto'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { FIELD_BYTES, FIELD_ORDER } from './constants.ts'
import { RlnEncodingError } from './errors.ts'

/** x mod p, always in [0, p). */
export function mod (x: bigint): bigint {
  const r = x % FIELD_ORDER
  return r < 0n ? r + FIELD_ORDER : r
}

/** Multiplicative inverse mod p (Fermat); throws on zero. */
export function inverse (x: bigint): bigint {
  const a = mod(x)
  if (a === 0n) throw new RangeError('zero has no inverse')
  return modPow(a, FIELD_ORDER - 2n)
}

function modPow (base: bigint, exp: bigint): bigint {
  let result = 1n
  let b = mod(base)
  let e = exp
  while (e > 0n) {
    if ((e & 1n) === 1n) result = (result * b) % FIELD_ORDER
    b = (b * b) % FIELD_ORDER
    e >>= 1n
  }
  return result
}

/** 32 little-endian bytes, as zerokit serializes a field element (fr_to_bytes_le). */
export function toBytesLE (x: bigint, length = FIELD_BYTES): Uint8Array {
  if (x < 0n) throw new RangeError('negative value')
  const out = new Uint8Array(length)
  let v = x
  for (let i = 0; i < length; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  if (v !== 0n) throw new RangeError(`value does not fit in ${length} bytes`)
  return out
}

/** Little-endian bytes to an integer (no reduction). */
export function fromBytesLE (bytes: Uint8Array): bigint {
  let v = 0n
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number)
  return v
}

/** Reads a canonical field element: exactly 32 bytes, value below p. Anything else is refused, never reduced. */
export function fieldFromBytes (bytes: Uint8Array, what = 'field element'): bigint {
  if (bytes.length !== FIELD_BYTES) throw new RlnEncodingError(`${what} must be ${FIELD_BYTES} bytes, got ${bytes.length}`)
  const v = fromBytesLE(bytes)
  if (v >= FIELD_ORDER) throw new RlnEncodingError(`${what} is not a canonical field element`)
  return v
}

/** Bytes read little-endian and reduced mod p, as zerokit's bytes_le_to_fr does (used for identifiers and epochs). */
export function fieldFromBytesReduced (bytes: Uint8Array): bigint {
  return mod(fromBytesLE(bytes))
}

/**
 * The signal hash x: keccak256(signal) read little-endian mod p (rln-v1.md "Signal hash"; zerokit hash_to_field).
 */
export function hashToField (signal: Uint8Array): bigint {
  return mod(fromBytesLE(keccak_256(signal)))
}

/** A uniformly random field element (64 random bytes reduced: bias below 2^-250). */
export function randomField (): bigint {
  return mod(fromBytesLE(randomBytes(64)))
}

/** Hex of a field element's 32-byte little-endian form (the form zerokit and the wire use). */
export function fieldToHex (x: bigint): string {
  return Buffer.from(toBytesLE(x)).toString('hex')
}

/** Parses what fieldToHex writes. */
export function fieldFromHex (hex: string, what = 'field element'): bigint {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new RlnEncodingError(`${what} must be 64 hex characters`)
  return fieldFromBytes(Uint8Array.from(Buffer.from(hex, 'hex')), what)
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}
