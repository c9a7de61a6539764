/**
 * A second, literal implementation of the spec's formulas on pure-JS primitives (@noble/*), sharing no code with
 * src/crypto/sphinx: the tests check the node:crypto implementation against it byte for byte.
 */
import { ctr } from '@noble/ciphers/aes.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'

const enc = new TextEncoder()
const K = 16
const R = 5
const T = 6
const BETA = (R * (T + 1) + 1) * K

export function cat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

export function refKdf (label: string, seed: Uint8Array): Uint8Array {
  return sha256(cat(enc.encode(label), seed))
}

/** AES-128-CTR keystream bytes [0, n) under a 128-bit big-endian counter starting at iv. */
export function refKeystream (key: Uint8Array, iv: Uint8Array, n: number): Uint8Array {
  return ctr(key, iv).encrypt(new Uint8Array(n))
}

export function xor (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number)
  return out
}

function S (k: Uint8Array, n: number): Uint8Array {
  return refKeystream(k.subarray(0, 16), k.subarray(16, 32), n)
}

function H (k: Uint8Array, m: Uint8Array): Uint8Array {
  return sha256(cat(k, m))
}

export function refLionessEncrypt (seed: Uint8Array, block: Uint8Array): Uint8Array {
  const [k1, k2, k3, k4] = [1, 2, 3, 4].map(i => refKdf(`lioness_key${i}`, seed)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  let l: Uint8Array = block.slice(0, 32)
  let r: Uint8Array = block.slice(32)
  r = xor(r, S(xor(k1, l), r.length))
  l = xor(l, H(k2, r))
  r = xor(r, S(xor(k3, l), r.length))
  l = xor(l, H(k4, r))
  return cat(l, r)
}

export function refLionessDecrypt (seed: Uint8Array, block: Uint8Array): Uint8Array {
  const [k1, k2, k3, k4] = [1, 2, 3, 4].map(i => refKdf(`lioness_key${i}`, seed)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  let l: Uint8Array = block.slice(0, 32)
  let r: Uint8Array = block.slice(32)
  l = xor(l, H(k4, r))
  r = xor(r, S(xor(k3, l), r.length))
  l = xor(l, H(k2, r))
  r = xor(r, S(xor(k1, l), r.length))
  return cat(l, r)
}

/** alpha_i and s_i by the literal chain of clamped multiplications (mix.md 8.5.2 step 3.a, as nim does it). */
export function refPathSecrets (publicKeys: Uint8Array[], x: Uint8Array): { alphas: Uint8Array[], secrets: Uint8Array[] } {
  const alphas: Uint8Array[] = []
  const secrets: Uint8Array[] = []
  const blinders: Uint8Array[] = [x]
  let alpha = x25519.scalarMultBase(x)
  for (let i = 0; i < publicKeys.length; i++) {
    if (i > 0) alpha = x25519.scalarMult(blinders[i] as Uint8Array, alpha)
    let s = publicKeys[i] as Uint8Array
    for (const b of blinders) s = x25519.scalarMult(b, s)
    alphas.push(alpha)
    secrets.push(s)
    blinders.push(sha256(cat(alpha, s)))
  }
  return { alphas, secrets }
}

export type RefResult =
  | { type: 'forward', nextHop: Uint8Array, delay: number, packet: Uint8Array }
  | { type: 'exit', routing: Uint8Array, payload: Uint8Array }

/** One hop of mix.md 8.6 with the spec's formulas; no replay table, throws a plain Error on a bad MAC. */
export function refProcess (packet: Uint8Array, privateKey: Uint8Array): RefResult {
  const alpha = packet.subarray(0, 32)
  const beta = packet.subarray(32, 32 + BETA)
  const gamma = packet.subarray(32 + BETA, 48 + BETA)
  const delta = packet.subarray(48 + BETA)
  const s = x25519.scalarMult(privateKey, alpha)
  const macKey = refKdf('mac_key', s)
  const expect = hmac(sha256, macKey, beta).subarray(0, 16)
  if (!expect.every((v, i) => v === gamma[i])) throw new Error('bad mac')
  const aesKey = refKdf('aes_key', s).subarray(0, 16)
  const iv = refKdf('iv', s).subarray(0, 16)
  const B = xor(cat(beta, new Uint8Array((T + 1) * K)), refKeystream(aesKey, iv, BETA + (T + 1) * K))
  const deltaPrime = refLionessDecrypt(refKdf('payload_enc_key', s), delta)
  const delay = ((B[T * K - 2] as number) << 8) | (B[T * K - 1] as number)
  if (delay === 0) return { type: 'exit', routing: B.slice(0, (T + 1) * K), payload: deltaPrime }
  const b = sha256(cat(alpha, s))
  const alphaPrime = x25519.scalarMult(b, alpha)
  const out = cat(alphaPrime, B.subarray((T + 1) * K, (T + 1) * K + BETA), B.subarray(T * K, (T + 1) * K), deltaPrime)
  return { type: 'forward', nextHop: B.slice(0, T * K - 2), delay, packet: out }
}

export function refPublicKey (privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey)
}
