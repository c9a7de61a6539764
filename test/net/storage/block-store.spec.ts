import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlockStore, StorageQuotaExceededError, UploadSession, blockCount, cidToString, decodeManifest, sha256 } from '../../../src/net/storage/index.ts'
import { tempDir } from '../../helpers/temp-dir.ts'
import { randomData } from './helpers.ts'

describe('block store (SQLite in the data directory)', () => {
  let dir: { path: string, remove: () => Promise<void> }
  beforeEach(async () => { dir = await tempDir('logos-store-') })
  afterEach(async () => { await dir.remove() })

  it('keeps uploaded datasets across a reopen, with proofs, and frees what a removal deletes', () => {
    let store = BlockStore.open(dir.path)
    const data = randomData(300_000, 7)
    const session = new UploadSession(store, { blockSize: 65536, filename: 'x' })
    session.write(data.subarray(0, 100_000))
    session.write(data.subarray(100_000))
    const { cid, manifest } = session.finalize()
    expect(blockCount(manifest)).toBe(5)
    expect(store.usedBytes).toBeGreaterThanOrEqual(5 * 65536)
    store.close()

    store = BlockStore.open(dir.path)
    const key = cidToString(cid)
    const m = store.getManifest(key)
    expect(m?.blocks).toBe(5)
    const tree = decodeManifest(m?.bytes as Uint8Array).treeCid.bytes
    expect(store.presentIndices(tree, 0, 10)).toEqual([0, 1, 2, 3, 4])
    const last = store.getBlock(tree, 4)
    // The last block is zero-padded to the block size and its digest is its leaf.
    expect(last?.data.length).toBe(65536)
    expect(Buffer.from(last?.data.subarray(300_000 - 4 * 65536) as Uint8Array).every(b => b === 0)).toBe(true)
    expect(Buffer.from(sha256(last?.data as Uint8Array)).equals(Buffer.from(last?.hash as Uint8Array))).toBe(true)
    expect(last?.proof).toBeInstanceOf(Uint8Array)
    const before = store.usedBytes
    expect(store.removeDataset(key).removed).toBe(true)
    expect(store.usedBytes).toBeLessThan(before - 5 * 65536 + 1)
    expect(store.space()).toMatchObject({ blocks: 0, datasets: 0 })
    store.close()
  })

  it('refuses to go over its quota with a typed error, and an aborted upload leaves nothing behind', () => {
    const store = BlockStore.open(dir.path, { quotaBytes: 4 * 65536 })
    expect(() => new UploadSession(store, { blockSize: 65536, expectedSize: 5 * 65536 })).toThrow(StorageQuotaExceededError)
    const session = new UploadSession(store, { blockSize: 65536 })
    let error: unknown
    try {
      for (let i = 0; i < 40; i++) session.write(randomData(65536, i + 1))
      session.finalize()
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(StorageQuotaExceededError)
    expect((error as StorageQuotaExceededError).code).toBe('ERR_STORAGE_QUOTA_EXCEEDED')
    expect(store.usedBytes).toBe(0)
    expect(store.space().blocks).toBe(0)
    store.close()
  })

  it('drops bytes of uploads that never finalized when it opens again', () => {
    let store = BlockStore.open(dir.path)
    const session = new UploadSession(store, { blockSize: 4096 })
    session.write(randomData(300 * 4096, 3)) // 1 MiB of it flushed to the store, never finalized: the process "ends" here
    expect(store.usedBytes).toBe(256 * 4096)
    store.close()
    store = BlockStore.open(dir.path)
    expect(store.usedBytes).toBe(0)
    store.close()
  })

  it('expires blocks and manifests after their TTL, in bounded passes', () => {
    let now = 1_000_000
    const store = BlockStore.open(dir.path, { blockTtlMs: 60_000, now: () => now })
    const session = new UploadSession(store, { blockSize: 4096 })
    session.write(randomData(10 * 4096, 5))
    const { cid } = session.finalize()
    now += 30_000
    expect(store.expire()).toEqual({ blocks: 0, manifests: 0 })
    now += 31_000
    expect(store.expire(4)).toEqual({ blocks: 4, manifests: 1 })
    expect(store.getManifest(cidToString(cid))).toBeUndefined()
    expect(store.expire()).toEqual({ blocks: 6, manifests: 0 })
    expect(store.usedBytes).toBe(0)
    store.close()
  })
})
