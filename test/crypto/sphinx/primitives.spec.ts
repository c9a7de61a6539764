import { createPublicKey, randomBytes } from 'node:crypto'
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  SphinxInvalidPointError, SphinxKeyAgreementError, ScalarProduct, addToCounter, aesCtr, aesCtrKeystream,
  assertPoint, basePointMul, chained, computePathSecrets, generateMixKeyPair, importPoint, importScalar,
  isCanonicalPoint, kdf, lionessDecrypt, lionessEncrypt, mac, sha256, x25519, x25519Raw
} from '../../../src/crypto/sphinx/index.ts'
import { refKdf, refKeystream, refLionessDecrypt, refLionessEncrypt, refPathSecrets } from './reference.ts'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'

const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('KDF, MAC, AES-CTR', () => {
  it('KDF is SHA-256(label || seed) with the spec labels', () => {
    fc.assert(fc.property(fc.constantFrom('aes_key', 'iv', 'mac_key', 'payload_enc_key', 'lioness_key1'), bytes(32), (label, seed) => {
      expect(hex(kdf(label, seed))).toBe(hex(refKdf(label, seed)))
    }))
    // A fixed value pins the encoding: no separator, no length prefix.
    expect(hex(kdf('aes_key', new Uint8Array(32)))).toBe(hex(nobleSha256(Buffer.concat([Buffer.from('aes_key'), Buffer.alloc(32)]))))
  })

  it('gamma is HMAC-SHA256 truncated to 16 bytes', () => {
    fc.assert(fc.property(bytes(32), fc.uint8Array({ maxLength: 700 }), (key, data) => {
      expect(hex(mac(key, data))).toBe(hex(hmac(nobleSha256, key, data).subarray(0, 16)))
    }))
  })

  it('AES-CTR from an offset equals the tail of the keystream from zero', () => {
    fc.assert(fc.property(bytes(16), bytes(16), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 300 }), (key, iv, blocks, n) => {
      const full = refKeystream(key, iv, blocks * 16 + n)
      expect(hex(aesCtrKeystream(key, iv, n, blocks * 16))).toBe(hex(full.subarray(blocks * 16)))
    }), { numRuns: 200 })
  })

  it('the counter carries across all 128 bits, including past the low 64', () => {
    const iv = Buffer.from('00000000000000ffffffffffffffffff', 'hex')
    expect(hex(addToCounter(iv, 1))).toBe('00000000000001000000000000000000')
    const key = randomBytes(16)
    const full = refKeystream(key, iv, 64)
    expect(hex(aesCtr(key, iv, new Uint8Array(32), 32))).toBe(hex(full.subarray(32)))
    expect(hex(addToCounter(Buffer.alloc(16, 0xff), 1))).toBe('00'.repeat(16))
  })

  it('refuses a keystream offset that is not a whole block', () => {
    expect(() => aesCtr(randomBytes(16), randomBytes(16), new Uint8Array(4), 8)).toThrow(RangeError)
  })
})

describe('LIONESS (mix-lioness.md)', () => {
  it('matches a literal implementation and decrypts what it encrypts', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 40 }), fc.uint8Array({ minLength: 64, maxLength: 600 }), (seed, block) => {
      const c = lionessEncrypt(seed, block)
      expect(hex(c)).toBe(hex(refLionessEncrypt(seed, block)))
      expect(hex(lionessDecrypt(seed, c))).toBe(hex(block))
      expect(hex(refLionessDecrypt(seed, c))).toBe(hex(block))
    }), { numRuns: 100 })
  })

  it('is not malleable: flipping any one ciphertext bit scrambles the 16-byte zero prefix', () => {
    const seed = randomBytes(32)
    const block = new Uint8Array(3984)
    block.set(randomBytes(3968), 16)
    const c = lionessEncrypt(seed, block)
    fc.assert(fc.property(fc.integer({ min: 0, max: 3984 * 8 - 1 }), (bit) => {
      const t = Uint8Array.from(c)
      t[bit >> 3] = (t[bit >> 3] as number) ^ (1 << (bit & 7))
      const p = lionessDecrypt(seed, t)
      expect(p.subarray(0, 16).every(b => b === 0)).toBe(false)
    }), { numRuns: 300 })
  })

  it('refuses blocks shorter than 64 bytes and seeds shorter than 16', () => {
    expect(() => lionessEncrypt(randomBytes(32), new Uint8Array(63))).toThrow(RangeError)
    expect(() => lionessEncrypt(randomBytes(15), new Uint8Array(64))).toThrow(RangeError)
  })
})

