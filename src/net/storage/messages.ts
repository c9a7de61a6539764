import { Uint8ArrayList } from 'uint8arraylist'
import { parseCid } from './cid.ts'
import type { CID } from './cid.ts'
import {
  MAX_BLOCK_SIZE, MAX_BLOCKS_PER_BATCH, MAX_CONTROL_MESSAGE_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
  MAX_RESPONSE_METADATA_BYTES, MAX_WANTLIST_ENTRIES
} from './constants.ts'
import { StorageWireError } from './errors.ts'
import { decodeProof, encodeProof } from './merkle.ts'
import type { MerkleProof } from './merkle.ts'
import { ProtoWriter, readFields, safeNumber } from './protobuf.ts'

/**
 * The /storage/blockexc/1.0.0 wire (logos-storage-nim blockexchange/network/networkpeer.nim `readLoop`,
 * protocol/message.nim, protocol/wantblocks.nim). Every frame is `u32 LE length | u8 type | payload`
 * (length = 1 + payload length) on one long-lived stream per direction:
 * - 0x00: a protobuf control `Message` { wantList = 1 { entries = 1, full = 2 }, blockPresences = 4 } (wants and presence);
 * - 0x01: a binary WantBlocks request { requestId u64, treeCid (u16 len + bytes), ranges (u32 count, (start u64, count u64)*) };
 * - 0x02: a binary WantBlocks response { u32 metadata length, metadata { requestId, treeCid, u32 count, per block:
 *   index u64, cid (u16 len + bytes), data length u32, proof (u16 len + bytes) }, then the blocks' bytes concatenated }.
 * All integers little-endian.
 */

export const FRAME_CONTROL = 0x00
export const FRAME_WANT_BLOCKS = 0x01
export const FRAME_BLOCKS = 0x02

/** WantType (message.nim): a block, or only whether the peer has it. */
export const WANT_BLOCK = 0
export const WANT_HAVE = 1

/** BlockPresenceType (message.nim). */
export const PRESENCE_DONT_HAVE = 0
export const PRESENCE_HAVE_RANGE = 1
export const PRESENCE_COMPLETE = 2

export interface BlockAddress {
  treeCid: CID
  index: number
}

export interface WantEntry {
  address: BlockAddress
  priority: number
  cancel: boolean
  wantType: number
  sendDontHave: boolean
  /** 0: the one address; n > 0: the n blocks from address.index on. */
  rangeCount: number
  downloadId: bigint
}

export interface IndexRange {
  start: number
  count: number
}

export interface BlockPresence {
  address: BlockAddress
  kind: number
  ranges: IndexRange[]
  downloadId: bigint
}

export interface ControlMessage {
  wantList: { entries: WantEntry[], full: boolean }
  presences: BlockPresence[]
}

export interface WantBlocksRequest {
  requestId: bigint
  treeCid: CID
  ranges: IndexRange[]
}

export interface DeliveredBlock {
  index: number
  cid: CID
  data: Uint8Array
  proof?: MerkleProof
  /** The proof already encoded (a server sends what it stored, without decoding it first). */
  proofBytes?: Uint8Array
}

export interface WantBlocksResponse {
  requestId: bigint
  treeCid: CID
  blocks: DeliveredBlock[]
}

// ---- control messages (protobuf) ------------------------------------------------------------------------------------

function writeAddress (a: BlockAddress): ProtoWriter {
  return new ProtoWriter().bytes(1, a.treeCid.bytes).uint(2, a.index)
}

function readAddress (bytes: Uint8Array): BlockAddress {
  let treeCid: CID | undefined
  let index = 0
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === 2) treeCid = parseCid(f.bytes)
    else if (f.field === 2 && f.wire === 0) index = safeNumber(f.value, 'index')
  }
  if (treeCid === undefined) throw new StorageWireError('block address without treeCid')
  return { treeCid, index }
}

