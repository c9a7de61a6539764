import { BUCKET_SIZE } from './constants.ts'
import { bucketIndex } from './keyspace.ts'
import type { Key } from './keyspace.ts'

/** A peer as the protocol classes see it, whatever the transport: its id, its keyspace position, its addresses. */
export interface PeerRef {
  /** The peer id as a string (map keys, logs). */
  id: string
  /** The peer id's bytes (a multihash), as carried in `Peer.id` on the wire. */
  idBytes: Uint8Array
  /** SHA-256 of idBytes: its position in the keyspace. */
  key: Key
  /** Binary multiaddrs, as carried in `Peer.addrs`; may be empty when the transport knows the way already. */
  addrs: Uint8Array[]
}

export type Random = () => number

/**
 * A table of peers in `buckets` buckets centred on one key (KadDHT(peerID), AdvT, DiscT and RegT of
 * LOGOS-SERVICE-DISCOVERY). A peer lives in at most one bucket; a known peer is updated in place ("Bucket Size").
 * A full bucket keeps the peers it has and refuses the newcomer ("Reject New Peer" of "Bucket Overflow Handling"):
 * peers that fail a request are removed, which makes room, so stable peers are preferred over whatever a response
 * happens to list.
 */
export class RoutingTable {
  readonly center: Key
  readonly bucketCount: number
  readonly bucketSize: number
  private readonly buckets: PeerRef[][]
  private readonly index = new Map<string, number>()

  constructor (center: Key, bucketCount: number, bucketSize: number = BUCKET_SIZE) {
    this.center = center
    this.bucketCount = bucketCount
    this.bucketSize = bucketSize
    this.buckets = Array.from({ length: bucketCount }, () => [])
  }

  get size (): number {
    return this.index.size
  }

  bucketOf (peer: PeerRef): number {
    return bucketIndex(this.center, peer.key, this.bucketCount)
  }

  /** Adds or updates a peer; false when its bucket is full (or it sits at the centre). */
  add (peer: PeerRef): boolean {
    const known = this.index.get(peer.id)
    if (known !== undefined) {
      const bucket = this.buckets[known] as PeerRef[]
      const at = bucket.findIndex(p => p.id === peer.id)
      if (at >= 0 && peer.addrs.length > 0) bucket[at] = peer
      return true
    }
    const i = this.bucketOf(peer)
    const bucket = this.buckets[i] as PeerRef[]
    if (bucket.length >= this.bucketSize) return false
    bucket.push(peer)
    this.index.set(peer.id, i)
    return true
  }

  remove (id: string): boolean {
    const i = this.index.get(id)
    if (i === undefined) return false
    const bucket = this.buckets[i] as PeerRef[]
    const at = bucket.findIndex(p => p.id === id)
    if (at >= 0) bucket.splice(at, 1)
    this.index.delete(id)
    return true
  }

  has (id: string): boolean {
    return this.index.has(id)
  }

  get (id: string): PeerRef | undefined {
    const i = this.index.get(id)
    return i === undefined ? undefined : this.buckets[i]?.find(p => p.id === id)
  }

  bucket (i: number): readonly PeerRef[] {
    return this.buckets[i] ?? []
  }

  peers (): PeerRef[] {
    return this.buckets.flat()
  }

  /** A random peer of bucket i that `exclude` does not hold (getRandomNode of the spec, which never repeats). */
  randomIn (i: number, exclude: ReadonlySet<string>, random: Random = Math.random): PeerRef | undefined {
    const bucket = this.buckets[i] ?? []
    let candidates = 0
    for (const p of bucket) if (!exclude.has(p.id)) candidates++
    if (candidates === 0) return undefined
    let pick = Math.floor(random() * candidates)
    for (const p of bucket) {
      if (exclude.has(p.id)) continue
      if (pick === 0) return p
      pick--
    }
    return undefined
  }

  /**
   * GETPEERS of LOGOS-SERVICE-DISCOVERY ("Recommended Peer Selection Algorithm"): one random peer from every bucket,
   * so the answer spans the keyspace and a registrar cannot steer a walk into one corner.
   */
  onePerBucket (exclude: ReadonlySet<string>, random: Random = Math.random): PeerRef[] {
    const out: PeerRef[] = []
    for (let i = 0; i < this.bucketCount; i++) {
      const p = this.randomIn(i, exclude, random)
      if (p !== undefined) out.push(p)
    }
    return out
  }
}

/** A bounded map that forgets its least recently used entry. */
export class LruMap<K, V> {
  readonly capacity: number
  private readonly map = new Map<K, V>()

  constructor (capacity: number) {
    this.capacity = capacity
  }

  get size (): number {
    return this.map.size
  }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set (key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next()
      if (oldest.done === true) break
      this.map.delete(oldest.value)
    }
  }

  delete (key: K): boolean {
    return this.map.delete(key)
  }

  values (): IterableIterator<V> {
    return this.map.values()
  }

  clear (): void {
    this.map.clear()
  }
}
