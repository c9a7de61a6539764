import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BLOCK_CODEC, FRAME_CONTROL, FRAME_WANT_BLOCKS, FrameReader, MANIFEST_CODEC, MAX_WANTLIST_ENTRIES,
  MerkleTree, PRESENCE_HAVE_RANGE, StorageBadCidError, StorageBadManifestError, StorageWireError, TREE_CODEC, WANT_HAVE,
  cidOf, cidToString, decodeBlocks, decodeControl, decodeManifest, decodeWantBlocks, encodeBlocks, encodeControl,
  encodeManifest, encodeWantBlocks, frame, manifestCidOf, parseCid, sha256, toRanges
} from '../../../src/net/storage/index.ts'
import type { ControlMessage, Manifest } from '../../../src/net/storage/index.ts'

const tree = cidOf(TREE_CODEC, sha256(Uint8Array.of(1, 2, 3)))

describe('block exchange wire (/storage/blockexc/1.0.0)', () => {
  it('round-trips control messages (want lists with ranges, presences)', () => {
    const arbEntry = fc.record({
      index: fc.nat({ max: 2 ** 40 }), rangeCount: fc.nat({ max: 2 ** 30 }), wantType: fc.constantFrom(0, 1), cancel: fc.boolean(),
      sendDontHave: fc.boolean(), priority: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), downloadId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
    })
    const arbPresence = fc.record({
      index: fc.nat({ max: 2 ** 40 }), kind: fc.constantFrom(0, 1, 2), downloadId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      ranges: fc.array(fc.record({ start: fc.nat({ max: 2 ** 40 }), count: fc.nat({ max: 2 ** 20 }) }), { maxLength: 5 })
    })
    fc.assert(fc.property(fc.array(arbEntry, { maxLength: 8 }), fc.array(arbPresence, { maxLength: 8 }), fc.boolean(), (entries, presences, full) => {
      const msg: ControlMessage = {
        wantList: { entries: entries.map(({ index, ...e }) => ({ ...e, address: { treeCid: tree, index } })), full },
        presences: presences.map(p => ({ ...p, address: { treeCid: tree, index: p.index } }))
      }
      const back = decodeControl(encodeControl(msg))
      expect(back.wantList.full).toBe(full)
      expect(back.wantList.entries.map(e => ({ ...e, address: { treeCid: cidToString(e.address.treeCid), index: e.address.index } })))
        .toEqual(msg.wantList.entries.map(e => ({ ...e, address: { treeCid: cidToString(tree), index: e.address.index } })))
      expect(back.presences.map(p => ({ kind: p.kind, ranges: p.ranges, downloadId: p.downloadId, index: p.address.index })))
        .toEqual(msg.presences.map(p => ({ kind: p.kind, ranges: p.ranges, downloadId: p.downloadId, index: p.address.index })))
    }), { numRuns: 100 })
  })

  it('refuses a want list longer than 1024 entries and malformed protobuf', () => {
    const entry = { address: { treeCid: tree, index: 0 }, priority: 0, cancel: false, wantType: WANT_HAVE, sendDontHave: false, rangeCount: 1, downloadId: 1n }
    const big = encodeControl({ wantList: { entries: Array.from({ length: MAX_WANTLIST_ENTRIES + 1 }, () => entry), full: false }, presences: [] })
    expect(() => decodeControl(big)).toThrow(StorageWireError)
    expect(() => decodeControl(Uint8Array.of(0x0a, 0x05, 0x01))).toThrow(StorageWireError)
  })

  it('splits frames at any chunk boundary and checks the type limit before buffering the payload', () => {
    const frames = [
      frame(FRAME_CONTROL, encodeControl({ wantList: { entries: [], full: false }, presences: [{ address: { treeCid: tree, index: 3 }, kind: PRESENCE_HAVE_RANGE, ranges: [{ start: 0, count: 4 }], downloadId: 9n }] })),
      frame(FRAME_WANT_BLOCKS, encodeWantBlocks({ requestId: 7n, treeCid: tree, ranges: [{ start: 2, count: 2 }] }))
    ]
    const all = Buffer.concat(frames)
    fc.assert(fc.property(fc.array(fc.nat({ max: all.length }), { maxLength: 6 }), (cuts) => {
      const reader = new FrameReader()
      const points = [...new Set([0, ...cuts, all.length])].sort((a, b) => a - b)
      const out: Array<{ type: number }> = []
      for (let i = 1; i < points.length; i++) out.push(...reader.push(all.subarray(points[i - 1], points[i])))
      expect(out.map(f => f.type)).toEqual([FRAME_CONTROL, FRAME_WANT_BLOCKS])
      expect(reader.pending).toBe(0)
    }))
    const header = new Uint8Array(5)
    new DataView(header.buffer).setUint32(0, 1 + 64 * 1024, true)
    header[4] = FRAME_WANT_BLOCKS
    expect(() => new FrameReader().push(header)).toThrow(/exceeds/)
    header[4] = 9
    expect(() => new FrameReader().push(header)).toThrow(/unknown frame type/)
  })

  it('round-trips WantBlocks requests and responses with per-block proofs; refuses lies about lengths', () => {
    const req = { requestId: 2n ** 63n + 5n, treeCid: tree, ranges: toRanges([0, 1, 2, 5, 6, 9]) }
    expect(req.ranges).toEqual([{ start: 0, count: 3 }, { start: 5, count: 2 }, { start: 9, count: 1 }])
    const back = decodeWantBlocks(encodeWantBlocks(req))
    expect(back.requestId).toBe(req.requestId)
    expect(back.ranges).toEqual(req.ranges)
    expect(() => decodeWantBlocks(encodeWantBlocks(req).subarray(0, 30))).toThrow(StorageWireError)

    const data = [new Uint8Array(4096).fill(1), new Uint8Array(4096).fill(2)]
    const t = new MerkleTree(data.map(sha256))
    const res = { requestId: 3n, treeCid: cidOf(TREE_CODEC, t.root), blocks: data.map((d, i) => ({ index: i, cid: cidOf(BLOCK_CODEC, sha256(d)), data: d, proof: t.proof(i) })) }
    const bytes = Buffer.concat(encodeBlocks(res))
    const got = decodeBlocks(bytes)
    expect(got.requestId).toBe(3n)
    expect(got.blocks.map(b => [b.index, Buffer.from(b.data).equals(Buffer.from(data[b.index] as Uint8Array)), b.proof?.nleaves])).toEqual([[0, true, 2], [1, true, 2]])
    expect(() => decodeBlocks(bytes.subarray(0, bytes.length - 1))).toThrow(/data bytes/)
    const lie = Buffer.from(bytes)
    lie.writeUInt32LE(lie.readUInt32LE(0) + 3, 0)
    expect(() => decodeBlocks(lie)).toThrow(StorageWireError)
  })
})