/** Encodes a control message; every proto2 `required` field of message.nim is written, even when zero. */
export function encodeControl (msg: ControlMessage): Uint8Array {
  const wantList = new ProtoWriter()
  for (const e of msg.wantList.entries) {
    wantList.message(1, new ProtoWriter()
      .message(1, writeAddress(e.address))
      .uint(2, BigInt.asUintN(64, BigInt(e.priority)))
      .bool(3, e.cancel)
      .uint(4, e.wantType)
      .bool(5, e.sendDontHave)
      .uint(6, e.rangeCount)
      .uint(7, e.downloadId))
  }
  wantList.bool(2, msg.wantList.full)
  const out = new ProtoWriter().message(1, wantList)
  for (const p of msg.presences) {
    const w = new ProtoWriter().message(1, writeAddress(p.address)).uint(2, p.kind)
    for (const r of p.ranges) w.message(3, new ProtoWriter().uint(1, r.start).uint(2, r.count))
    w.uint(4, p.downloadId)
    out.message(4, w)
  }
  return out.finish()
}

/** Decodes a control message; more than MAX_WANTLIST_ENTRIES entries or presences is a protocol violation. */
export function decodeControl (bytes: Uint8Array): ControlMessage {
  const msg: ControlMessage = { wantList: { entries: [], full: false }, presences: [] }
  for (const f of readFields(bytes)) {
    if (f.field === 1 && f.wire === 2) {
      for (const wf of readFields(f.bytes)) {
        if (wf.field === 2 && wf.wire === 0) msg.wantList.full = wf.value !== 0n
        if (wf.field !== 1 || wf.wire !== 2) continue
        if (msg.wantList.entries.length >= MAX_WANTLIST_ENTRIES) throw new StorageWireError(`want list longer than ${MAX_WANTLIST_ENTRIES} entries`)
        const e: WantEntry = { address: { treeCid: undefined as unknown as CID, index: 0 }, priority: 0, cancel: false, wantType: WANT_BLOCK, sendDontHave: false, rangeCount: 0, downloadId: 0n }
        let hasAddress = false
        for (const ef of readFields(wf.bytes)) {
          if (ef.field === 1 && ef.wire === 2) { e.address = readAddress(ef.bytes); hasAddress = true }
          else if (ef.wire !== 0) continue
          else if (ef.field === 2) e.priority = Number(BigInt.asIntN(32, ef.value))
          else if (ef.field === 3) e.cancel = ef.value !== 0n
          else if (ef.field === 4) e.wantType = Number(ef.value & 0xffn)
          else if (ef.field === 5) e.sendDontHave = ef.value !== 0n
          else if (ef.field === 6) e.rangeCount = safeNumber(ef.value, 'rangeCount')
          else if (ef.field === 7) e.downloadId = BigInt.asUintN(64, ef.value)
        }
        if (!hasAddress) throw new StorageWireError('want list entry without address')
        msg.wantList.entries.push(e)
      }
    } else if (f.field === 4 && f.wire === 2) {
      if (msg.presences.length >= MAX_WANTLIST_ENTRIES) throw new StorageWireError(`more than ${MAX_WANTLIST_ENTRIES} presences`)
      const p: BlockPresence = { address: { treeCid: undefined as unknown as CID, index: 0 }, kind: PRESENCE_DONT_HAVE, ranges: [], downloadId: 0n }
      let hasAddress = false
      for (const pf of readFields(f.bytes)) {
        if (pf.field === 1 && pf.wire === 2) { p.address = readAddress(pf.bytes); hasAddress = true }
        else if (pf.field === 2 && pf.wire === 0) p.kind = Number(pf.value & 0xffn)
        else if (pf.field === 3 && pf.wire === 2) {
          if (p.ranges.length >= MAX_WANTLIST_ENTRIES) throw new StorageWireError(`more than ${MAX_WANTLIST_ENTRIES} ranges in a presence`)
          const r: IndexRange = { start: 0, count: 0 }
          for (const rf of readFields(pf.bytes)) {
            if (rf.field === 1 && rf.wire === 0) r.start = safeNumber(rf.value, 'range start')
            else if (rf.field === 2 && rf.wire === 0) r.count = safeNumber(rf.value, 'range count')
          }
          p.ranges.push(r)
        } else if (pf.field === 4 && pf.wire === 0) p.downloadId = BigInt.asUintN(64, pf.value)
      }
      if (!hasAddress) throw new StorageWireError('presence without address')
      msg.presences.push(p)
    }
  }
  return msg
}

// ---- frames -----------------------------------------------------------------------------------------------------------

