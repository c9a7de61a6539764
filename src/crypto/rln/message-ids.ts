import type { DatabaseSync } from 'node:sqlite'
import { openDatabase } from '../../common/index.ts'
import { RlnRateLimitedError } from './errors.ts'

/**
 * Hands out this member's message_ids, at most `limit` per epoch, each once, and remembers them on disk before a
 * proof is made: reusing a message_id in an epoch (after a restart, say) would be double signalling and would get
 * the member slashed.
 */
export class MessageIdAllocator {
  private readonly db: DatabaseSync
  private closed = false

  constructor (path = ':memory:') {
    this.db = openDatabase(path, { synchronous: 'FULL' })
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS used (epoch INTEGER NOT NULL, message_id INTEGER NOT NULL, PRIMARY KEY (epoch, message_id));
    `)
  }

  /** Takes the lowest unused message_id of `epoch`, or the given one if unused; throws when none is left. */
  take (epoch: bigint, limit: number, wanted?: number): number {
    const key = Number(epoch)
    if (wanted !== undefined) {
      const r = this.db.prepare('INSERT OR IGNORE INTO used (epoch, message_id) VALUES (?, ?)').run(key, wanted)
      if (r.changes === 0) throw new RlnRateLimitedError(`message_id ${wanted} was already used in epoch ${epoch}`, { data: { epoch: key, messageId: wanted } })
      return wanted
    }
    const rows = this.db.prepare('SELECT message_id FROM used WHERE epoch = ? ORDER BY message_id').all(key) as Array<{ message_id: number }>
    let id = 0
    for (const row of rows) {
      if (row.message_id !== id) break
      id++
    }
    if (id >= limit) throw new RlnRateLimitedError(`all ${limit} messages of epoch ${epoch} are used`, { data: { epoch: key, limit } })
    this.db.prepare('INSERT INTO used (epoch, message_id) VALUES (?, ?)').run(key, id)
    return id
  }

  used (epoch: bigint): number {
    const r = this.db.prepare('SELECT COUNT(*) AS n FROM used WHERE epoch = ?').get(Number(epoch)) as { n: number }
    return r.n
  }

  /** Forgets epochs before `epoch` (they can never be proven again: verifiers refuse them). */
  prune (epoch: bigint): void {
    this.db.prepare('DELETE FROM used WHERE epoch < ?').run(Number(epoch))
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}
