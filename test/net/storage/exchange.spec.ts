import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BLOCKEXC_PROTOCOL, BLOCK_CODEC, FRAME_BLOCKS, FRAME_CONTROL, FRAME_WANT_BLOCKS, FrameReader, MANIFEST_PROTOCOL, MerkleTree,
  PRESENCE_COMPLETE, StorageDownloadStalledError, StorageNoProvidersError, StorageQuotaExceededError, TREE_CODEC, cidOf,
  cidToString, decodeControl, decodeWantBlocks, encodeBlocks, encodeControl, encodeManifestResponse, frame, sha256, STATUS_NOT_FOUND
} from '../../../src/net/storage/index.ts'
import type { DownloadStats, Provider } from '../../../src/net/storage/index.ts'
import { tempDir } from '../../helpers/temp-dir.ts'
import { randomData, staticRouting, storageNode } from './helpers.ts'
import type { StorageNode } from './helpers.ts'
import { loopbackTcp } from '../loopback.ts'

const BS = 65536

/** A whole local dataset, read in pages (a read returns at most 4 MiB). */
function readAll (node: StorageNode, cid: string, size: number): Buffer {
  const parts: Uint8Array[] = []
  for (let offset = 0; offset < size; offset += 4 * 1024 * 1024) parts.push(node.services.storage.read(cid, offset, 4 * 1024 * 1024))
  return Buffer.concat(parts)
}

function providerOf (node: Libp2p): Provider {
  return { peerId: node.peerId, multiaddrs: node.getMultiaddrs() }
}

/**
 * A peer that says it has every block and answers WantBlocks with blocks that fail verification: the data of one
 * block with the CID and proof of another (its hash does not match), or real data with the proof of another index.
 */
async function lyingPeer (data: Uint8Array): Promise<{ node: Libp2p, served: () => number }> {
  const blocks: Uint8Array[] = []
  for (let i = 0; i < data.length; i += BS) {
    const b = new Uint8Array(BS)
    b.set(data.subarray(i, i + BS))
    blocks.push(b)
  }
  const tree = new MerkleTree(blocks.map(sha256))
  let served = 0
  const node = await createLibp2p({
    ...loopbackTcp(),
    services: { identify: identify() }
  })
  await node.handle(BLOCKEXC_PROTOCOL, (stream: Stream) => {
    const reader = new FrameReader()
    void (async () => {
      for await (const chunk of stream) {
        for (const f of reader.push(chunk)) {
          if (f.type === FRAME_CONTROL) {
            const msg = decodeControl(f.payload)
            const presences = msg.wantList.entries.map(e => ({ address: e.address, kind: PRESENCE_COMPLETE, ranges: [], downloadId: e.downloadId }))
            stream.send(frame(FRAME_CONTROL, encodeControl({ wantList: { entries: [], full: false }, presences })))
          } else if (f.type === FRAME_WANT_BLOCKS) {
            const req = decodeWantBlocks(f.payload)
            const out = []
            for (const r of req.ranges) {
              for (let i = r.start; i < r.start + r.count; i++) {
                served++
                const other = (i + 1) % blocks.length
                out.push(served % 2 === 0
                  ? { index: i, cid: cidOf(BLOCK_CODEC, sha256(blocks[i] as Uint8Array)), data: blocks[other] as Uint8Array, proof: tree.proof(i) }
                  : { index: i, cid: cidOf(BLOCK_CODEC, sha256(blocks[i] as Uint8Array)), data: blocks[i] as Uint8Array, proof: { ...tree.proof(other), index: i } })
              }
            }
            stream.send(frame(FRAME_BLOCKS, encodeBlocks({ requestId: req.requestId, treeCid: req.treeCid, blocks: out })))
          }
        }
      }
    })().catch(() => {})
  })
  await node.handle(MANIFEST_PROTOCOL, (stream: Stream) => {
    stream.send(encodeManifestResponse(STATUS_NOT_FOUND))
    void stream.close()
  })
  return { node, served: () => served }
}

