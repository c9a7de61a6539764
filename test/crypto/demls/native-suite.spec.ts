import { describe, expect, it } from 'vitest'
import { getCiphersuiteFromName, getCiphersuiteImpl } from 'ts-mls'
import type { CiphersuiteImpl, CiphersuiteName } from 'ts-mls'
import { nativeCryptoProvider } from '../../../src/crypto/demls/index.ts'

const enc = new TextEncoder()

async function pair (name: CiphersuiteName): Promise<[CiphersuiteImpl, CiphersuiteImpl]> {
  const suite = getCiphersuiteFromName(name)
  return [await getCiphersuiteImpl(suite), await getCiphersuiteImpl(suite, nativeCryptoProvider)]
}

for (const name of ['MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'] as CiphersuiteName[]) {
  describe(`native crypto provider, ${name}, against ts-mls's own implementation`, () => {
    it('hash, HMAC and HKDF agree', async () => {
      const [ref, nat] = await pair(name)
      for (const data of [new Uint8Array(0), enc.encode('abc'), new Uint8Array(1000).fill(7)]) {
        expect(await nat.hash.digest(data)).toEqual(await ref.hash.digest(data))
        expect(await nat.hash.mac(enc.encode('k'), data)).toEqual(await ref.hash.mac(enc.encode('k'), data))
        // (the reference HKDF only takes salts of the hash length, which is all MLS uses)
        const salt = new Uint8Array(32).fill(9)
        const prk = await ref.kdf.extract(salt, data)
        expect(await nat.kdf.extract(salt, data)).toEqual(prk)
        expect(await nat.kdf.extract(new Uint8Array(0), data)).toEqual(await nat.kdf.extract(new Uint8Array(32), data))
        for (const len of [1, 32, 33, 100]) expect(await nat.kdf.expand(prk, data, len)).toEqual(await ref.kdf.expand(prk, data, len))
      }
      expect(await nat.hash.verifyMac(enc.encode('k'), await ref.hash.mac(enc.encode('k'), enc.encode('x')), enc.encode('x'))).toBe(true)
      expect(await nat.hash.verifyMac(enc.encode('k'), new Uint8Array(32), enc.encode('x'))).toBe(false)
    })

    it('Ed25519 signatures verify across implementations', async () => {
      const [ref, nat] = await pair(name)
      const a = await nat.signature.keygen()
      const b = await ref.signature.keygen()
      const msg = enc.encode('message')
      expect(await ref.signature.verify(a.publicKey, msg, await nat.signature.sign(a.signKey, msg))).toBe(true)
      expect(await nat.signature.verify(b.publicKey, msg, await ref.signature.sign(b.signKey, msg))).toBe(true)
      expect(await nat.signature.verify(b.publicKey, enc.encode('other'), await ref.signature.sign(b.signKey, msg))).toBe(false)
    })

    it('HPKE: derived key pairs match; seal/open and export/import interoperate both ways; tampering fails', async () => {
      const [ref, nat] = await pair(name)
      const ikm = new Uint8Array(32).fill(3)
      const kr = await ref.hpke.deriveKeyPair(ikm)
      const kn = await nat.hpke.deriveKeyPair(ikm)
      expect(await nat.hpke.exportPublicKey(kn.publicKey)).toEqual(await ref.hpke.exportPublicKey(kr.publicKey))
      expect(await nat.hpke.exportPrivateKey(kn.privateKey)).toEqual(await ref.hpke.exportPrivateKey(kr.privateKey))
      const pkRaw = await ref.hpke.exportPublicKey(kr.publicKey)
      const skRaw = await ref.hpke.exportPrivateKey(kr.privateKey)
      const info = enc.encode('info')
      const aad = enc.encode('aad')
      const pt = enc.encode('path secret')
      // native seals, reference opens
      const s1 = await nat.hpke.seal(await nat.hpke.importPublicKey(pkRaw), pt, info, aad)
      expect(await ref.hpke.open(await ref.hpke.importPrivateKey(skRaw), s1.enc, s1.ct, info, aad)).toEqual(pt)
      // reference seals, native opens
      const s2 = await ref.hpke.seal(await ref.hpke.importPublicKey(pkRaw), pt, info, aad)
      expect(await nat.hpke.open(await nat.hpke.importPrivateKey(skRaw), s2.enc, s2.ct, info, aad)).toEqual(pt)
      // exporter
      const e1 = await nat.hpke.exportSecret(await nat.hpke.importPublicKey(pkRaw), enc.encode('ctx'), 32, info)
      expect(await ref.hpke.importSecret(await ref.hpke.importPrivateKey(skRaw), enc.encode('ctx'), e1.enc, 32, info)).toEqual(e1.secret)
      const e2 = await ref.hpke.exportSecret(await ref.hpke.importPublicKey(pkRaw), enc.encode('ctx'), 32, info)
      expect(await nat.hpke.importSecret(await nat.hpke.importPrivateKey(skRaw), enc.encode('ctx'), e2.enc, 32, info)).toEqual(e2.secret)
      // AEAD
      const key = new Uint8Array(nat.hpke.keyLength).fill(1)
      const nonce = new Uint8Array(nat.hpke.nonceLength).fill(2)
      const c = await nat.hpke.encryptAead(key, nonce, aad, pt)
      expect(await ref.hpke.decryptAead(key, nonce, aad, c)).toEqual(pt)
      // tampering
      const bad = Uint8Array.from(s1.ct)
      bad[0] = (bad[0] as number) ^ 1
      await expect(nat.hpke.open(await nat.hpke.importPrivateKey(skRaw), s1.enc, bad, info, aad)).rejects.toThrow()
      await expect(nat.hpke.open(await nat.hpke.importPrivateKey(skRaw), s1.enc, s1.ct, enc.encode('other info'), aad)).rejects.toThrow()
    })
  })
}

describe('native crypto provider, other suites', () => {
  it('falls back to ts-mls\'s default provider', async () => {
    const cs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMP256_AES128GCM_SHA256_P256'), nativeCryptoProvider)
    expect(cs.name).toBe('MLS_128_DHKEMP256_AES128GCM_SHA256_P256')
    expect(cs.kdf.size).toBe(32)
    const kp = await cs.hpke.generateKeyPair()
    expect((await cs.hpke.exportPublicKey(kp.publicKey)).length).toBe(65)
  })
})
