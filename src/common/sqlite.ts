import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type * as NodeSqlite from 'node:sqlite'
import type { DatabaseSync } from 'node:sqlite'
import { quietly } from './quietly.ts'

let sqlite: typeof NodeSqlite | undefined

/**
 * node:sqlite, loaded when the first database opens (not when a file that may open one is imported), without Node's
 * notice that the module is experimental.
 */
export function loadSqlite (): typeof NodeSqlite {
  sqlite ??= quietly('SQLite', () => process.getBuiltinModule('node:sqlite') as typeof NodeSqlite)
  return sqlite
}

/**
 * Opens the SQLite database at `path` (':memory:' for one that lives in memory), making its folder first, in WAL mode
 * with the given durability: FULL syncs every commit (state a restart must find), NORMAL only at checkpoints (data a
 * crash may lose the last moments of, such as a message archive).
 */
export function openDatabase (path: string, options: { synchronous: 'FULL' | 'NORMAL' }): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new (loadSqlite().DatabaseSync)(path)
  try {
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.synchronous};`)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}