describe('storage over real TCP between js-libp2p nodes', () => {
  const dirs: Array<{ path: string, remove: () => Promise<void> }> = []
  const nodes: Libp2p[] = []
  const shared = staticRouting()
  let A: StorageNode
  let B: StorageNode
  const dir = async (): Promise<string> => {
    const d = await tempDir('logos-xchg-')
    dirs.push(d)
    return d.path
  }
  const node = async (init: Parameters<typeof storageNode>[1] = {}, path?: string): Promise<StorageNode> => {
    const n = await storageNode(path ?? await dir(), { shared, ...init })
    nodes.push(n)
    return n
  }

  beforeAll(async () => {
    A = await node()
    B = await node()
  })
  afterAll(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    for (const d of dirs) await d.remove()
  })

  it('downloads one dataset from two providers in parallel, verified and byte-exact', async () => {
    const data = randomData(3 * 1024 * 1024 + 5, 11)
    const { cid } = await A.services.storage.store(data, { filename: 'p.bin' })
    const key = cidToString(cid)
    await B.services.storage.fetch(key)
    expect(B.services.storage.exists(key)).toBe(true)
    expect(shared.table.get(key)?.size).toBe(2) // B announced it once it had it all

    const C = await node()
    // Connected to both before it starts: otherwise A, asked first for the manifest, may serve every block before B's
    // connection is up.
    await Promise.all([A, B].map(async p => await C.dial(p.getMultiaddrs())))
    let stats: DownloadStats | undefined
    const progress: number[] = []
    const info = await C.services.storage.fetch(key, { onStats: (s) => { stats = s }, onProgress: (p) => { progress.push(p.blocksDone) } })
    expect(info).toMatchObject({ blocks: 49, datasetSize: data.length, filename: 'p.bin' })
    expect(new Set(stats?.peersUsed)).toEqual(new Set([A.peerId.toString(), B.peerId.toString()]))
    expect(stats?.blocksRejected).toBe(0)
    expect(progress.at(-1)).toBe(49)
    expect([...progress].sort((a, b) => a - b)).toEqual(progress)
    const back = Buffer.concat([C.services.storage.read(key, 0, 2 * 1024 * 1024), C.services.storage.read(key, 2 * 1024 * 1024, 4 * 1024 * 1024)])
    expect(back.equals(Buffer.from(data))).toBe(true)
    expect(Buffer.from(C.services.storage.read(key, 65530, 20)).equals(Buffer.from(data.subarray(65530, 65550)))).toBe(true)
  })

  it('refuses blocks with a bad hash or a bad proof from a lying peer, bans it and gets them elsewhere', async () => {
    const data = randomData(2 * 1024 * 1024, 12)
    const { cid } = await A.services.storage.store(data)
    const liar = await lyingPeer(data)
    nodes.push(liar.node)
    const C = await node({ routing: { provide: async () => {}, unprovide: () => {}, findProviders: async () => [] } })
    let stats: DownloadStats | undefined
    // The liar is listed first, so it gets the first batches.
    await C.services.storage.fetch(cidToString(cid), { providers: [providerOf(liar.node), providerOf(A)], onStats: (s) => { stats = s } })
    expect(liar.served()).toBeGreaterThan(0)
    expect(stats?.peersBanned).toEqual([liar.node.peerId.toString()])
    expect(stats?.blocksRejected).toBeGreaterThan(0)
    expect(readAll(C, cidToString(cid), data.length).equals(Buffer.from(data))).toBe(true)
  })

  it('finishes from the other provider when one disappears mid-download', async () => {
    const data = randomData(6 * 1024 * 1024, 13)
    const X = await node()
    const Y = await node()
    const { cid } = await X.services.storage.store(data)
    const key = cidToString(cid)
    await Y.services.storage.fetch(key)
    const C = await node({ pipelineDepth: 1 })
    let stopping: Promise<void> | undefined
    let stats: DownloadStats | undefined
    await C.services.storage.fetch(key, {
      onStats: (s) => { stats = s },
      onProgress: (p) => { if (stopping === undefined && p.blocksDone >= 10) stopping = Promise.resolve(X.stop()) }
    })
    await stopping
    expect(stopping).toBeDefined()
    expect(stats?.peersUsed.length).toBe(2)
    expect(C.services.storage.exists(key)).toBe(true)
    expect(readAll(C, key, data.length).equals(Buffer.from(data))).toBe(true)
  })

  it('resumes a stalled download from the blocks it kept once the provider is back (store persisted across restart)', async () => {
    const data = randomData(12 * 1024 * 1024, 14)
    const xDir = await dir()
    let X = await node({}, xDir)
    const { cid } = await X.services.storage.store(data)
    const key = cidToString(cid)
    const C = await node({ pipelineDepth: 1, stallTimeoutMs: 5000 })
    let have = 0
    let stopping: Promise<void> | undefined
    const first = C.services.storage.fetch(key, {
      onProgress: (p) => {
        have = p.blocksDone
        if (stopping === undefined && p.blocksDone >= 20) {
          shared.forget(X.peerId.toString())
          stopping = Promise.resolve(X.stop())
        }
      }
    })
    await expect(first).rejects.toBeInstanceOf(StorageDownloadStalledError)
    await stopping
    expect(have).toBeGreaterThanOrEqual(20)
    expect(have).toBeLessThan(192)
    expect(C.services.storage.exists(key)).toBe(false)

    // The provider comes back on the same data directory (a new port): its store kept the dataset and it announces it again.
    X = await node({}, xDir)
    expect(X.services.storage.exists(key)).toBe(true)
    let stats: DownloadStats | undefined
    await C.services.storage.fetch(key, { onStats: (s) => { stats = s } })
    expect(stats?.blocksReceived).toBe(192 - have)
    expect(readAll(C, key, data.length).equals(Buffer.from(data))).toBe(true)
  })

  it('refuses a download that does not fit its quota, with a typed error, and says when nobody has a dataset', async () => {
    const data = randomData(2 * 1024 * 1024, 15)
    const { cid } = await A.services.storage.store(data)
    const small = await node({ quotaBytes: 1024 * 1024 })
    const err = await small.services.storage.fetch(cidToString(cid)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StorageQuotaExceededError)
    expect((err as StorageQuotaExceededError).code).toBe('ERR_STORAGE_QUOTA_EXCEEDED')
    expect(small.services.storage.space().usedBytes).toBeLessThan(4096)
    await expect(small.services.storage.store(randomData(2 * 1024 * 1024, 16))).rejects.toBeInstanceOf(StorageQuotaExceededError)

    // A dataset nobody has: the peer asked answers "not found", lookups find no one else, and the error says so.
    const unknown = cidToString(cidOf(0xcd01, sha256(Uint8Array.of(9))))
    const lonely = await node({ manifestRetries: 2, routing: { provide: async () => {}, unprovide: () => {}, findProviders: async () => [] } })
    const none = await lonely.services.storage.manifest(unknown, { providers: [providerOf(A)] }).catch((e: unknown) => e)
    expect(none).toBeInstanceOf(StorageNoProvidersError)
    expect((none as Error & { cause?: { code?: string } }).cause?.code).toBe('ERR_STORAGE_NOT_FOUND')
    await expect(lonely.services.storage.fetch(cidToString(cidOf(TREE_CODEC, sha256(Uint8Array.of(1)))))).rejects.toMatchObject({ code: 'ERR_STORAGE_BAD_CID' })
  })
})