export function frame (type: number, payload: Uint8Array | Uint8Array[]): Uint8Array {
  const parts = Array.isArray(payload) ? payload : [payload]
  const len = parts.reduce((s, p) => s + p.length, 0)
  const out = new Uint8Array(5 + len)
  new DataView(out.buffer).setUint32(0, 1 + len, true)
  out[4] = type
  let offset = 5
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

function limitOf (type: number): number {
  if (type === FRAME_CONTROL) return MAX_CONTROL_MESSAGE_BYTES
  if (type === FRAME_WANT_BLOCKS) return MAX_REQUEST_BYTES
  if (type === FRAME_BLOCKS) return MAX_RESPONSE_BYTES
  throw new StorageWireError(`unknown frame type ${type}`)
}

/**
 * Splits a block exchange stream into frames: a state machine that waits for the 5-byte header, checks the type
 * and the type's size limit before buffering the payload, then waits for the payload.
 */
export class FrameReader {
  private readonly buffer = new Uint8ArrayList()

  push (chunk: Uint8Array | Uint8ArrayList): Array<{ type: number, payload: Uint8Array }> {
    this.buffer.append(chunk)
    const out: Array<{ type: number, payload: Uint8Array }> = []
    for (;;) {
      if (this.buffer.byteLength < 5) return out
      const len = this.buffer.getUint32(0, true)
      if (len < 1) throw new StorageWireError('empty frame')
      const type = this.buffer.get(4)
      const limit = limitOf(type)
      if (len - 1 > limit) throw new StorageWireError(`frame of type ${type} with ${len - 1} bytes exceeds ${limit}`)
      if (this.buffer.byteLength < 4 + len) return out
      out.push({ type, payload: this.buffer.subarray(5, 4 + len) })
      this.buffer.consume(4 + len)
    }
  }

  get pending (): number {
    return this.buffer.byteLength
  }
}

// ---- WantBlocks (binary) ------------------------------------------------------------------------------------------------

export function encodeWantBlocks (req: WantBlocksRequest): Uint8Array {
  const cid = req.treeCid.bytes
  const out = new Uint8Array(8 + 2 + cid.length + 4 + req.ranges.length * 16)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, req.requestId, true)
  view.setUint16(8, cid.length, true)
  out.set(cid, 10)
  let offset = 10 + cid.length
  view.setUint32(offset, req.ranges.length, true)
  offset += 4
  for (const r of req.ranges) {
    view.setBigUint64(offset, BigInt(r.start), true)
    view.setBigUint64(offset + 8, BigInt(r.count), true)
    offset += 16
  }
  return out
}

