import { sha256 } from './blinding.ts'
import { toHex } from './bytes.ts'
import { MAX_STORED_DESCRIPTORS } from './constants.ts'
import { verifyOuter } from './descriptor.ts'
import { HiddenCapacityError, HiddenDescriptorStaleError } from './errors.ts'

/**
 * The directory role (hs 8.6 "Discovery Node Processing"): descriptors published to this node under their
 * discovery keys, checked before they are stored, kept for their validity, replaced only by a higher revision.
 *
 * Decision (hs 4.3 (2) asks for an anonymous key-value store and leaves the choice open): the directory is the mix
 * network itself. Every mix node running this layer stores descriptors; the HSDIR_REPLICAS mix nodes whose
 * SHA-256(peer id) is closest in XOR to disc_key are responsible for it; publishes and lookups reach them as
 * one-packet Sphinx messages on the reserved codec, with a SURB for the answer. Why not the others:
 * - capability discovery records carry at most 33 bytes of data and name the advertiser's peer id: a descriptor
 *   (about 700 bytes) does not fit, and the record would expose the service;
 * - Kad-DHT PUT/GET travel over direct connections, so the DHT nodes would see the publisher's and the fetcher's
 *   addresses, and its record validation knows nothing of blinded keys or revision counters;
 * - every sender already knows the mix nodes (its paths need them), so the responsible nodes are computed locally
 *   in one step, and publish and lookup get the mixnet's anonymity for free.
 */

export interface StoreResult {
  status: 'stored'
  revision: bigint
  expiresAt: number
}

interface Stored {
  bytes: Uint8Array
  revision: bigint
  expiresAt: number
}

export interface DescriptorStoreInit {
  now: () => number
  /** The epochs a descriptor's discovery key may belong to, with their public entropy (previous, current, next). */
  epochs: () => Array<{ epoch: bigint, entropy: Uint8Array }>
  capacity?: number
}

export class DescriptorStore {
  private readonly entries = new Map<string, Stored>()
  private readonly init: DescriptorStoreInit
  private readonly capacity: number

  constructor (init: DescriptorStoreInit) {
    this.init = init
    this.capacity = init.capacity ?? MAX_STORED_DESCRIPTORS
  }

  get size (): number {
    return this.entries.size
  }

  /**
   * Checks and stores (hs 8.6): well-formed, validity 30-720 minutes, disc_key derived from the signing key for a
   * neighbouring epoch, signature valid, revision above the stored one. Throws the typed reason otherwise.
   */
  put (discKey: Uint8Array, bytes: Uint8Array): StoreResult {
    const { outer } = verifyOuter(bytes, { discKey, epochs: this.init.epochs() })
    const key = toHex(discKey)
    const now = this.init.now()
    const old = this.entries.get(key)
    if (old !== undefined && old.expiresAt > now && outer.revisionCounter <= old.revision) throw new HiddenDescriptorStaleError(outer.revisionCounter, old.revision)
    if (old === undefined && this.entries.size >= this.capacity) {
      this.sweep()
      if (this.entries.size >= this.capacity) throw new HiddenCapacityError('descriptor store', this.capacity)
    }
    const expiresAt = now + outer.validity * 1000
    this.entries.set(key, { bytes, revision: outer.revisionCounter, expiresAt })
    return { status: 'stored', revision: outer.revisionCounter, expiresAt }
  }

  /** The stored descriptor, unless it expired (hs 8.3: then no longer returned). */
  get (discKey: Uint8Array): Uint8Array | undefined {
    const key = toHex(discKey)
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= this.init.now()) {
      this.entries.delete(key)
      return undefined
    }
    return e.bytes
  }

  sweep (): void {
    const now = this.init.now()
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k)
  }
}

/** Where a node sits on the directory ring: SHA-256 of its peer id's multihash. */
export function ringPosition (peerIdBytes: Uint8Array): Uint8Array {
  return sha256(peerIdBytes)
}

/** Orders ring positions by XOR distance to `key` (closest first). */
export function compareDistance (a: Uint8Array, b: Uint8Array, key: Uint8Array): number {
  for (let i = 0; i < key.length; i++) {
    const da = (a[i] as number) ^ (key[i] as number)
    const db = (b[i] as number) ^ (key[i] as number)
    if (da !== db) return da - db
  }
  return 0
}
