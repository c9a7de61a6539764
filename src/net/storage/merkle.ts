import { createHash } from 'node:crypto'
import { MAX_PROOF_DEPTH } from './constants.ts'
import { SHA256_CODE } from './cid.ts'
import { StorageBadBlockError, StorageWireError } from './errors.ts'

/**
 * The dataset Merkle tree (LIP MERKLE-TREE "Keyed Hash Construction"): SHA-256 leaves (the blocks' digests), a keyed
 * binary compression whose key says whether the node is in the bottom layer (bit 0) and whether it has one child
 * (bit 1, the missing child being 32 zero bytes), and at least one layer even for a single leaf.
 *
 * Where the key goes: the LIP's prose says SHA256(key|x|y); every deployed implementation (logos-storage-nim
 * merkletree `compress`, its forks) hashes x|y|key. We hash x|y|key so that our treeCids are the same as
 * logos-storage-nim's for the same blocks.
 */

export const KEY_NONE = 0
export const KEY_BOTTOM = 1
export const KEY_ODD = 2
export const KEY_ODD_BOTTOM = 3

const ZERO = new Uint8Array(32)

export function compress (x: Uint8Array, y: Uint8Array, key: number): Uint8Array {
  const h = createHash('sha256')
  h.update(x)
  h.update(y)
  h.update(Uint8Array.of(key))
  return new Uint8Array(h.digest().buffer)
}

/** A proof for one leaf: siblings from the bottom up (LIP MERKLE-TREE "Interfaces", `MerkleProof`). */
export interface MerkleProof {
  /** The multihash codec of the tree's hash (sha2-256). */
  mcodec: number
  index: number
  nleaves: number
  path: Uint8Array[]
}

/** Layers of the tree (layer 0 = leaves, last = [root]). */
export class MerkleTree {
  readonly layers: Uint8Array[][]

  constructor (leaves: Uint8Array[]) {
    if (leaves.length === 0) throw new StorageBadBlockError('a Merkle tree needs at least one leaf')
    for (const leaf of leaves) if (leaf.length !== 32) throw new StorageBadBlockError('Merkle leaves are 32-byte SHA-256 digests')
    const layers: Uint8Array[][] = [leaves]
    let current = leaves
    let bottom = true
    // A single leaf still gets one layer: its root is compress(leaf, 0, odd|bottom).
    while (current.length > 1 || bottom) {
      const next: Uint8Array[] = []
      const pairs = Math.floor(current.length / 2)
      for (let i = 0; i < pairs; i++) next.push(compress(current[2 * i] as Uint8Array, current[2 * i + 1] as Uint8Array, bottom ? KEY_BOTTOM : KEY_NONE))
      if (current.length % 2 === 1) next.push(compress(current[current.length - 1] as Uint8Array, ZERO, bottom ? KEY_ODD_BOTTOM : KEY_ODD))
      layers.push(next)
      current = next
      bottom = false
    }
    this.layers = layers
  }

  get root (): Uint8Array {
    return (this.layers[this.layers.length - 1] as Uint8Array[])[0] as Uint8Array
  }

  get leafCount (): number {
    return (this.layers[0] as Uint8Array[]).length
  }

  proof (index: number): MerkleProof {
    const n = this.leafCount
    if (!Number.isInteger(index) || index < 0 || index >= n) throw new StorageBadBlockError(`leaf ${index} is outside a tree of ${n}`)
    const path: Uint8Array[] = []
    let k = index
    let m = n
    for (let i = 0; i < this.layers.length - 1; i++) {
      const j = k ^ 1
      path.push(j < m ? (this.layers[i] as Uint8Array[])[j] as Uint8Array : ZERO)
      k = k >> 1
      m = (m + 1) >> 1
    }
    return { mcodec: SHA256_CODE, index, nleaves: n, path }
  }
}

/** Layers above the leaves in a tree of `n` leaves (at least one). */
export function treeDepth (n: number): number {
  let depth = 1
  let m = (n + 1) >> 1
  while (m > 1) {
    m = (m + 1) >> 1
    depth++
  }
  return depth
}

