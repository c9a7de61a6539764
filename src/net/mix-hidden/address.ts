import { parsePublicKey, sha256 } from './blinding.ts'
import { concat, equalBytes, label } from './bytes.ts'
import { HiddenAddressError } from './errors.ts'

/**
 * The mix address (hs 8.1):
 *
 *   checksum = H("hidden-service-checksum" | hs_id)[:2]        H = SHA-256
 *   mix_add  = base32(hs_id | checksum)  [+ ".mix"]
 *
 * Decisions where hs is open: base32 is RFC 4648's alphabet in lower case without padding (34 bytes give 55
 * characters; the last carries 2 bits and 3 zero bits, which a decoder requires to be zero so that each address has
 * one spelling); the ".mix" suffix is always written and optional when read; reading is case-insensitive. Unlike
 * Tor's v3 onion address there is no version byte: hs has none.
 */

export const HS_ID_LENGTH = 32
export const CHECKSUM_LENGTH = 2
export const ADDRESS_SUFFIX = '.mix'
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
/** ceil((32 + 2) * 8 / 5) characters. */
export const ADDRESS_CHARS = Math.ceil((HS_ID_LENGTH + CHECKSUM_LENGTH) * 8 / 5)

export function base32Encode (bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const b of bytes) {
    buffer = (buffer << 8) | b
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(buffer >> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31]
  return out
}

/** Strict decoding: only the alphabet (any case), no padding, and zero trailing bits. */
export function base32Decode (text: string): Uint8Array {
  const lower = text.toLowerCase()
  const out: number[] = []
  let buffer = 0
  let bits = 0
  for (const ch of lower) {
    const v = ALPHABET.indexOf(ch)
    if (v < 0) throw new HiddenAddressError(`"${ch}" is not a base32 character`)
    buffer = (buffer << 5) | v
    bits += 5
    if (bits >= 8) {
      out.push((buffer >> (bits - 8)) & 0xff)
      bits -= 8
    }
    buffer &= (1 << bits) - 1
  }
  if (bits >= 5 || buffer !== 0) throw new HiddenAddressError('non-canonical base32 ending')
  return Uint8Array.from(out)
}

export function addressChecksum (hsId: Uint8Array): Uint8Array {
  return sha256(label('hidden-service-checksum'), hsId).slice(0, CHECKSUM_LENGTH)
}

/** The `.mix` address of a service identity key. */
export function encodeMixAddress (hsId: Uint8Array): string {
  if (hsId.length !== HS_ID_LENGTH) throw new HiddenAddressError(`hs_id is ${HS_ID_LENGTH} bytes`)
  return base32Encode(concat([hsId, addressChecksum(hsId)])) + ADDRESS_SUFFIX
}

/** hs_id from an address (hs 8.6 "Client Processing": validate the checksum, extract hs_id); also checks it is a key. */
export function decodeMixAddress (address: string): Uint8Array {
  if (typeof address !== 'string') throw new HiddenAddressError('not a string')
  const body = address.toLowerCase().endsWith(ADDRESS_SUFFIX) ? address.slice(0, -ADDRESS_SUFFIX.length) : address
  if (body.length !== ADDRESS_CHARS) throw new HiddenAddressError(`expected ${ADDRESS_CHARS} base32 characters, got ${body.length}`)
  const raw = base32Decode(body)
  const hsId = raw.slice(0, HS_ID_LENGTH)
  if (!equalBytes(raw.subarray(HS_ID_LENGTH), addressChecksum(hsId))) throw new HiddenAddressError('checksum mismatch')
  try {
    parsePublicKey(hsId)
  } catch (err) {
    throw new HiddenAddressError('hs_id is not an Ed25519 public key', { cause: err })
  }
  return hsId
}

/** The canonical spelling (lower case, with the suffix) of a valid address. */
export function normalizeMixAddress (address: string): string {
  return encodeMixAddress(decodeMixAddress(address))
}
