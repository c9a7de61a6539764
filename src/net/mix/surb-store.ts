import type { SurbSecrets } from '../../crypto/sphinx/index.ts'
import { MixQueueFullError } from './errors.ts'

interface Entry {
  secrets: SurbSecrets
  requestId: string
  expiresAt: number
}

/**
 * The SURB creator's side of mix.md 8.7.2 step 4: for each SURB it made, the reply key and the return path's
 * payload keys, indexed by the SURB identifier, until a reply uses it (taken, so a second reply with the same id
 * finds nothing) or it expires (mix.md: discard after a timeout, at most by the key rotation interval). Bounded.
 */
export class SurbStore {
  private readonly entries = new Map<string, Entry>()
  private readonly capacity: number

  constructor (capacity: number) {
    this.capacity = capacity
  }

  get size (): number {
    return this.entries.size
  }

  put (secrets: SurbSecrets, requestId: string, expiresAt: number): void {
    this.sweep()
    if (this.entries.size >= this.capacity) throw new MixQueueFullError('SURB store', this.capacity)
    this.entries.set(key(secrets.id), { secrets, requestId, expiresAt })
  }

  /** The secrets of a SURB, removed from the store; undefined when unknown, used or expired. */
  take (id: Uint8Array, now = Date.now()): { secrets: SurbSecrets, requestId: string } | undefined {
    const k = key(id)
    const e = this.entries.get(k)
    if (e === undefined) return undefined
    this.entries.delete(k)
    if (e.expiresAt <= now) return undefined
    return { secrets: e.secrets, requestId: e.requestId }
  }

  /** Forgets every SURB of a request (answered, failed or timed out). */
  dropRequest (requestId: string): void {
    for (const [k, e] of this.entries) if (e.requestId === requestId) this.entries.delete(k)
  }

  sweep (now = Date.now()): void {
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k)
  }

  clear (): void {
    this.entries.clear()
  }
}

function key (id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}
