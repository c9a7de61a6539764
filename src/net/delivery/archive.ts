import type * as Sqlite from 'node:sqlite'
import { openDatabase } from '../../common/index.ts'
import {
  ARCHIVE_MAX_AGE_MS, ARCHIVE_MAX_MESSAGES, ARCHIVE_MAX_TIMESTAMP_GAP_MS, STORE_MAX_PAGE
} from './constants.ts'
import { DeliveryArchiveError, DeliveryStoreQueryError } from './errors.ts'
import { decodeWakuMessage, encodeWakuMessage, messageHash } from './message.ts'
import type { WakuMessage } from './message.ts'

export interface ArchiveOptions {
  maxMessages?: number
  maxAgeMs?: number
  /** Messages further than this from our clock are not stored (13/WAKU2-STORE "Store Eligibility"). */
  maxTimestampGapMs?: number
  now?: () => number
}

export interface ArchiveQuery {
  /** Content filter: pubsub topic and content topics go together (13/WAKU2-STORE "Content filtered queries"). */
  pubsubTopic?: string
  contentTopics?: string[]
  /** ns, inclusive */
  timeStart?: bigint
  /** ns, exclusive */
  timeEnd?: bigint
  /** Lookup by message hashes (exclusive of the content filter). */
  hashes?: Uint8Array[]
  /** The hash of the entry to continue after (exclusive). */
  cursor?: Uint8Array
  forward: boolean
  limit: number
}

export interface ArchivedMessage {
  hash: Uint8Array
  pubsubTopic: string
  message: WakuMessage
  /** The WakuMessage as received. */
  encoded: Uint8Array
  timestamp: bigint
}

export interface ArchivePage {
  /** In traversal order: oldest first when forward, newest first when backward. */
  messages: ArchivedMessage[]
  /** More matching entries exist beyond this page. */
  more: boolean
}

interface Row { hash: Uint8Array, pubsub_topic: string, message: Uint8Array, timestamp: bigint }

/** Prepared statements kept per archive (queries differ by their number of topics and hashes). */
const MAX_CACHED_STATEMENTS = 64

/**
 * The message archive of a store node: WakuMessages keyed by their deterministic hash, kept in one SQLite file
 * (Node 22's node:sqlite) and sorted by (timestamp, hash) as 13/WAKU2-STORE "Waku message sorting" requires.
 * Ephemeral messages and messages far from our clock are not kept; retention drops what is older than `maxAgeMs`
 * and the oldest beyond `maxMessages`.
 */
export class MessageArchive {
  private readonly db: Sqlite.DatabaseSync
  private readonly statements = new Map<string, Sqlite.StatementSync>()
  private readonly maxMessages: number
  private readonly maxAgeMs: number
  private readonly maxGapMs: number
  private readonly now: () => number
  private closed = false

