import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign as edSign, verify as edVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { MEMBER_ID_LENGTH, PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH } from './constants.ts'

/**
 * A node's long-lived identity: one Ed25519 key pair. It signs MLS leaves (it is the MLS signature key) and votes;
 * the member id (DE-MLS "Roles", 20 bytes) is the first 20 bytes of SHA-256 of its public key, so a member id can be
 * checked against any signature the member makes. Signing goes through Node's crypto (OpenSSL): tens of microseconds
 * a signature, which matters when a commit carries a hundred signed votes.
 */
export interface Identity {
  /** Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array
  /** Ed25519 seed, 32 bytes: keep it secret. */
  readonly secretKey: Uint8Array
  readonly memberId: Uint8Array
}

const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

export function memberIdOf (publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKey).digest().subarray(0, MEMBER_ID_LENGTH))
}

export function generateIdentity (): Identity {
  return identityFromSecret(new Uint8Array(randomBytes(32)))
}

export function identityFromSecret (secretKey: Uint8Array): Identity {
  if (secretKey.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
  const key = privateKeyObject(secretKey)
  const jwk = createPublicKey(key).export({ format: 'jwk' })
  const publicKey = new Uint8Array(Buffer.from(jwk.x as string, 'base64url'))
  return { publicKey, secretKey: Uint8Array.from(secretKey), memberId: memberIdOf(publicKey) }
}

/** A fresh random key pair without the member id (tests, benchmarks). */
export function generateKeyPair (): { publicKey: Uint8Array, secretKey: Uint8Array } {
  const { privateKey } = generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  return {
    publicKey: new Uint8Array(Buffer.from(jwk.x as string, 'base64url')),
    secretKey: new Uint8Array(Buffer.from(jwk.d as string, 'base64url'))
  }
}

// KeyObjects are costly to build (DER parse); a bounded cache keeps the ones of current members.
const PUBLIC_KEY_CACHE_MAX = 4096
const publicKeyCache = new Map<string, KeyObject>()
const privateKeyCache = new WeakMap<Uint8Array, KeyObject>()

function privateKeyObject (secretKey: Uint8Array): KeyObject {
  let key = privateKeyCache.get(secretKey)
  if (key === undefined) {
    const der = new Uint8Array(PKCS8_PREFIX.length + 32)
    der.set(PKCS8_PREFIX)
    der.set(secretKey, PKCS8_PREFIX.length)
    key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
    privateKeyCache.set(secretKey, key)
  }
  return key
}

function publicKeyObject (publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('base64')
  let key = publicKeyCache.get(id)
  if (key === undefined) {
    const der = new Uint8Array(SPKI_PREFIX.length + PUBLIC_KEY_LENGTH)
    der.set(SPKI_PREFIX)
    der.set(publicKey, SPKI_PREFIX.length)
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX) publicKeyCache.delete(publicKeyCache.keys().next().value as string)
    publicKeyCache.set(id, key)
  }
  return key
}

export function signBytes (secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(edSign(null, message, privateKeyObject(secretKey)))
}

/** False for a bad signature or a malformed key; never throws on hostile input. */
export function verifyBytes (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  try {
    return edVerify(null, message, publicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}
