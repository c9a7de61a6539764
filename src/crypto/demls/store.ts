import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { openDatabase } from '../../common/index.ts'
import { DemlsStoreError } from './errors.ts'

/**
 * Where a client keeps what must survive a restart: its identity, each group's record (MLS state, accepted commits,
 * scores, pending requests) and the key packages of joins still waiting for a Welcome. Writes are synchronous and
 * each is one SQLite transaction, so a crash leaves the previous record or the new one.
 */
export interface DemlsStore {
  getMeta: (key: string) => Uint8Array | undefined
  setMeta: (key: string, value: Uint8Array) => void
  saveGroup: (groupIdHex: string, epoch: number, record: Uint8Array) => void
  loadGroups: () => Array<{ groupIdHex: string, record: Uint8Array }>
  deleteGroup: (groupIdHex: string) => void
  saveJoin: (groupIdHex: string, record: Uint8Array) => void
  loadJoins: () => Array<{ groupIdHex: string, record: Uint8Array }>
  deleteJoin: (groupIdHex: string) => void
  close: () => void
}

/** A store in memory: for members that need no restart (benchmarks) and as the reference behaviour. */
export class MemoryStore implements DemlsStore {
  private readonly meta = new Map<string, Uint8Array>()
  private readonly groups = new Map<string, Uint8Array>()
  private readonly joins = new Map<string, Uint8Array>()

  getMeta (key: string): Uint8Array | undefined { return this.meta.get(key) }
  setMeta (key: string, value: Uint8Array): void { this.meta.set(key, Uint8Array.from(value)) }
  saveGroup (groupIdHex: string, _epoch: number, record: Uint8Array): void { this.groups.set(groupIdHex, Uint8Array.from(record)) }
  loadGroups (): Array<{ groupIdHex: string, record: Uint8Array }> { return [...this.groups].map(([groupIdHex, record]) => ({ groupIdHex, record })) }
  deleteGroup (groupIdHex: string): void { this.groups.delete(groupIdHex) }
  saveJoin (groupIdHex: string, record: Uint8Array): void { this.joins.set(groupIdHex, Uint8Array.from(record)) }
  loadJoins (): Array<{ groupIdHex: string, record: Uint8Array }> { return [...this.joins].map(([groupIdHex, record]) => ({ groupIdHex, record })) }
  deleteJoin (groupIdHex: string): void { this.joins.delete(groupIdHex) }
  close (): void {}
}

/** The durable store: one SQLite file (Node 22's built-in node:sqlite, no native addon). */
export class SqliteStore implements DemlsStore {
  private readonly db: DatabaseSync
  private readonly stmts: Record<string, StatementSync>

  constructor (path: string) {
    try {
      this.db = openDatabase(path, { synchronous: 'FULL' })
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS groups (group_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, record BLOB NOT NULL, updated INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS joins (group_id TEXT PRIMARY KEY, record BLOB NOT NULL);
      `)
      this.stmts = {
        getMeta: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
        setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
        saveGroup: this.db.prepare('INSERT INTO groups (group_id, epoch, record, updated) VALUES (?, ?, ?, ?) ON CONFLICT(group_id) DO UPDATE SET epoch = excluded.epoch, record = excluded.record, updated = excluded.updated'),
        loadGroups: this.db.prepare('SELECT group_id, record FROM groups ORDER BY group_id'),
        deleteGroup: this.db.prepare('DELETE FROM groups WHERE group_id = ?'),
        saveJoin: this.db.prepare('INSERT INTO joins (group_id, record) VALUES (?, ?) ON CONFLICT(group_id) DO UPDATE SET record = excluded.record'),
        loadJoins: this.db.prepare('SELECT group_id, record FROM joins ORDER BY group_id'),
        deleteJoin: this.db.prepare('DELETE FROM joins WHERE group_id = ?')
      }
    } catch (err) {
      throw new DemlsStoreError(`cannot open the group store at ${path}`, { cause: err })
    }
  }

  private run<T> (what: string, fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      throw new DemlsStoreError(`group store: ${what} failed`, { cause: err })
    }
  }

  getMeta (key: string): Uint8Array | undefined {
    return this.run('read', () => {
      const row = this.stmts.getMeta?.get(key) as { value: Uint8Array } | undefined
      return row === undefined ? undefined : new Uint8Array(row.value)
    })
  }

  setMeta (key: string, value: Uint8Array): void {
    this.run('write', () => this.stmts.setMeta?.run(key, value))
  }

  saveGroup (groupIdHex: string, epoch: number, record: Uint8Array): void {
    this.run('write', () => this.stmts.saveGroup?.run(groupIdHex, epoch, record, Date.now()))
  }

  loadGroups (): Array<{ groupIdHex: string, record: Uint8Array }> {
    return this.run('read', () => (this.stmts.loadGroups?.all() as Array<{ group_id: string, record: Uint8Array }>)
      .map(r => ({ groupIdHex: r.group_id, record: new Uint8Array(r.record) })))
  }

  deleteGroup (groupIdHex: string): void {
    this.run('delete', () => this.stmts.deleteGroup?.run(groupIdHex))
  }

  saveJoin (groupIdHex: string, record: Uint8Array): void {
    this.run('write', () => this.stmts.saveJoin?.run(groupIdHex, record))
  }

  loadJoins (): Array<{ groupIdHex: string, record: Uint8Array }> {
    return this.run('read', () => (this.stmts.loadJoins?.all() as Array<{ group_id: string, record: Uint8Array }>)
      .map(r => ({ groupIdHex: r.group_id, record: new Uint8Array(r.record) })))
  }

  deleteJoin (groupIdHex: string): void {
    this.run('delete', () => this.stmts.deleteJoin?.run(groupIdHex))
  }

  close (): void {
    this.run('close', () => { this.db.close() })
  }
}