export function decodeWantBlocks (bytes: Uint8Array): WantBlocksRequest {
  if (bytes.length < 14) throw new StorageWireError('WantBlocks request too short')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const requestId = view.getBigUint64(0, true)
  const cidLen = view.getUint16(8, true)
  if (cidLen === 0 || 10 + cidLen + 4 > bytes.length) throw new StorageWireError('WantBlocks request truncated at the tree CID')
  const treeCid = parseCid(bytes.subarray(10, 10 + cidLen))
  let offset = 10 + cidLen
  const count = view.getUint32(offset, true)
  offset += 4
  if (offset + count * 16 !== bytes.length) throw new StorageWireError('WantBlocks request ranges do not match its length')
  const ranges: IndexRange[] = []
  for (let i = 0; i < count; i++) {
    const start = view.getBigUint64(offset, true)
    const n = view.getBigUint64(offset + 8, true)
    offset += 16
    if (start > BigInt(Number.MAX_SAFE_INTEGER) || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new StorageWireError('WantBlocks range out of range')
    ranges.push({ start: Number(start), count: Number(n) })
  }
  return { requestId, treeCid, ranges }
}

/** The response as parts to frame: no copy of the block bytes. */
export function encodeBlocks (res: WantBlocksResponse): Uint8Array[] {
  const tree = res.treeCid.bytes
  const entries = res.blocks.map(b => ({ b, cid: b.cid.bytes, proof: b.proofBytes ?? (b.proof === undefined ? new Uint8Array(0) : encodeProof(b.proof)) }))
  const metaLen = 8 + 2 + tree.length + 4 + entries.reduce((s, e) => s + 8 + 2 + e.cid.length + 4 + 2 + e.proof.length, 0)
  if (metaLen > MAX_RESPONSE_METADATA_BYTES) throw new StorageWireError(`response metadata of ${metaLen} bytes exceeds ${MAX_RESPONSE_METADATA_BYTES}`)
  const meta = new Uint8Array(4 + metaLen)
  const view = new DataView(meta.buffer)
  view.setUint32(0, metaLen, true)
  view.setBigUint64(4, res.requestId, true)
  view.setUint16(12, tree.length, true)
  meta.set(tree, 14)
  let offset = 14 + tree.length
  view.setUint32(offset, entries.length, true)
  offset += 4
  for (const e of entries) {
    view.setBigUint64(offset, BigInt(e.b.index), true)
    view.setUint16(offset + 8, e.cid.length, true)
    meta.set(e.cid, offset + 10)
    offset += 10 + e.cid.length
    view.setUint32(offset, e.b.data.length, true)
    view.setUint16(offset + 4, e.proof.length, true)
    meta.set(e.proof, offset + 6)
    offset += 6 + e.proof.length
  }
  return [meta, ...res.blocks.map(b => b.data)]
}

export function decodeBlocks (bytes: Uint8Array): WantBlocksResponse {
  if (bytes.length < 4) throw new StorageWireError('WantBlocks response too short')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const metaLen = view.getUint32(0, true)
  if (metaLen > MAX_RESPONSE_METADATA_BYTES || 4 + metaLen > bytes.length || metaLen < 14) throw new StorageWireError('WantBlocks response metadata length is invalid')
  const requestId = view.getBigUint64(4, true)
  const treeLen = view.getUint16(12, true)
  let offset = 14
  const end = 4 + metaLen
  const need = (n: number): void => { if (offset + n > end) throw new StorageWireError('WantBlocks response metadata truncated') }
  need(treeLen + 4)
  if (treeLen === 0) throw new StorageWireError('WantBlocks response without tree CID')
  const treeCid = parseCid(bytes.subarray(offset, offset + treeLen))
  offset += treeLen
  const count = view.getUint32(offset, true)
  offset += 4
  if (count > MAX_BLOCKS_PER_BATCH) throw new StorageWireError(`response of ${count} blocks exceeds ${MAX_BLOCKS_PER_BATCH}`)
  const metas: Array<{ index: number, cid: CID, len: number, proof?: MerkleProof, proofBytes?: Uint8Array }> = []
  for (let i = 0; i < count; i++) {
    need(10)
    const index = view.getBigUint64(offset, true)
    if (index > BigInt(Number.MAX_SAFE_INTEGER)) throw new StorageWireError('block index out of range')
    const cidLen = view.getUint16(offset + 8, true)
    offset += 10
    need(cidLen + 6)
    if (cidLen === 0) throw new StorageWireError('block without CID')
    const cid = parseCid(bytes.subarray(offset, offset + cidLen))
    offset += cidLen
    const len = view.getUint32(offset, true)
    const proofLen = view.getUint16(offset + 4, true)
    offset += 6
    if (len > MAX_BLOCK_SIZE) throw new StorageWireError(`block of ${len} bytes exceeds ${MAX_BLOCK_SIZE}`)
    need(proofLen)
    const proofBytes = proofLen === 0 ? undefined : bytes.subarray(offset, offset + proofLen)
    const proof = proofBytes === undefined ? undefined : decodeProof(proofBytes)
    offset += proofLen
    metas.push({ index: Number(index), cid, len, proof, proofBytes })
  }
  if (offset !== end) throw new StorageWireError('WantBlocks response metadata has trailing bytes')
  const dataLen = metas.reduce((s, m) => s + m.len, 0)
  if (end + dataLen !== bytes.length) throw new StorageWireError(`WantBlocks response carries ${bytes.length - end} data bytes, its metadata says ${dataLen}`)
  const blocks: DeliveredBlock[] = []
  let dataOffset = end
  for (const m of metas) {
    blocks.push({ index: m.index, cid: m.cid, data: bytes.subarray(dataOffset, dataOffset + m.len), proof: m.proof, proofBytes: m.proofBytes })
    dataOffset += m.len
  }
  return { requestId, treeCid, blocks }
}

/** Sorted distinct indices as contiguous ranges (engine.nim `sendWantBlocksRequest` coalescing). */
export function toRanges (indices: number[]): IndexRange[] {
  const ranges: IndexRange[] = []
  for (const i of indices) {
    const last = ranges[ranges.length - 1]
    if (last !== undefined && last.start + last.count === i) last.count++
    else ranges.push({ start: i, count: 1 })
  }
  return ranges
}
