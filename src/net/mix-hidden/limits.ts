import { toHex } from './bytes.ts'

/**
 * A replay cache of client tags H(client_key) (hs 9.5), bounded: past `capacity` the oldest tag goes. A replay of
 * an evicted tag is then caught only by the other end's cache; with introductions limited to INTRO_RATE_PER_SECOND,
 * 4096 tags cover the last several minutes at full rate, and a service's caches start empty with each new
 * introduction point, whose service_key differs.
 */
export class TagCache {
  private readonly tags = new Set<string>()
  private readonly capacity: number

  constructor (capacity: number) {
    this.capacity = capacity
  }

  get size (): number {
    return this.tags.size
  }

  has (tag: Uint8Array): boolean {
    return this.tags.has(toHex(tag))
  }

  add (tag: Uint8Array): void {
    const k = toHex(tag)
    if (this.tags.has(k)) return
    if (this.tags.size >= this.capacity) {
      const oldest = this.tags.values().next().value
      if (oldest !== undefined) this.tags.delete(oldest)
    }
    this.tags.add(k)
  }
}
