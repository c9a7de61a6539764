import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { loadSqlite } from '../../common/index.ts'
import { DEFAULT_BLOCK_TTL_MS, DEFAULT_QUOTA_BYTES, MAINTENANCE_BATCH, STORE_FILE } from './constants.ts'
import { StorageQuotaExceededError } from './errors.ts'

/**
 * The persistent block store: one SQLite database (Node's built-in node:sqlite, WAL journal) in the store's folder.
 * Blocks are addressed (treeCid, index) and kept with their SHA-256 digest and their Merkle proof (their bytes in a table
 * of their own), so a node serves
 * any block it has, of a complete dataset or not, with the proof a downloader needs. Manifests are kept by CID.
 * A quota bounds the bytes of block data (manifests included); every block has an expiry (the TTL from its last
 * store or completed download), and a maintenance pass deletes expired blocks and manifests in bounded batches.
 */

export interface BlockStoreOptions {
  quotaBytes?: number
  blockTtlMs?: number
  /** Time source (tests). */
  now?: () => number
}

export interface StoredBlock {
  hash: Uint8Array
  data: Uint8Array
  proof: Uint8Array | undefined
}

export interface NewBlock {
  index: number
  hash: Uint8Array
  data: Uint8Array
  proof?: Uint8Array
}

export interface StoredManifest {
  cid: string
  bytes: Uint8Array
  tree: Uint8Array
  blocks: number
  createdAt: number
  expiresAt: number
}

export interface StoreSpace {
  quotaBytes: number
  usedBytes: number
  freeBytes: number
  blocks: number
  datasets: number
}

export class BlockStore {
  readonly dir: string
  readonly quotaBytes: number
  readonly blockTtlMs: number
  private readonly db: DatabaseSync
  private readonly now: () => number
  private used = 0
  private readonly q: Record<string, StatementSync>
  private closed = false

