import { createPrivateKey, createPublicKey, randomBytes, sign as nodeSign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ADDRESS_CHARS, HiddenAddressError, HiddenKeyError, addressChecksum, base32Decode, base32Encode, blindPublicKey,
  blindSigningKey, blindingFactor, decodeMixAddress, defaultPublicEntropy, discoveryKey, encodeMixAddress,
  normalizeMixAddress, parsePublicKey, sign, signingKeyFromSeed, verifySignature
} from '../../../src/net/mix-hidden/index.ts'

interface KeyVector {
  seed: string
  hsId: string
  checksum: string
  address: string
  epochs: Array<{ epoch: number, blindingFactor: string, blindedKey: string, discKey: string, signature: string }>
}

/** Computed by vectors/reference.py, a plain-Python implementation of the same formulas (no shared code). */
const file = JSON.parse(readFileSync(new URL('./vectors/keys.json', import.meta.url), 'utf8')) as { message: string, vectors: KeyVector[] }
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const message = new TextEncoder().encode(file.message)

describe('the .mix address (hs 8.1)', () => {
  it('matches the independent vectors: base32(hs_id | H("hidden-service-checksum" | hs_id)[:2]) + ".mix"', () => {
    for (const v of file.vectors) {
      const hsId = bytes(v.hsId)
      expect(hex(addressChecksum(hsId))).toBe(v.checksum)
      expect(encodeMixAddress(hsId)).toBe(v.address)
      expect(hex(decodeMixAddress(v.address))).toBe(v.hsId)
      expect(v.address.length).toBe(ADDRESS_CHARS + 4)
    }
  })

  it('reads upper case and no suffix, and writes the one canonical spelling', () => {
    const v = file.vectors[1] as KeyVector
    const bare = v.address.slice(0, -4)
    expect(hex(decodeMixAddress(bare.toUpperCase()))).toBe(v.hsId)
    expect(normalizeMixAddress(bare.toUpperCase() + '.MIX')).toBe(v.address)
  })

  it('refuses a typo (checksum), a wrong length, a non-base32 character, a non-canonical ending and a non-key', () => {
    const v = file.vectors[0] as KeyVector
    const typo = (v.address[0] === 'a' ? 'b' : 'a') + v.address.slice(1)
    expect(() => decodeMixAddress(typo)).toThrow(HiddenAddressError)
    expect(() => decodeMixAddress(typo)).toThrow(/checksum/)
    expect(() => decodeMixAddress(v.address.slice(1))).toThrow(/expected 55/)
    expect(() => decodeMixAddress('1' + v.address.slice(1))).toThrow(/not a base32/)
    // The last character carries 2 bits; its 3 low bits must be zero.
    const last = v.address[54] as string
    const bumped = 'abcdefghijklmnopqrstuvwxyz234567'['abcdefghijklmnopqrstuvwxyz234567'.indexOf(last) + 1] as string
    expect(() => decodeMixAddress(v.address.slice(0, 54) + bumped + '.mix')).toThrow(/non-canonical/)
    // 32 bytes that are no usable key, with a correct checksum, are still refused: a point of small order (y = 0)
    // and bytes off the curve (y = 2 has no x).
    const y2 = new Uint8Array(32)
    y2[0] = 2
    for (const notKey of [new Uint8Array(32), y2]) {
      const forged = base32Encode(new Uint8Array([...notKey, ...addressChecksum(notKey)])) + '.mix'
      expect(() => decodeMixAddress(forged)).toThrow(/not an Ed25519 public key/)
    }
  })

  it('base32 round-trips any bytes, and every 34-byte key round-trips through an address (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      expect(hex(base32Decode(base32Encode(b)))).toBe(hex(b))
    }))
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
      const hsId = signingKeyFromSeed(seed).publicKey
      expect(hex(decodeMixAddress(encodeMixAddress(hsId)))).toBe(hex(hsId))
    }), { numRuns: 20 })
  })
})

describe('Ed25519 with key blinding (hs 8.4 and appendix)', () => {
  it('derives hs_id as every Ed25519 implementation does, and signs byte for byte like node:crypto', () => {
    const seed = randomBytes(32)
    const key = signingKeyFromSeed(seed)
    const nodeKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' })
    expect(hex(key.publicKey)).toBe(hex(createPublicKey(nodeKey).export({ format: 'der', type: 'spki' }).subarray(12)))
    const m = randomBytes(100)
    expect(hex(sign(key, m))).toBe(hex(nodeSign(null, m, nodeKey)))
  })

  it('matches the independent vectors: blinding factor, blinded key, discovery key, and the blinded signature', () => {
    for (const v of file.vectors) {
      const identity = signingKeyFromSeed(bytes(v.seed))
      expect(hex(identity.publicKey)).toBe(v.hsId)
      for (const e of v.epochs) {
        const epoch = BigInt(e.epoch)
        expect(hex(blindingFactor(identity.publicKey, epoch))).toBe(e.blindingFactor)
        expect(hex(blindPublicKey(identity.publicKey, epoch))).toBe(e.blindedKey)
        const blinded = blindSigningKey(identity, epoch)
        expect(hex(blinded.publicKey)).toBe(e.blindedKey)
        expect(hex(discoveryKey(blinded.publicKey, defaultPublicEntropy(epoch)))).toBe(e.discKey)
        expect(hex(sign(blinded, message))).toBe(e.signature)
      }
    }
  })

  it('a blinded signature verifies under bk_i only: not under hs_id, not under another epoch\'s key, not for another message', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 0n, max: 1n << 40n }), fc.uint8Array({ maxLength: 200 }), (seed, epoch, m) => {
      const identity = signingKeyFromSeed(seed)
      const bk = blindSigningKey(identity, epoch)
      const sig = sign(bk, m)
      expect(verifySignature(bk.publicKey, m, sig)).toBe(true)
      expect(verifySignature(blindPublicKey(identity.publicKey, epoch), m, sig)).toBe(true)
      expect(verifySignature(identity.publicKey, m, sig)).toBe(false)
      expect(verifySignature(blindPublicKey(identity.publicKey, epoch + 1n), m, sig)).toBe(false)
      expect(verifySignature(bk.publicKey, new Uint8Array([...m, 0]), sig)).toBe(false)
      // Different epochs give different, unrelated-looking keys.
      expect(hex(blindPublicKey(identity.publicKey, epoch + 1n))).not.toBe(hex(bk.publicKey))
    }), { numRuns: 15 })
  })

  it('refuses malformed and small-order keys with a typed error', () => {
    expect(() => parsePublicKey(new Uint8Array(31))).toThrow(HiddenKeyError)
    expect(() => parsePublicKey(new Uint8Array(32))).toThrow(HiddenKeyError) // y = 0: a point of order 4
    const identity = new Uint8Array(32)
    identity[0] = 1 // the neutral element, y = 1
    expect(() => blindPublicKey(identity, 1n)).toThrow(/small order/)
    expect(verifySignature(new Uint8Array(32), new Uint8Array(1), new Uint8Array(64))).toBe(false)
    expect(verifySignature(new Uint8Array(5), new Uint8Array(1), new Uint8Array(64))).toBe(false)
  })
})
