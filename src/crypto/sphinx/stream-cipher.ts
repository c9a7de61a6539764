import { createCipheriv } from 'node:crypto'
import { AES_IV_LENGTH, AES_KEY_LENGTH } from './constants.ts'

const BLOCK = 16

/**
 * AES-128-CTR over `data`, starting the keystream at byte `offset` (a multiple of 16). The IV is the initial
 * counter block and the counter is the whole 128-bit block, big-endian, incremented with carry across all 128 bits,
 * which is what OpenSSL's aes-128-ctr does for the body of a message. Decision (mix.md leaves it open): the filler's
 * start offset is added the same way. The nim code adds it to the low 64 bits only; the two agree unless the low
 * 64 bits of the IV wrap within 43 blocks (probability about 2^-58).
 */
export function aesCtr (key: Uint8Array, iv: Uint8Array, data: Uint8Array, offset = 0): Buffer {
  if (key.length !== AES_KEY_LENGTH || iv.length !== AES_IV_LENGTH) throw new RangeError('AES-128-CTR needs a 16-byte key and IV')
  if (offset % BLOCK !== 0) throw new RangeError('the keystream offset must be a multiple of 16')
  const counter = offset === 0 ? iv : addToCounter(iv, offset / BLOCK)
  const cipher = createCipheriv('aes-128-ctr', key, counter)
  return cipher.update(data)
}

/** The first `length` keystream bytes from `offset` on. */
export function aesCtrKeystream (key: Uint8Array, iv: Uint8Array, length: number, offset = 0): Buffer {
  return aesCtr(key, iv, Buffer.alloc(length), offset)
}

/** iv + blocks as a 128-bit big-endian integer, modulo 2^128. */
export function addToCounter (iv: Uint8Array, blocks: number): Uint8Array {
  const out = Uint8Array.from(iv)
  let carry = blocks
  for (let i = BLOCK - 1; i >= 0 && carry > 0; i--) {
    const sum = (out[i] as number) + (carry % 256)
    out[i] = sum & 0xff
    carry = Math.floor(carry / 256) + (sum >> 8)
  }
  return out
}
