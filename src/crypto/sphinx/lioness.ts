import { createCipheriv } from 'node:crypto'
import { LABEL_LIONESS, LIONESS_MIN_BLOCK, LIONESS_MU } from './constants.ts'
import { kdf, keyedHash } from './kdf.ts'

/**
 * LIONESS (Anderson and Biham), the wide-block cipher of the Sphinx payload, instantiated as in mix-lioness.md:
 * - S(k), k of mu = 32 bytes: the AES-128-CTR keystream with key k[0..16) and IV k[16..32) (section 4.1);
 * - H_k(m) = SHA-256(k || m) (section 4.2);
 * - round keys K_i = KDF("lioness_key<i>", seed) = SHA-256(label || seed) (sections 4.3 and 5.3).
 * The block is L (32 bytes) || R (the rest); four Feistel rounds (section 5.4). Being a pseudo-random permutation of
 * the whole payload, a change anywhere scrambles the all-zero integrity prefix the exit checks (section 8.2), which
 * plain AES-CTR (the nim code's payload cipher) cannot give.
 */

/** The four round keys of a LIONESS seed. */
export type LionessKeys = readonly [Buffer, Buffer, Buffer, Buffer]

export function lionessKeys (seed: Uint8Array): LionessKeys {
  if (seed.length < 16) throw new RangeError('a LIONESS seed is at least kappa = 16 bytes')
  return [kdf(LABEL_LIONESS[0], seed), kdf(LABEL_LIONESS[1], seed), kdf(LABEL_LIONESS[2], seed), kdf(LABEL_LIONESS[3], seed)]
}

const scratch = Buffer.alloc(LIONESS_MU)

/** R xor S(K xor L): AES-128-CTR of R under the key and IV read from K xor L. */
function streamRound (k: Buffer, l: Buffer, r: Uint8Array): Buffer {
  for (let i = 0; i < LIONESS_MU; i++) scratch[i] = (k[i] as number) ^ (l[i] as number)
  const cipher = createCipheriv('aes-128-ctr', scratch.subarray(0, 16), scratch.subarray(16, 32))
  return cipher.update(r)
}

/** L xor H_K(R), in place on L. */
function hashRound (k: Buffer, l: Buffer, r: Uint8Array): void {
  const h = keyedHash(k, r)
  for (let i = 0; i < LIONESS_MU; i++) l[i] = (l[i] as number) ^ (h[i] as number)
}

function check (block: Uint8Array): void {
  if (block.length < LIONESS_MIN_BLOCK) throw new RangeError(`a LIONESS block is at least ${LIONESS_MIN_BLOCK} bytes`)
}

function join (l: Buffer, r: Buffer): Buffer {
  const out = Buffer.allocUnsafe(l.length + r.length)
  l.copy(out, 0)
  r.copy(out, l.length)
  return out
}

/** LIONESS.Enc (mix-lioness.md 5.4). `keys` is a seed or its round keys. */
export function lionessEncrypt (keys: LionessKeys | Uint8Array, block: Uint8Array): Buffer {
  check(block)
  const [k1, k2, k3, k4] = keys instanceof Uint8Array ? lionessKeys(keys) : keys
  const l = Buffer.from(block.subarray(0, LIONESS_MU))
  let r = streamRound(k1, l, block.subarray(LIONESS_MU))
  hashRound(k2, l, r)
  r = streamRound(k3, l, r)
  hashRound(k4, l, r)
  return join(l, r)
}

/** LIONESS.Dec (mix-lioness.md 5.5). */
export function lionessDecrypt (keys: LionessKeys | Uint8Array, block: Uint8Array): Buffer {
  check(block)
  const [k1, k2, k3, k4] = keys instanceof Uint8Array ? lionessKeys(keys) : keys
  const l = Buffer.from(block.subarray(0, LIONESS_MU))
  let r: Uint8Array = block.subarray(LIONESS_MU)
  hashRound(k4, l, r)
  r = streamRound(k3, l, r)
  hashRound(k2, l, r)
  const r0 = streamRound(k1, l, r)
  return join(l, r0)
}