describe('manifests and CIDs', () => {
  const manifest: Manifest = { treeCid: tree, blockSize: 65536, datasetSize: 200_000, codec: BLOCK_CODEC, hcodec: 0x12, version: 1, filename: 'a.txt', mimetype: 'text/plain' }

  it('encodes the CODEX-MANIFEST header inside field 1, and the dataset id is the manifest CID', () => {
    const bytes = encodeManifest(manifest)
    expect(bytes[0]).toBe(0x0a) // field 1, length-delimited: the Header
    const back = decodeManifest(bytes)
    expect({ ...back, treeCid: cidToString(back.treeCid) }).toEqual({ ...manifest, treeCid: cidToString(tree) })
    const cid = manifestCidOf(bytes)
    expect(cid.code).toBe(MANIFEST_CODEC)
    expect(cidToString(cid).startsWith('z')).toBe(true)
    expect(parseCid(cidToString(cid), MANIFEST_CODEC).equals(cid)).toBe(true)
    // Another filename is another dataset (LIP DATASETS "Identifying Datasets and Blocks").
    expect(manifestCidOf(encodeManifest({ ...manifest, filename: 'b.txt' })).equals(cid)).toBe(false)
  })

  it('refuses manifests that break the rules, and CIDs of the wrong kind', () => {
    expect(() => encodeManifest({ ...manifest, blockSize: 3000 })).toThrow(StorageBadManifestError)
    expect(() => encodeManifest({ ...manifest, blockSize: 1024 * 1024 })).toThrow(StorageBadManifestError)
    expect(() => encodeManifest({ ...manifest, datasetSize: 0 })).toThrow(StorageBadManifestError)
    expect(() => encodeManifest({ ...manifest, codec: 0x55 })).toThrow(StorageBadManifestError)
    expect(() => decodeManifest(Uint8Array.of(0x0a, 0x02, 0x10, 0x01))).toThrow(StorageBadManifestError)
    expect(() => decodeManifest(Uint8Array.of(0xff, 0xff))).toThrow(StorageBadManifestError)
    expect(() => parseCid(cidToString(tree), MANIFEST_CODEC)).toThrow(StorageBadCidError)
    expect(() => parseCid('not-a-cid')).toThrow(StorageBadCidError)
  })
})
