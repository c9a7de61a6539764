import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { defaultCryptoProvider } from 'ts-mls'
import type { Ciphersuite, CiphersuiteImpl, CryptoProvider, Hash, Hpke, Kdf, PrivateKey, PublicKey, Signature } from 'ts-mls'
import { concatBytes, utf8 } from './bytes.ts'
import { generateKeyPair, signBytes, verifyBytes } from './identity.ts'

/**
 * A ts-mls CryptoProvider on Node's own crypto (OpenSSL) for MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (RFC 9420
 * suite 1, the mandatory one); other suites fall back to ts-mls's default provider.
 *
 * ts-mls's default provider runs every primitive through WebCrypto, whose calls each go through the thread pool:
 * about a millisecond per HPKE operation, and a commit in a group of 128 whose tree has blank parents needs an HPKE
 * encryption per member. The same primitives through node:crypto run synchronously in tens of microseconds. HPKE is
 * RFC 9180 base mode (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM), written here on those primitives and
 * tested against ts-mls's own (@hpke/core) implementation in both directions, and whole groups mix both providers.
 */

const X25519_PKCS8 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const X25519_SPKI = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])
const KEM_X25519 = 0x0020
const KDF_HKDF_SHA256 = 0x0001
const HASH_LEN = 32

interface RawKey {
  type: 'private' | 'public'
  raw: Uint8Array
  /** Built on first use: most public keys a commit imports are only compared or re-exported. */
  object?: KeyObject
}

function i2osp (n: number, len: number): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = len - 1, v = n; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff
  return out
}

function u8 (b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function hmac (key: Uint8Array, data: Uint8Array): Uint8Array {
  return u8(createHmac('sha256', key).update(data).digest())
}

function hkdfExtract (salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmac(salt.length === 0 ? new Uint8Array(HASH_LEN) : salt, ikm)
}

function hkdfExpand (prk: Uint8Array, info: Uint8Array, len: number): Uint8Array {
  if (len > 255 * HASH_LEN) throw new RangeError('HKDF output too long')
  const out = new Uint8Array(len)
  let t: Uint8Array = new Uint8Array(0)
  for (let i = 1, off = 0; off < len; i++) {
    t = hmac(prk, concatBytes(t, info, Uint8Array.of(i)))
    out.set(t.subarray(0, Math.min(t.length, len - off)), off)
    off += t.length
  }
  return out
}

function privateKey (raw: Uint8Array): RawKey {
  if (raw.length !== 32) throw new RangeError('an X25519 private key is 32 bytes')
  return { type: 'private', raw: Uint8Array.from(raw) }
}

function publicKey (raw: Uint8Array): RawKey {
  if (raw.length !== 32) throw new RangeError('an X25519 public key is 32 bytes')
  return { type: 'public', raw: Uint8Array.from(raw) }
}

function keyObject (k: RawKey): KeyObject {
  k.object ??= k.type === 'private'
    ? createPrivateKey({ key: Buffer.from(concatBytes(X25519_PKCS8, k.raw)), format: 'der', type: 'pkcs8' })
    : createPublicKey({ key: Buffer.from(concatBytes(X25519_SPKI, k.raw)), format: 'der', type: 'spki' })
  return k.object
}

function publicOf (sk: RawKey): RawKey {
  const der = u8(createPublicKey(keyObject(sk)).export({ format: 'der', type: 'spki' }))
  return publicKey(der.subarray(der.length - 32))
}

/** A fresh key pair: OpenSSL generates it and hands back the public key already encoded. */
function freshKeyPair (): { sk: RawKey, pk: RawKey } {
  // With only the public encoding given, OpenSSL returns the private key as a KeyObject (the typings miss this case).
  const { privateKey: object, publicKey: spki } = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'der' } } as never) as unknown as { privateKey: KeyObject, publicKey: Buffer }
  const der = u8(object.export({ format: 'der', type: 'pkcs8' }))
  return { sk: { type: 'private', raw: der.subarray(der.length - 32), object }, pk: publicKey(u8(spki).subarray(spki.length - 32)) }
}

