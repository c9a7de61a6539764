import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openDatabase, quietly } from '../../src/common/index.ts'

describe('openDatabase', () => {
  it('makes the folder, opens in WAL mode with the durability asked, and keeps what was written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'logos-sqlite-'))
    try {
      const path = join(dir, 'nested', 'db.sqlite')
      const db = openDatabase(path, { synchronous: 'FULL' })
      expect((await stat(join(dir, 'nested'))).isDirectory()).toBe(true)
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
      expect(db.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 })
      db.exec('CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7)')
      db.close()
      const again = openDatabase(path, { synchronous: 'NORMAL' })
      expect(again.prepare('SELECT v FROM t').get()).toEqual({ v: 7 })
      expect(again.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 1 })
      again.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('quietly', () => {
  it('drops the warnings about its subject during the work, and only those', () => {
    const seen: string[] = []
    const original = process.emitWarning
    process.emitWarning = ((w: string | Error) => { seen.push(String(w)) }) as typeof process.emitWarning
    try {
      const out = quietly('noisy API', () => {
        process.emitWarning('the noisy API is experimental')
        process.emitWarning('something else')
        return 42
      })
      expect(out).toBe(42)
      process.emitWarning('the noisy API, after the work')
    } finally {
      process.emitWarning = original
    }
    expect(seen).toEqual(['something else', 'the noisy API, after the work'])
  })
})