  constructor (path = ':memory:', options: ArchiveOptions = {}) {
    this.maxMessages = options.maxMessages ?? ARCHIVE_MAX_MESSAGES
    this.maxAgeMs = options.maxAgeMs ?? ARCHIVE_MAX_AGE_MS
    this.maxGapMs = options.maxTimestampGapMs ?? ARCHIVE_MAX_TIMESTAMP_GAP_MS
    this.now = options.now ?? Date.now
    try {
      this.db = openDatabase(path, { synchronous: 'NORMAL' })
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS messages (
          hash BLOB PRIMARY KEY,
          pubsub_topic TEXT NOT NULL,
          content_topic TEXT NOT NULL,
          timestamp INTEGER NOT NULL,
          message BLOB NOT NULL,
          stored_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS messages_order ON messages (timestamp, hash);
        CREATE INDEX IF NOT EXISTS messages_topic ON messages (pubsub_topic, content_topic, timestamp, hash);
        CREATE INDEX IF NOT EXISTS messages_stored ON messages (stored_at);
      `)
    } catch (err) {
      throw new DeliveryArchiveError(`cannot open the message archive at ${path}`, { cause: err })
    }
  }

  private stmt (sql: string): Sqlite.StatementSync {
    let s = this.statements.get(sql)
    if (s === undefined) {
      s = this.db.prepare(sql)
      s.setReadBigInts(true)
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.delete(this.statements.keys().next().value as string)
      this.statements.set(sql, s)
    }
    return s
  }

  private run<T> (what: string, fn: () => T): T {
    if (this.closed) throw new DeliveryArchiveError('the message archive is closed')
    try {
      return fn()
    } catch (err) {
      if (err instanceof DeliveryStoreQueryError) throw err
      throw new DeliveryArchiveError(`message archive: ${what} failed`, { cause: err })
    }
  }

  /**
   * Stores a message received on `pubsubTopic`; returns its hash, or undefined when it is not eligible (ephemeral,
   * no timestamp, or too far from our clock) or already stored.
   */
  put (pubsubTopic: string, message: WakuMessage, encoded?: Uint8Array): Uint8Array | undefined {
    if (message.ephemeral === true || message.timestamp === undefined) return undefined
    const tsMs = Number(message.timestamp / 1_000_000n)
    if (Math.abs(this.now() - tsMs) > this.maxGapMs) return undefined
    const hash = messageHash(pubsubTopic, message)
    const bytes = encoded ?? encodeWakuMessage(message)
    const r = this.run('write', () => this.stmt('INSERT OR IGNORE INTO messages (hash, pubsub_topic, content_topic, timestamp, message, stored_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(hash, pubsubTopic, message.contentTopic, message.timestamp as bigint, bytes, this.now()))
    return Number(r.changes) === 0 ? undefined : hash
  }

  has (hash: Uint8Array): boolean {
    return this.run('read', () => this.stmt('SELECT 1 AS one FROM messages WHERE hash = ?').get(hash) !== undefined)
  }

  get count (): number {
    return this.run('read', () => Number((this.stmt('SELECT COUNT(*) AS n FROM messages').get() as { n: bigint }).n))
  }

  /**
   * One page of matching entries, in traversal order, and whether more exist. A cursor that names no stored entry
   * is a bad request (status 400).
   */
  query (q: ArchiveQuery): ArchivePage {
    const limit = Math.max(1, Math.min(q.limit, STORE_MAX_PAGE))
    return this.run('query', () => {
      const where: string[] = []
      const params: Array<string | bigint | Uint8Array> = []
      if (q.hashes !== undefined && q.hashes.length > 0) {
        where.push(`hash IN (${q.hashes.map(() => '?').join(', ')})`)
        params.push(...q.hashes)
      }
      if (q.pubsubTopic !== undefined) {
        where.push('pubsub_topic = ?')
        params.push(q.pubsubTopic)
      }
      if (q.contentTopics !== undefined && q.contentTopics.length > 0) {
        where.push(`content_topic IN (${q.contentTopics.map(() => '?').join(', ')})`)
        params.push(...q.contentTopics)
      }
      if (q.timeStart !== undefined) { where.push('timestamp >= ?'); params.push(q.timeStart) }
      if (q.timeEnd !== undefined) { where.push('timestamp < ?'); params.push(q.timeEnd) }
      if (q.cursor !== undefined) {
        const at = this.stmt('SELECT timestamp FROM messages WHERE hash = ?').get(q.cursor) as { timestamp: bigint } | undefined
        if (at === undefined) throw new DeliveryStoreQueryError('the pagination cursor names no stored message', { data: { status: 400 } })
        where.push(q.forward ? '(timestamp, hash) > (?, ?)' : '(timestamp, hash) < (?, ?)')
        params.push(at.timestamp, q.cursor)
      }
      const dir = q.forward ? 'ASC' : 'DESC'
      const sql = `SELECT hash, pubsub_topic, message, timestamp FROM messages${where.length > 0 ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY timestamp ${dir}, hash ${dir} LIMIT ?`
      const rows = this.stmt(sql).all(...params, BigInt(limit + 1)) as unknown as Row[]
      const more = rows.length > limit
      return {
        more,
        messages: rows.slice(0, limit).map(row => {
          const encoded = new Uint8Array(row.message)
          return { hash: new Uint8Array(row.hash), pubsubTopic: row.pubsub_topic, message: decodeWakuMessage(encoded), encoded, timestamp: row.timestamp }
        })
      }
    })
  }

  /** Retention: drops messages stored longer than maxAgeMs ago and the oldest beyond maxMessages. Returns how many went. */
  prune (): number {
    return this.run('prune', () => {
      let removed = Number(this.stmt('DELETE FROM messages WHERE stored_at < ?').run(this.now() - this.maxAgeMs).changes)
      const n = this.count
      if (n > this.maxMessages) {
        removed += Number(this.stmt('DELETE FROM messages WHERE hash IN (SELECT hash FROM messages ORDER BY timestamp ASC, hash ASC LIMIT ?)').run(BigInt(n - this.maxMessages)).changes)
      }
      return removed
    })
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.statements.clear()
    this.db.close()
  }
}