function dh (sk: RawKey, pk: RawKey): Uint8Array {
  const z = u8(diffieHellman({ privateKey: keyObject(sk), publicKey: keyObject(pk) }))
  // RFC 9180 §7.1.4: an all-zero X25519 output means a small-order point; refuse it.
  if (z.every(b => b === 0)) throw new Error('X25519 produced the all-zero value')
  return z
}

type AeadName = 'aes-128-gcm'

function aeadSeal (alg: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = createCipheriv(alg, key, nonce)
  c.setAAD(aad)
  return u8(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]))
}

function aeadOpen (alg: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  if (ct.length < 16) throw new Error('ciphertext too short')
  const d = createDecipheriv(alg, key, nonce)
  d.setAAD(aad)
  d.setAuthTag(ct.subarray(ct.length - 16))
  return u8(Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]))
}

/** RFC 9180 base mode for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / the given AEAD. */
function makeHpke (alg: AeadName): Hpke {
  const aeadId = 0x0001
  const nk = 16
  const nn = 12
  const kemSuite = concatBytes(utf8('KEM'), i2osp(KEM_X25519, 2))
  const hpkeSuite = concatBytes(utf8('HPKE'), i2osp(KEM_X25519, 2), i2osp(KDF_HKDF_SHA256, 2), i2osp(aeadId, 2))
  const v1 = utf8('HPKE-v1')
  const labels = new Map<string, Uint8Array>()
  const label = (l: string): Uint8Array => {
    let b = labels.get(l)
    if (b === undefined) labels.set(l, b = utf8(l))
    return b
  }
  const labeledExtract = (suite: Uint8Array, salt: Uint8Array, l: string, ikm: Uint8Array): Uint8Array =>
    hkdfExtract(salt, concatBytes(v1, suite, label(l), ikm))
  const labeledExpand = (suite: Uint8Array, prk: Uint8Array, l: string, info: Uint8Array, len: number): Uint8Array =>
    hkdfExpand(prk, concatBytes(i2osp(len, 2), v1, suite, label(l), info), len)
  const empty = new Uint8Array(0)

  // §4.1 DHKEM: ExtractAndExpand.
  const sharedSecret = (z: Uint8Array, kemContext: Uint8Array): Uint8Array =>
    labeledExpand(kemSuite, labeledExtract(kemSuite, empty, 'eae_prk', z), 'shared_secret', kemContext, HASH_LEN)

  const encap = (pkR: RawKey): { shared: Uint8Array, enc: Uint8Array } => {
    const { sk: skE, pk } = freshKeyPair()
    const enc = pk.raw
    return { shared: sharedSecret(dh(skE, pkR), concatBytes(enc, pkR.raw)), enc }
  }
  const decap = (enc: Uint8Array, skR: RawKey): Uint8Array => {
    const pkE = publicKey(enc)
    return sharedSecret(dh(skR, pkE), concatBytes(enc, publicOf(skR).raw))
  }
  // §5.1 KeySchedule, mode_base (psk and psk_id empty).
  const schedule = (shared: Uint8Array, info: Uint8Array): { key: Uint8Array, nonce: Uint8Array, exporter: Uint8Array } => {
    const ksc = concatBytes(Uint8Array.of(0), labeledExtract(hpkeSuite, empty, 'psk_id_hash', empty), labeledExtract(hpkeSuite, empty, 'info_hash', info))
    const secret = labeledExtract(hpkeSuite, shared, 'secret', empty)
    return {
      key: labeledExpand(hpkeSuite, secret, 'key', ksc, nk),
      nonce: labeledExpand(hpkeSuite, secret, 'base_nonce', ksc, nn),
      exporter: labeledExpand(hpkeSuite, secret, 'exp', ksc, HASH_LEN)
    }
  }
  const asRaw = (k: PublicKey | PrivateKey): RawKey => k as unknown as RawKey
  const asKey = <T>(k: RawKey): T => k as unknown as T

  return {
    async seal (pk: PublicKey, plaintext: Uint8Array, info: Uint8Array, aad?: Uint8Array) {
      const { shared, enc } = encap(asRaw(pk))
      const s = schedule(shared, info)
      return { ct: aeadSeal(alg, s.key, s.nonce, aad ?? empty, plaintext), enc }
    },
    async open (sk: PrivateKey, kemOutput: Uint8Array, ciphertext: Uint8Array, info: Uint8Array, aad?: Uint8Array) {
      const s = schedule(decap(kemOutput, asRaw(sk)), info)
      return aeadOpen(alg, s.key, s.nonce, aad ?? empty, ciphertext)
    },
    async exportSecret (pk: PublicKey, exporterContext: Uint8Array, length: number, info: Uint8Array) {
      const { shared, enc } = encap(asRaw(pk))
      return { enc, secret: labeledExpand(hpkeSuite, schedule(shared, info).exporter, 'sec', exporterContext, length) }
    },
    async importSecret (sk: PrivateKey, exporterContext: Uint8Array, kemOutput: Uint8Array, length: number, info: Uint8Array) {
      return labeledExpand(hpkeSuite, schedule(decap(kemOutput, asRaw(sk)), info).exporter, 'sec', exporterContext, length)
    },
    async importPrivateKey (k: Uint8Array) {
      return asKey<PrivateKey>(privateKey(k))
    },
    async importPublicKey (k: Uint8Array) {
      return asKey<PublicKey>(publicKey(k))
    },
    async exportPublicKey (k: PublicKey) {
      return Uint8Array.from(asRaw(k).raw)
    },
    async exportPrivateKey (k: PrivateKey) {
      return Uint8Array.from(asRaw(k).raw)
    },
    async encryptAead (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, plaintext: Uint8Array) {
      return aeadSeal(alg, key, nonce, aad ?? empty, plaintext)
    },
    async decryptAead (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, ciphertext: Uint8Array) {
      return aeadOpen(alg, key, nonce, aad ?? empty, ciphertext)
    },
    // §7.1.3 DeriveKeyPair for X25519.
    async deriveKeyPair (ikm: Uint8Array) {
      const prk = labeledExtract(kemSuite, empty, 'dkp_prk', ikm)
      const sk = privateKey(labeledExpand(kemSuite, prk, 'sk', empty, 32))
      return { privateKey: asKey<PrivateKey>(sk), publicKey: asKey<PublicKey>(publicOf(sk)) }
    },
    async generateKeyPair () {
      const { sk, pk } = freshKeyPair()
      return { privateKey: asKey<PrivateKey>(sk), publicKey: asKey<PublicKey>(pk) }
    },
    keyLength: nk,
    nonceLength: nn
  }
}

