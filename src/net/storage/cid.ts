import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import { create as createDigest } from 'multiformats/hashes/digest'
import { StorageBadCidError } from './errors.ts'

/**
 * CIDs of Logos Storage (CODEX-MANIFEST "Manifest Attributes"; logos-storage-nim multicodec_exts.nim): CIDv1 with a
 * SHA-256 multihash and one of three codecs. Strings are base58btc ("z..."), as logos-storage-nim prints them.
 */

/** `codex-manifest`: the dataset id, the CID of the encoded manifest. */
export const MANIFEST_CODEC = 0xcd01
/** `codex-block`: a data block. */
export const BLOCK_CODEC = 0xcd02
/** `codex-root`: the root of a dataset's Merkle tree (the treeCid). */
export const TREE_CODEC = 0xcd03
/** `sha2-256`, the manifest's `hcodec`. */
export const SHA256_CODE = 0x12
/** CIDv1, the manifest's `version`. */
export const CID_VERSION = 1

export function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest().buffer)
}

/** The CID of a SHA-256 digest under a codec. */
export function cidOf (codec: number, digest: Uint8Array): CID {
  if (digest.length !== 32) throw new StorageBadCidError(`a SHA-256 digest has 32 bytes, not ${digest.length}`)
  return CID.create(1, codec, createDigest(SHA256_CODE, digest))
}

export function cidToString (cid: CID): string {
  return cid.toString(base58btc)
}

/** Parses a CID from its string or bytes and checks it is CIDv1, SHA-256 and (when given) of `codec`. */
export function parseCid (value: string | Uint8Array, codec?: number): CID {
  let cid: CID
  try {
    cid = typeof value === 'string' ? CID.parse(value, value.startsWith('z') ? base58btc : undefined) : CID.decode(value)
  } catch (err) {
    throw new StorageBadCidError(`not a CID: ${typeof value === 'string' ? value : `${value.length} bytes`}`, { cause: err })
  }
  if (cid.version !== 1) throw new StorageBadCidError(`${cidToString(cid)} is not a CIDv1`)
  if (cid.multihash.code !== SHA256_CODE || cid.multihash.digest.length !== 32) throw new StorageBadCidError(`${cidToString(cid)} is not a SHA-256 CID`)
  if (codec !== undefined && cid.code !== codec) {
    throw new StorageBadCidError(`${cidToString(cid)} has codec 0x${cid.code.toString(16)}, expected 0x${codec.toString(16)}`)
  }
  return cid
}

/** The digest a SHA-256 CID carries. */
export function digestOf (cid: CID): Uint8Array {
  return cid.multihash.digest
}

export { CID }