describe('X25519 through node:crypto', () => {
  it('agrees with a pure-JS X25519 on random inputs', () => {
    fc.assert(fc.property(bytes(32), bytes(32), (k, p) => {
      const point = nobleX25519.scalarMultBase(p)
      expect(hex(x25519Raw(k, point))).toBe(hex(nobleX25519.scalarMult(k, point)))
      expect(hex(basePointMul(k))).toBe(hex(nobleX25519.scalarMultBase(k)))
    }), { numRuns: 50 })
  })

  it('rejects small-order and non-canonical points with a typed error', () => {
    const small = ['00'.repeat(32), '01' + '00'.repeat(31), 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', 'ec' + 'ff'.repeat(30) + '7f']
    for (const s of small) {
      const u = Buffer.from(s, 'hex')
      expect(() => assertPoint(u)).toThrow(SphinxInvalidPointError)
      // They really are of small order: a clamped multiplication gives zero, which X25519 refuses.
      expect(() => nobleX25519.scalarMult(randomBytes(32), u)).toThrow()
    }
    const { publicKey } = generateMixKeyPair()
    const flipped = Uint8Array.from(publicKey)
    flipped[31] = (flipped[31] as number) | 0x80
    expect(isCanonicalPoint(flipped)).toBe(false)
    expect(() => importPoint(flipped)).toThrow(SphinxInvalidPointError)
    // p itself (2^255 - 19) is the non-canonical encoding of 0.
    expect(isCanonicalPoint(Buffer.from('ed' + 'ff'.repeat(30) + '7f', 'hex'))).toBe(false)
    expect(isCanonicalPoint(Buffer.from('ec' + 'ff'.repeat(30) + '7f', 'hex'))).toBe(true)
  })

  it('a zero shared secret is a typed key-agreement failure', () => {
    // Bypass the point check to reach OpenSSL with a small-order point.
    const raw = Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')
    const point = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' })
    expect(() => x25519(importScalar(randomBytes(32)), point)).toThrow(SphinxKeyAgreementError)
  })
})

describe('path secrets (mix.md 8.5.2 step 3.a)', () => {
  it('one multiplication per hop gives exactly the chain of clamped multiplications', () => {
    fc.assert(fc.property(bytes(32), fc.array(bytes(32), { minLength: 1, maxLength: 5 }), (x, privs) => {
      const pubs = privs.map(p => nobleX25519.scalarMultBase(p))
      const fast = computePathSecrets(pubs.map(publicKey => ({ publicKey })), x)
      const ref = refPathSecrets(pubs, x)
      expect(hex(fast.alpha)).toBe(hex(ref.alphas[0] as Uint8Array))
      expect(fast.secrets.map(hex)).toEqual(ref.secrets.map(hex))
      // Each relay sees s_i = alpha_i ^ (its private key).
      privs.forEach((p, i) => { expect(hex(nobleX25519.scalarMult(p, ref.alphas[i] as Uint8Array))).toBe(hex(fast.secrets[i] as Uint8Array)) })
    }), { numRuns: 25 })
  })

  it('the clamp-invariant scalar is clamped already and stands for the product', () => {
    fc.assert(fc.property(fc.array(bytes(32), { minLength: 1, maxLength: 6 }), (scalars) => {
      const product = new ScalarProduct(scalars[0] as Uint8Array)
      for (const s of scalars.slice(1)) product.multiply(s)
      const k = product.toClampInvariantScalar()
      if (k === undefined) return
      expect((k[0] as number) & 7).toBe(0)
      expect((k[31] as number) & 0xc0).toBe(0x40)
      let chain = nobleX25519.scalarMultBase(scalars[0] as Uint8Array)
      for (const s of scalars.slice(1)) chain = nobleX25519.scalarMult(s, chain)
      expect(hex(nobleX25519.scalarMultBase(k))).toBe(hex(chain))
    }), { numRuns: 30 })
  })

  it('the chained fallback computes the same secrets', () => {
    const x = randomBytes(32)
    const pubs = [0, 1, 2].map(() => generateMixKeyPair().publicKey)
    const fast = computePathSecrets(pubs.map(publicKey => ({ publicKey })), x)
    const blinders: Uint8Array[] = []
    let alpha = basePointMul(x)
    pubs.forEach((publicKey, i) => {
      const r = chained(x, blinders, { publicKey })
      expect(hex(r.s)).toBe(hex(fast.secrets[i] as Uint8Array))
      if (i === 0) expect(hex(r.alpha)).toBe(hex(fast.alpha))
      alpha = r.alpha
      blinders.push(sha256(alpha, r.s))
    })
  })

  it('refuses a small-order public key on the path', () => {
    expect(() => computePathSecrets([{ publicKey: new Uint8Array(32) }], randomBytes(32))).toThrow(SphinxInvalidPointError)
  })
})
