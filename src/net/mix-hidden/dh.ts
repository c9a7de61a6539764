import { aesCtr, generateMixKeyPair, isCanonicalPoint, isSmallOrderPoint, mac, x25519Raw } from '../../crypto/sphinx/index.ts'
import { sha256 } from './blinding.ts'
import { label } from './bytes.ts'
import { HiddenKeyError } from './errors.ts'

/**
 * The symmetric and Diffie-Hellman primitives of hs 5.4, instantiated as the mix protocol's: X25519 (node:crypto),
 * SHA-256, HMAC-SHA256 truncated to 128 bits, AES-128-CTR. Keys come from "domain-separated SHA-256":
 * SHA-256(label || input), the label's ASCII bytes first, as the mix KDF does.
 */

export const X25519_KEY_LENGTH = 32
export const MAC_LENGTH = 16

export interface DhKeyPair {
  privateKey: Uint8Array
  publicKey: Uint8Array
}

/** DH.KeyGen (hs 5.4): a fresh X25519 pair (service_key, client_key). */
export function generateDhKey (): DhKeyPair {
  return generateMixKeyPair()
}

/** Refuses a public key that is not a canonical point of large order (hs 9.4 step 3, "client_key is well-formed"). */
export function checkDhPublicKey (publicKey: Uint8Array): void {
  if (publicKey.length !== X25519_KEY_LENGTH || !isCanonicalPoint(publicKey) || isSmallOrderPoint(publicKey)) {
    throw new HiddenKeyError('not a canonical X25519 key of large order')
  }
}

/** DH.SharedKey (hs 5.4). */
export function dh (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkDhPublicKey(publicKey)
  try {
    return x25519Raw(privateKey, publicKey)
  } catch (err) {
    throw new HiddenKeyError('X25519 failed', { cause: err })
  }
}

/** SHA-256(label || parts...). */
export function kdf (name: string, ...parts: Uint8Array[]): Uint8Array {
  return sha256(label(name), ...parts)
}

/** AES-128-CTR with a 16-byte key and IV (hs 5.4); encryption and decryption are the same. */
export function streamCipher (key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(aesCtr(key.subarray(0, 16), iv.subarray(0, 16), data))
}

/** HMAC-SHA256 truncated to 128 bits (hs 5.4). */
export function mac16 (key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(mac(key, data))
}
