import { createHash } from 'node:crypto'

/** A 256-bit position in the keyspace (LOGOS-SERVICE-DISCOVERY, "Distance"). */
export type Key = Uint8Array

/** service_id_hash = SHA-256(protocol id) (LOGOS-SERVICE-DISCOVERY, "Service ID"). */
export function serviceIdOf (protocol: string): Key {
  return new Uint8Array(createHash('sha256').update(protocol, 'utf8').digest())
}

/**
 * A peer's position: SHA-256 of its peer id bytes (the multihash), as libp2p Kad-DHT and nim-libp2p place peers, so
 * peer ids and service ids share one 256-bit keyspace.
 */
export function peerKeyOf (peerIdBytes: Uint8Array): Key {
  return new Uint8Array(createHash('sha256').update(peerIdBytes).digest())
}

/** Leading zero bits of a XOR b over 256 bits (256 when equal). */
export function commonPrefixLength (a: Key, b: Key): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = (a[i] as number) ^ (b[i] as number)
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return n * 8
}

/**
 * Bucket of `key` in a table centred on `center` with `buckets` buckets: i = min(CLZ(center XOR key), m - 1), and
 * m - 1 for the centre itself (LOGOS-SERVICE-DISCOVERY, "Distance"). Bucket 0 is the farthest half of the keyspace.
 */
export function bucketIndex (center: Key, key: Key, buckets: number): number {
  return Math.min(commonPrefixLength(center, key), buckets - 1)
}

/** Compares the XOR distances of a and b to `target`: negative when a is closer. */
export function compareDistance (target: Key, a: Key, b: Key): number {
  for (let i = 0; i < target.length; i++) {
    const da = (a[i] as number) ^ (target[i] as number)
    const db = (b[i] as number) ^ (target[i] as number)
    if (da !== db) return da - db
  }
  return 0
}

export function toHex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
