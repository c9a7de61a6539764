import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEVNET_DISCOVERY, startDevnet } from '../../../src/apps/devnet/index.ts'
import type { Devnet } from '../../../src/apps/devnet/index.ts'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'

interface Manifest { cid: string, datasetSize: number, blocks: number, filename?: string, complete?: boolean }
interface Progress { downloadId: string, percent: number, bytesDone: number }

function collect (node: LogosNode, event: string): { list: unknown[], off: () => void } {
  const list: unknown[] = []
  const off = node.kernel.subscribe('test', 'storage', event, (payload) => { list.push(payload) })
  return { list, off }
}

describe('the storage module on a devnet of full Logos nodes (discovery-found providers, real TCP)', () => {
  let devnet: Devnet
  let A: LogosNode
  let B: LogosNode
  let C: LogosNode
  const extra: LogosNode[] = []

  beforeAll(async () => {
    devnet = await startDevnet({ nodes: 3, modules: ['storage'] })
    ;[A, B, C] = devnet.nodes as [LogosNode, LogosNode, LogosNode]
  }, 90_000)

  afterAll(async () => {
    await Promise.allSettled(extra.map(async n => { await n.stop() }))
    await devnet?.stop()
  })

  it('uploads on A; B and C download it from providers they find; progress comes at most once per 1 %', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 1)
    const uploadEvents = collect(A, 'upload:progress')
    const done = collect(A, 'upload:done')
    const up = await A.kernel.call('storage', 'upload', { data, filename: 'hello.bin', mimetype: 'application/octet-stream' }) as Manifest & { uploadId: string }
    uploadEvents.off()
    done.off()
    expect(up).toMatchObject({ datasetSize: data.length, blocks: 49, filename: 'hello.bin' })
    expect(done.list).toEqual([{ uploadId: up.uploadId, cid: up.cid, datasetSize: data.length }])
    expect(uploadEvents.list.length).toBeGreaterThan(0)
    expect(uploadEvents.list.length).toBeLessThanOrEqual(101)

    const progress = collect(B, 'download:progress')
    const bDone = collect(B, 'download:done')
    const got = await B.kernel.call('storage', 'download', { cid: up.cid, downloadId: 'b-1' }, { timeout: 60_000 }) as Manifest & { data: Uint8Array }
    progress.off()
    bDone.off()
    expect(Buffer.from(got.data).equals(data)).toBe(true)
    const percents = (progress.list as Progress[]).map(p => p.percent)
    expect(percents.length).toBeLessThanOrEqual(101)
    expect(percents.at(-1)).toBe(100)
    for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThan(percents[i - 1] as number)
    expect(bDone.list).toEqual([{ downloadId: 'b-1', cid: up.cid, bytes: data.length, path: undefined }])

    const path = join(devnet.baseDir, 'c-copy.bin')
    const toFile = await C.kernel.call('storage', 'download', { cid: up.cid, path }, { timeout: 60_000 }) as { path: string }
    expect(toFile.path).toBe(path)
    expect((await readFile(path)).equals(data)).toBe(true)
    expect(await C.kernel.call('storage', 'exists', { cid: up.cid })).toEqual({ exists: true })
    const cManifests = await C.kernel.call('storage', 'manifests') as Manifest[]
    expect(cManifests.find(m => m.cid === up.cid)).toMatchObject({ complete: true, filename: 'hello.bin' })
    // Both A and B announced it: lookups list them as providers (B's announcement is placed once its download ended).
    const expected = new Set([devnet.peers[0]?.peerId, devnet.peers[1]?.peerId])
    let found = new Set<string | undefined>()
    for (const end = Date.now() + 20_000; Date.now() < end;) {
      const providers = await C.kernel.call('network', 'storageProviders', { cid: up.cid }) as Array<{ peerId: string }>
      found = new Set(providers.map(p => p.peerId))
      if (found.size === expected.size && [...expected].every(p => found.has(p))) break
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    expect(found).toEqual(expected)
  }, 90_000)

  it('streams an upload in chunks, uploads a file by path, and a cancelled upload leaves nothing', async () => {
    const parts = [randomBytes(100_000), randomBytes(70_000), randomBytes(1)]
    const before = await A.kernel.call('storage', 'space') as { usedBytes: number }
    const { uploadId } = await A.kernel.call('storage', 'uploadInit', { filename: 'streamed.txt', size: 170_001 }) as { uploadId: string }
    for (const p of parts) await A.kernel.call('storage', 'uploadChunk', { uploadId, data: p })
    const streamed = await A.kernel.call('storage', 'uploadFinalize', { uploadId }) as Manifest
    expect(streamed).toMatchObject({ datasetSize: 170_001, blocks: 3, filename: 'streamed.txt' })
    const back = await A.kernel.call('storage', 'download', { cid: streamed.cid }) as { data: Uint8Array }
    expect(Buffer.from(back.data).equals(Buffer.concat(parts))).toBe(true)

    const file = join(devnet.baseDir, 'notes.md')
    await writeFile(file, 'a file by path\n')
    const byPath = await A.kernel.call('storage', 'upload', { path: file }) as Manifest
    expect(byPath).toMatchObject({ filename: 'notes.md', datasetSize: 15 })

    const mid = await A.kernel.call('storage', 'space') as { usedBytes: number }
    const cancelled = await A.kernel.call('storage', 'uploadInit', {}) as { uploadId: string }
    await A.kernel.call('storage', 'uploadChunk', { uploadId: cancelled.uploadId, data: randomBytes(2 * 1024 * 1024) })
    await A.kernel.call('storage', 'uploadCancel', { uploadId: cancelled.uploadId })
    expect((await A.kernel.call('storage', 'space') as { usedBytes: number }).usedBytes).toBe(mid.usedBytes)
    expect(mid.usedBytes).toBeGreaterThan(before.usedBytes)
    await expect(A.kernel.call('storage', 'uploadChunk', { uploadId: cancelled.uploadId, data: randomBytes(1) })).rejects.toMatchObject({ code: 'ERR_STORAGE_PARAMS' })
  }, 60_000)

  it('cancels a download with a typed error, keeps what it got, and a later download resumes', async () => {
    const data = randomBytes(24 * 1024 * 1024)
    const up = await A.kernel.call('storage', 'upload', { data }, { timeout: 60_000 }) as Manifest
    const off = B.kernel.subscribe('test', 'storage', 'download:progress', (payload) => {
      const p = payload as Progress
      if (p.downloadId === 'cancel-me' && p.percent > 0) B.kernel.call('storage', 'downloadCancel', { downloadId: 'cancel-me' }).catch(() => {})
    })
    const err = await B.kernel.call('storage', 'download', { cid: up.cid, downloadId: 'cancel-me' }, { timeout: 60_000 }).catch((e: unknown) => e)
    off()
    expect(err).toMatchObject({ code: 'ERR_STORAGE_CANCELLED' })
    const partial = (await B.kernel.call('storage', 'manifests') as Array<Manifest & { blocksHere: number }>).find(m => m.cid === up.cid)
    expect(partial?.complete).toBe(false)
    const got = await B.kernel.call('storage', 'fetch', { cid: up.cid }, { timeout: 60_000 }) as Manifest
    expect(got.cid).toBe(up.cid)
    expect(await B.kernel.call('storage', 'exists', { cid: up.cid })).toEqual({ exists: true })
    expect(await B.kernel.call('storage', 'remove', { cid: up.cid })).toMatchObject({ removed: true })
    expect(await B.kernel.call('storage', 'exists', { cid: up.cid })).toEqual({ exists: false })
  }, 90_000)

  it('keeps its datasets across a node restart and serves them again to a node that finds it', async () => {
    const data = randomBytes(1024 * 1024 + 3)
    const up = await C.kernel.call('storage', 'upload', { data, filename: 'kept.bin' }) as Manifest
    const dataDir = C.dataDir
    await C.stop()
    const first = devnet.peers[0] as { peerId: string, multiaddrs: string[] }
    const restarted = await startNode({
      dataDir,
      only: ['network', 'storage'],
      config: { logLevel: 'warn', modules: { network: { config: { bootstrap: first.multiaddrs.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${first.peerId}`), discovery: { ...DEVNET_DISCOVERY } } } } }
    })
    extra.push(restarted)
    expect(await restarted.kernel.call('storage', 'exists', { cid: up.cid })).toEqual({ exists: true })
    const listed = await restarted.kernel.call('storage', 'manifests') as Manifest[]
    expect(listed.find(m => m.cid === up.cid)).toMatchObject({ filename: 'kept.bin', complete: true })
    // B never had it: it finds the restarted node through discovery and downloads from it.
    const got = await B.kernel.call('storage', 'download', { cid: up.cid }, { timeout: 60_000 }) as { data: Uint8Array }
    expect(Buffer.from(got.data).equals(data)).toBe(true)
  }, 90_000)

  it('refuses bad parameters and unknown datasets with typed errors', async () => {
    await expect(A.kernel.call('storage', 'upload', {})).rejects.toMatchObject({ code: 'ERR_STORAGE_PARAMS' })
    await expect(A.kernel.call('storage', 'upload', { data: new Uint8Array(0) })).rejects.toMatchObject({ code: 'ERR_STORAGE_PARAMS' })
    await expect(A.kernel.call('storage', 'download', { cid: 'nonsense' })).rejects.toMatchObject({ code: 'ERR_STORAGE_BAD_CID' })
    await expect(A.kernel.call('storage', 'manifest', { cid: 'zDvZRwzm67WUAHZ2bfs34EZ1n6SfxEFLbRkS7ZbrKhVEd8sTkdJV', fetch: false })).rejects.toMatchObject({ code: 'ERR_STORAGE_NOT_FOUND' })
    expect(await A.kernel.call('storage', 'downloadCancel', { downloadId: 'none' })).toEqual({ cancelled: false })
  })
})

describe('the storage module quota', () => {
  it('refuses an upload and a download beyond the quota with ERR_STORAGE_QUOTA_EXCEEDED', async () => {
    const devnet = await startDevnet({ nodes: 2, modules: ['storage'], moduleConfig: { storage: { quotaBytes: 1024 * 1024 } } })
    try {
      const [A, B] = devnet.nodes as [LogosNode, LogosNode]
      await expect(A.kernel.call('storage', 'upload', { data: randomBytes(2 * 1024 * 1024) })).rejects.toMatchObject({ code: 'ERR_STORAGE_QUOTA_EXCEEDED' })
      const second = await A.kernel.call('storage', 'upload', { data: randomBytes(400 * 1024) }) as Manifest
      expect(await A.kernel.call('storage', 'space')).toMatchObject({ quotaBytes: 1024 * 1024, datasets: 1 })
      // B fills most of its quota with a dataset of its own; A's does not fit beside it.
      await B.kernel.call('storage', 'upload', { data: randomBytes(640 * 1024) })
      await expect(B.kernel.call('storage', 'fetch', { cid: second.cid }, { timeout: 30_000 })).rejects.toMatchObject({ code: 'ERR_STORAGE_QUOTA_EXCEEDED' })
      await B.kernel.call('storage', 'remove', { cid: (await B.kernel.call('storage', 'manifests') as Manifest[])[0]?.cid })
      expect(await B.kernel.call('storage', 'fetch', { cid: second.cid }, { timeout: 30_000 })).toMatchObject({ cid: second.cid })
    } finally {
      await devnet.stop()
    }
  }, 60_000)
})
