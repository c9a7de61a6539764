import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  MerkleTree, StorageBadBlockError, StorageWireError, decodeProof, encodeProof, reconstructRoot, treeDepth, verifyProof
} from '../../../src/net/storage/index.ts'

const H = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}
const leaf = (i: number): Uint8Array => H(Buffer.from(`block ${i}`))
const Z = new Uint8Array(32)
const k = (n: number): Uint8Array => Uint8Array.of(n)

describe('dataset Merkle tree (LIP MERKLE-TREE keyed construction)', () => {
  it('keys each node by layer and parity, x|y|key as logos-storage-nim hashes it', () => {
    const [a, b, c] = [leaf(0), leaf(1), leaf(2)]
    // A single leaf still gets one layer: odd and bottom.
    expect(Buffer.from(new MerkleTree([a]).root)).toEqual(Buffer.from(H(a, Z, k(3))))
    expect(Buffer.from(new MerkleTree([a, b]).root)).toEqual(Buffer.from(H(a, b, k(1))))
    // Three leaves: (a, b) even bottom, (c, 0) odd bottom, then their parent even, not bottom.
    expect(Buffer.from(new MerkleTree([a, b, c]).root)).toEqual(Buffer.from(H(H(a, b, k(1)), H(c, Z, k(3)), k(0))))
    // Five leaves: the third layer has an odd node that is not bottom (key 2).
    const l = [0, 1, 2, 3, 4].map(leaf)
    const l1 = [H(l[0] as Uint8Array, l[1] as Uint8Array, k(1)), H(l[2] as Uint8Array, l[3] as Uint8Array, k(1)), H(l[4] as Uint8Array, Z, k(3))]
    const l2 = [H(l1[0] as Uint8Array, l1[1] as Uint8Array, k(0)), H(l1[2] as Uint8Array, Z, k(2))]
    expect(Buffer.from(new MerkleTree(l).root)).toEqual(Buffer.from(H(l2[0] as Uint8Array, l2[1] as Uint8Array, k(0))))
  })

  it('proves every leaf of trees of any size, and the proof binds index, leaf count and leaf', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), (n, pick) => {
      const leaves = Array.from({ length: n }, (_, i) => leaf(i))
      const tree = new MerkleTree(leaves)
      expect(tree.layers.length - 1).toBe(treeDepth(n))
      const i = pick % n
      const proof = tree.proof(i)
      verifyProof(proof, leaves[i] as Uint8Array, tree.root, i, n)
      // The same proof with another leaf, index or leaf count fails.
      expect(() => { verifyProof(proof, leaf(n + 1), tree.root, i, n) }).toThrow(StorageBadBlockError)
      if (n > 1) expect(() => { verifyProof({ ...proof, index: (i + 1) % n }, leaves[i] as Uint8Array, tree.root, (i + 1) % n, n) }).toThrow(StorageBadBlockError)
      expect(() => { verifyProof(proof, leaves[i] as Uint8Array, tree.root, i, n + 1) }).toThrow(StorageBadBlockError)
      // A flipped bit anywhere in the path fails.
      const bad = { ...proof, path: proof.path.map(p => p.slice()) }
      ;(bad.path[0] as Uint8Array)[0] ^= 1
      expect(Buffer.from(reconstructRoot(bad, leaves[i] as Uint8Array)).equals(Buffer.from(tree.root))).toBe(false)
    }), { numRuns: 150 })
  })

  it('encodes proofs as logos-storage-nim wantblocks.nim does, and refuses malformed ones', () => {
    const tree = new MerkleTree(Array.from({ length: 9 }, (_, i) => leaf(i)))
    const proof = tree.proof(8)
    const bytes = encodeProof(proof)
    // mcodec u64 LE (sha2-256 = 0x12), index u64 LE, nleaves u64 LE, path count u32 LE, then u16 LE length + node.
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x12, 0, 0, 0, 0, 0, 0, 0])
    expect(Array.from(bytes.subarray(8, 16))).toEqual([8, 0, 0, 0, 0, 0, 0, 0])
    expect(Array.from(bytes.subarray(16, 24))).toEqual([9, 0, 0, 0, 0, 0, 0, 0])
    expect(Array.from(bytes.subarray(24, 30))).toEqual([4, 0, 0, 0, 32, 0])
    expect(bytes.length).toBe(28 + 4 * 34)
    const back = decodeProof(bytes)
    expect(back.index).toBe(8)
    expect(back.nleaves).toBe(9)
    verifyProof(back, leaf(8), tree.root, 8, 9)
    expect(() => decodeProof(bytes.subarray(0, 20))).toThrow(StorageWireError)
    expect(() => decodeProof(bytes.subarray(0, bytes.length - 1))).toThrow(StorageWireError)
    const deep = bytes.slice()
    new DataView(deep.buffer).setUint32(24, 65, true)
    expect(() => decodeProof(deep)).toThrow(/exceeds 64/)
    expect(() => new MerkleTree([])).toThrow(StorageBadBlockError)
  })
})
