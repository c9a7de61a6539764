import type { ReplayGuard } from '../../crypto/sphinx/index.ts'

/**
 * The replay table of one mix key (mix.md 8.6.1 step 2): the tags H(s) of the packets processed under that key.
 * It is bounded by `capacity`; it never evicts (an evicted tag would let its packet be replayed), it reports being
 * full, and the key manager answers by rotating to a new key with an empty table. A table is dropped with its key,
 * which is what makes it safe to flush (mix.md: "the table MAY be flushed when the node rotates its private key").
 */
export class ReplayCache implements ReplayGuard {
  readonly capacity: number
  private readonly tags = new Set<string>()
  private readonly onFull: () => void

  constructor (capacity: number, onFull: () => void = () => {}) {
    this.capacity = capacity
    this.onFull = onFull
  }

  get size (): number {
    return this.tags.size
  }

  get full (): boolean {
    return this.tags.size >= this.capacity
  }

  has (tag: Uint8Array): boolean {
    return this.tags.has(key(tag))
  }

  add (tag: Uint8Array): void {
    this.tags.add(key(tag))
    if (this.tags.size >= this.capacity) this.onFull()
  }

  clear (): void {
    this.tags.clear()
  }
}

/** A 32-byte tag as a one-byte-per-char string: a compact, fast Set key. */
function key (tag: Uint8Array): string {
  return Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength).toString('latin1')
}
