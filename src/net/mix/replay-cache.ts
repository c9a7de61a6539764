import type { ReplayGuard } from '../../crypto/sphinx/index.ts'
import { MixReplayTableFullError } from './errors.ts'

/**
 * The replay table of one mix key (mix.md 8.6.1 step 2): the tags H(s) of the packets processed under that key.
 * It never evicts (an evicted tag would let its packet be replayed) and never grows past `capacity`: a tag that does
 * not fit is refused with a typed error, and so is its packet. When the table reaches `rotateAt` tags it tells its
 * owner once, and the key manager rotates to a new key with an empty table while this one keeps the rest of its
 * room for the packets still in flight under it (see key-manager.ts). A table is dropped with its key, which is what
 * makes it safe to flush (mix.md: "the table MAY be flushed when the node rotates its private key").
 */
export class ReplayCache implements ReplayGuard {
  readonly capacity: number
  readonly rotateAt: number
  private readonly tags = new Set<string>()
  private readonly onRotate: () => void

  constructor (capacity: number, options: { rotateAt?: number, onRotate?: () => void } = {}) {
    this.capacity = capacity
    this.rotateAt = Math.min(capacity, options.rotateAt ?? capacity)
    this.onRotate = options.onRotate ?? (() => {})
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

  /** Records a tag; throws MixReplayTableFullError (and records nothing) when the table is at its capacity. */
  add (tag: Uint8Array): void {
    if (this.tags.size >= this.capacity) throw new MixReplayTableFullError(this.capacity)
    this.tags.add(key(tag))
    if (this.tags.size === this.rotateAt) this.onRotate()
  }

  clear (): void {
    this.tags.clear()
  }
}

/** A 32-byte tag as a one-byte-per-char string: a compact, fast Set key. */
function key (tag: Uint8Array): string {
  return Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength).toString('latin1')
}