const hash: Hash = {
  async digest (data: Uint8Array) {
    return u8(createHash('sha256').update(data).digest())
  },
  async mac (key: Uint8Array, data: Uint8Array) {
    return hmac(key, data)
  },
  async verifyMac (key: Uint8Array, mac: Uint8Array, data: Uint8Array) {
    const expected = hmac(key, data)
    return expected.length === mac.length && timingSafeEqual(expected, mac)
  }
}

const kdf: Kdf = {
  async extract (salt: Uint8Array, ikm: Uint8Array) {
    return hkdfExtract(salt, ikm)
  },
  async expand (prk: Uint8Array, info: Uint8Array, len: number) {
    return hkdfExpand(prk, info, len)
  },
  size: HASH_LEN
}

const signature: Signature = {
  async sign (signKey: Uint8Array, message: Uint8Array) {
    // ts-mls keys are 32-byte seeds; its WebCrypto keygen gives PKCS#8 (48 bytes, the seed at the end).
    return signBytes(signKey.length === 48 ? signKey.subarray(16) : signKey, message)
  },
  async verify (publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array) {
    return verifyBytes(publicKey, message, sig)
  },
  async keygen () {
    const { publicKey, secretKey } = generateKeyPair()
    return { publicKey, signKey: secretKey }
  }
}

const SUPPORTED: Record<string, AeadName> = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 'aes-128-gcm'
}

export const nativeCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl (cs: Ciphersuite): Promise<CiphersuiteImpl> {
    const aead = SUPPORTED[cs.name]
    if (aead === undefined) return await defaultCryptoProvider.getCiphersuiteImpl(cs)
    return { hash, kdf, signature, hpke: makeHpke(aead), rng: { randomBytes: (n: number) => u8(randomBytes(n)) }, name: cs.name }
  }
}