  private constructor (dir: string, options: BlockStoreOptions) {
    this.dir = dir
    this.quotaBytes = options.quotaBytes ?? DEFAULT_QUOTA_BYTES
    this.blockTtlMs = options.blockTtlMs ?? DEFAULT_BLOCK_TTL_MS
    this.now = options.now ?? Date.now
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    this.db = new (loadSqlite().DatabaseSync)(join(dir, STORE_FILE))
    // 64 KiB pages (set before the first table, it fixes the file's page size): a block is one or two pages
    // instead of a chain of 16 overflow pages; writes go about four times faster. The WAL is checkpointed every
    // 64 pages (4 MiB) rather than SQLite's 1000 (64 MiB here), so no single checkpoint holds the event loop long.
    this.db.exec(`
      PRAGMA page_size = 65536;
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA wal_autocheckpoint = 64;
      CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS blocks (
        tree BLOB NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, chunk INTEGER NOT NULL, size INTEGER NOT NULL,
        proof BLOB, expires INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS blocks_addr ON blocks (tree, idx);
      CREATE INDEX IF NOT EXISTS blocks_expires ON blocks (expires);
      CREATE INDEX IF NOT EXISTS blocks_chunk ON blocks (chunk);
      CREATE TABLE IF NOT EXISTS manifests (
        cid TEXT PRIMARY KEY, tree BLOB NOT NULL, bytes BLOB NOT NULL, blocks INTEGER NOT NULL,
        created INTEGER NOT NULL, expires INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS manifests_tree ON manifests (tree);
    `)
    // Block bytes are written apart from their (small) address rows, so finalizing an upload never rewrites them.
    // Bytes of uploads that never finalized (the process ended mid-upload) belong to no block: garbage.
    this.db.exec('DELETE FROM chunks WHERE id NOT IN (SELECT chunk FROM blocks)')
    const p = (sql: string): StatementSync => this.db.prepare(sql)
    this.q = {
      has: p('SELECT 1 AS x FROM blocks WHERE tree = ? AND idx = ?'),
      get: p('SELECT b.hash AS hash, c.data AS data, b.proof AS proof FROM blocks b JOIN chunks c ON c.id = b.chunk WHERE b.tree = ? AND b.idx = ?'),
      insertChunk: p('INSERT INTO chunks (data) VALUES (?)'),
      deleteChunk: p('DELETE FROM chunks WHERE id = ?'),
      insert: p('INSERT OR IGNORE INTO blocks (tree, idx, hash, chunk, size, proof, expires) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      present: p('SELECT idx FROM blocks WHERE tree = ? AND idx >= ? AND idx < ? ORDER BY idx'),
      count: p('SELECT count(*) AS n FROM blocks WHERE tree = ?'),
      treeBytes: p('SELECT total(size) AS n FROM blocks WHERE tree = ?'),
      deleteTreeChunks: p('DELETE FROM chunks WHERE id IN (SELECT chunk FROM blocks WHERE tree = ?)'),
      deleteTree: p('DELETE FROM blocks WHERE tree = ?'),
      touch: p('UPDATE blocks SET expires = ? WHERE tree = ?'),
      putManifest: p('INSERT INTO manifests (cid, tree, bytes, blocks, created, expires) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cid) DO UPDATE SET expires = excluded.expires'),
      getManifest: p('SELECT cid, tree, bytes, blocks, created, expires FROM manifests WHERE cid = ?'),
      listManifests: p('SELECT cid, tree, bytes, blocks, created, expires FROM manifests ORDER BY created'),
      manifestsOfTree: p('SELECT count(*) AS n FROM manifests WHERE tree = ?'),
      deleteManifest: p('DELETE FROM manifests WHERE cid = ?'),
      touchManifest: p('UPDATE manifests SET expires = ? WHERE cid = ?'),
      expiredBlocks: p('SELECT rowid AS id, chunk FROM blocks WHERE expires < ? LIMIT ?'),
      deleteRow: p('DELETE FROM blocks WHERE rowid = ?'),
      expiredManifests: p('SELECT cid, bytes FROM manifests WHERE expires < ? LIMIT ?'),
      used: p('SELECT total(size) AS n FROM blocks'),
      usedManifests: p('SELECT total(length(bytes)) AS n FROM manifests'),
      blockCount: p('SELECT count(*) AS n FROM blocks'),
      manifestCount: p('SELECT count(*) AS n FROM manifests')
    }
    this.used = this.recount()
  }

  /** Opens (creating when needed) the store in `dir`. */
  static open (dir: string, options: BlockStoreOptions = {}): BlockStore {
    return new BlockStore(resolve(dir), options)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }

  get isOpen (): boolean {
    return !this.closed
  }

  private recount (): number {
    return Number((this.q.used as StatementSync).get()?.n ?? 0) + Number((this.q.usedManifests as StatementSync).get()?.n ?? 0)
  }

  get usedBytes (): number {
    return this.used
  }

  get freeBytes (): number {
    return Math.max(0, this.quotaBytes - this.used)
  }

  /** Throws the typed quota error when `bytes` more would not fit. */
  checkSpace (bytes: number): void {
    if (this.used + bytes > this.quotaBytes) throw new StorageQuotaExceededError(bytes, this.freeBytes, this.quotaBytes)
  }

  hasBlock (tree: Uint8Array, index: number): boolean {
    return (this.q.has as StatementSync).get(tree, index) !== undefined
  }

  getBlock (tree: Uint8Array, index: number): StoredBlock | undefined {
    const row = (this.q.get as StatementSync).get(tree, index) as { hash: Uint8Array, data: Uint8Array, proof: Uint8Array | null } | undefined
    if (row === undefined) return undefined
    return { hash: row.hash, data: row.data, proof: row.proof ?? undefined }
  }

  private transaction<T> (fn: () => T): T {
    this.db.exec('BEGIN')
    try {
      const r = fn()
      this.db.exec('COMMIT')
      return r
    } catch (err) {
      this.db.exec('ROLLBACK')
      this.used = this.recount()
      throw err
    }
  }

  /** Stores blocks of one tree in one transaction; blocks already there are left as they are. Refuses over quota. */
  putBlocks (tree: Uint8Array, blocks: NewBlock[]): number {
    this.checkSpace(blocks.reduce((s, b) => s + b.data.length, 0))
    const expires = this.now() + this.blockTtlMs
    return this.transaction(() => {
      let added = 0
      for (const b of blocks) {
        if (this.hasBlock(tree, b.index)) continue
        const chunk = (this.q.insertChunk as StatementSync).run(b.data).lastInsertRowid
        ;(this.q.insert as StatementSync).run(tree, b.index, b.hash, chunk, b.data.length, b.proof ?? null, expires)
        this.used += b.data.length
        added++
      }
      return added
    })
  }

  /** Stores block bytes that belong to no block yet (an upload in progress); returns their ids. Refuses over quota. */
  putChunks (datas: Uint8Array[]): number[] {
    this.checkSpace(datas.reduce((s, d) => s + d.length, 0))
    return this.transaction(() => datas.map((d) => {
      const id = Number((this.q.insertChunk as StatementSync).run(d).lastInsertRowid)
      this.used += d.length
      return id
    }))
  }

  /** Deletes chunks that belong to no block (an upload given up). */
  deleteChunks (ids: number[], bytes: number): void {
    this.transaction(() => { for (const id of ids) (this.q.deleteChunk as StatementSync).run(id) })
    this.used -= bytes
  }

  /**
   * Makes an upload's chunks the blocks of `tree`, with their proofs, in one transaction. Blocks of that tree that
   * are already here (the same bytes stored before) stay, and the duplicate chunks go.
   */
  commitTree (tree: Uint8Array, blocks: Array<{ index: number, hash: Uint8Array, chunk: number, size: number, proof: Uint8Array }>): void {
    const expires = this.now() + this.blockTtlMs
    this.transaction(() => {
      for (const b of blocks) {
        const r = (this.q.insert as StatementSync).run(tree, b.index, b.hash, b.chunk, b.size, b.proof, expires)
        if (Number(r.changes) === 0) {
          (this.q.deleteChunk as StatementSync).run(b.chunk)
          this.used -= b.size
        }
      }
      ;(this.q.touch as StatementSync).run(expires, tree)
    })
  }

  /** Indices of `tree` present in [start, start + count), ascending. */
  presentIndices (tree: Uint8Array, start: number, count: number): number[] {
    return ((this.q.present as StatementSync).all(tree, start, start + count) as Array<{ idx: number }>).map(r => Number(r.idx))
  }

  countBlocks (tree: Uint8Array): number {
    return Number((this.q.count as StatementSync).get(tree)?.n ?? 0)
  }

  /** Deletes every block of a tree (or of an unfinished upload); returns the bytes freed. */
  deleteTree (tree: Uint8Array): number {
    const bytes = Number((this.q.treeBytes as StatementSync).get(tree)?.n ?? 0)
    this.transaction(() => {
      (this.q.deleteTreeChunks as StatementSync).run(tree)
      ;(this.q.deleteTree as StatementSync).run(tree)
    })
    this.used -= bytes
    return bytes
  }

  /** Extends the expiry of a dataset's blocks and manifest to now + TTL. */
  touch (cid: string, tree: Uint8Array): void {
    const expires = this.now() + this.blockTtlMs
    ;(this.q.touch as StatementSync).run(expires, tree)
    ;(this.q.touchManifest as StatementSync).run(expires, cid)
  }

  putManifest (cid: string, tree: Uint8Array, bytes: Uint8Array, blocks: number): void {
    const existing = this.getManifest(cid)
    if (existing === undefined) this.checkSpace(bytes.length)
    const now = this.now()
    ;(this.q.putManifest as StatementSync).run(cid, tree, bytes, blocks, now, now + this.blockTtlMs)
    if (existing === undefined) this.used += bytes.length
  }

  getManifest (cid: string): StoredManifest | undefined {
    const row = (this.q.getManifest as StatementSync).get(cid) as ManifestRow | undefined
    return row === undefined ? undefined : toManifest(row)
  }

  listManifests (): StoredManifest[] {
    return ((this.q.listManifests as StatementSync).all() as unknown as ManifestRow[]).map(toManifest)
  }

  /** Removes a dataset: its manifest, and its blocks unless another manifest names the same tree. */
  removeDataset (cid: string): { removed: boolean, bytes: number } {
    const m = this.getManifest(cid)
    if (m === undefined) return { removed: false, bytes: 0 }
    ;(this.q.deleteManifest as StatementSync).run(cid)
    this.used -= m.bytes.length
    let bytes = m.bytes.length
    if (Number((this.q.manifestsOfTree as StatementSync).get(m.tree)?.n ?? 0) === 0) bytes += this.deleteTree(m.tree)
    return { removed: true, bytes }
  }

  /** Deletes up to `limit` expired blocks and manifests; returns how many went. */
  expire (limit = MAINTENANCE_BATCH): { blocks: number, manifests: number } {
    const now = this.now()
    const rows = (this.q.expiredBlocks as StatementSync).all(now, limit) as Array<{ id: number, chunk: number }>
    this.transaction(() => {
      for (const r of rows) {
        (this.q.deleteRow as StatementSync).run(r.id)
        ;(this.q.deleteChunk as StatementSync).run(r.chunk)
      }
    })
    const manifests = (this.q.expiredManifests as StatementSync).all(now, limit) as Array<{ cid: string }>
    for (const m of manifests) (this.q.deleteManifest as StatementSync).run(m.cid)
    this.used = this.recount()
    return { blocks: rows.length, manifests: manifests.length }
  }

  space (): StoreSpace {
    return {
      quotaBytes: this.quotaBytes,
      usedBytes: this.used,
      freeBytes: this.freeBytes,
      blocks: Number((this.q.blockCount as StatementSync).get()?.n ?? 0),
      datasets: Number((this.q.manifestCount as StatementSync).get()?.n ?? 0)
    }
  }
}

interface ManifestRow { cid: string, tree: Uint8Array, bytes: Uint8Array, blocks: number, created: number, expires: number }

function toManifest (row: ManifestRow): StoredManifest {
  return { cid: row.cid, tree: row.tree, bytes: row.bytes, blocks: Number(row.blocks), createdAt: Number(row.created), expiresAt: Number(row.expires) }
}