/** The root a proof and a leaf lead to (the parity of each node comes from index and nleaves, never from the proof). */
export function reconstructRoot (proof: MerkleProof, leaf: Uint8Array): Uint8Array {
  let m = proof.nleaves
  let j = proof.index
  let h = leaf
  let bottom = KEY_BOTTOM
  for (const p of proof.path) {
    if ((j & 1) === 1) h = compress(p, h, bottom)
    else if (j === m - 1) h = compress(h, p, bottom + 2)
    else h = compress(h, p, bottom)
    bottom = KEY_NONE
    j = j >> 1
    m = (m + 1) >> 1
  }
  return h
}

/**
 * Checks that `leaf` is leaf `index` of a tree of `nleaves` leaves with `root`: the proof must be for that index and
 * that leaf count, have the depth such a tree has, and lead to the root.
 */
export function verifyProof (proof: MerkleProof, leaf: Uint8Array, root: Uint8Array, index: number, nleaves: number): void {
  if (proof.mcodec !== SHA256_CODE) throw new StorageBadBlockError(`proof hash codec 0x${proof.mcodec.toString(16)} is not sha2-256`)
  if (proof.index !== index) throw new StorageBadBlockError(`proof is for leaf ${proof.index}, not ${index}`)
  if (proof.nleaves !== nleaves) throw new StorageBadBlockError(`proof is for a tree of ${proof.nleaves} leaves, the dataset has ${nleaves}`)
  if (proof.path.length !== treeDepth(nleaves)) throw new StorageBadBlockError(`proof has ${proof.path.length} nodes, a tree of ${nleaves} leaves needs ${treeDepth(nleaves)}`)
  for (const p of proof.path) if (p.length !== 32) throw new StorageBadBlockError('proof nodes are 32 bytes')
  const got = reconstructRoot(proof, leaf)
  if (!Buffer.from(got.buffer, got.byteOffset, 32).equals(Buffer.from(root.buffer, root.byteOffset, root.byteLength))) {
    throw new StorageBadBlockError(`proof of leaf ${index} does not lead to the tree root`)
  }
}

/**
 * Binary proof encoding of the WantBlocks response (logos-storage-nim protocol/wantblocks.nim `encodeProofBinaryInto`):
 * mcodec u64 LE, index u64 LE, nleaves u64 LE, path count u32 LE, then per node u16 LE length + bytes.
 */
export function encodeProof (proof: MerkleProof): Uint8Array {
  const size = 28 + proof.path.reduce((s, p) => s + 2 + p.length, 0)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(proof.mcodec), true)
  view.setBigUint64(8, BigInt(proof.index), true)
  view.setBigUint64(16, BigInt(proof.nleaves), true)
  view.setUint32(24, proof.path.length, true)
  let offset = 28
  for (const node of proof.path) {
    view.setUint16(offset, node.length, true)
    out.set(node, offset + 2)
    offset += 2 + node.length
  }
  return out
}

export function decodeProof (bytes: Uint8Array): MerkleProof {
  if (bytes.length < 28) throw new StorageWireError('proof too short')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const mcodec = view.getBigUint64(0, true)
  const index = view.getBigUint64(8, true)
  const nleaves = view.getBigUint64(16, true)
  const count = view.getUint32(24, true)
  if (count > MAX_PROOF_DEPTH) throw new StorageWireError(`proof path of ${count} nodes exceeds ${MAX_PROOF_DEPTH}`)
  if (index > BigInt(Number.MAX_SAFE_INTEGER) || nleaves > BigInt(Number.MAX_SAFE_INTEGER) || mcodec > 0xffffffffn) throw new StorageWireError('proof fields out of range')
  const path: Uint8Array[] = []
  let offset = 28
  for (let i = 0; i < count; i++) {
    if (offset + 2 > bytes.length) throw new StorageWireError(`proof truncated at node ${i}`)
    const len = view.getUint16(offset, true)
    offset += 2
    if (offset + len > bytes.length) throw new StorageWireError(`proof truncated in node ${i}`)
    path.push(bytes.slice(offset, offset + len))
    offset += len
  }
  if (offset !== bytes.length) throw new StorageWireError('trailing bytes after the proof')
  return { mcodec: Number(mcodec), index: Number(index), nleaves: Number(nleaves), path }
}
