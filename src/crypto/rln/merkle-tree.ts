import { TREE_DEPTH } from './constants.ts'
import { RlnGroupError } from './errors.ts'
import { poseidon } from './poseidon.ts'

export interface MerkleProof {
  /** The sibling of each node on the path, leaf level first. */
  pathElements: bigint[]
  /** 0 when the path node is a left child, 1 when a right child (bit i of the index), leaf level first. */
  pathIndices: number[]
}

/** Poseidon(left, right), the node hash of zerokit's trees (rln/src/hashers.rs PoseidonHash). */
function hashPair (left: bigint, right: bigint): bigint {
  return poseidon([left, right])
}

let zeroCache: bigint[] | undefined

/** zeros[l] = root of an empty subtree of height l; the empty leaf is 0 (zerokit default_leaf). */
export function zeroHashes (depth = TREE_DEPTH): bigint[] {
  if (zeroCache === undefined || zeroCache.length <= depth) {
    const z = [0n]
    for (let i = 0; i < Math.max(depth, TREE_DEPTH); i++) z.push(hashPair(z[i] as bigint, z[i] as bigint))
    zeroCache = z
  }
  return zeroCache.slice(0, depth + 1)
}

/**
 * A sparse binary Merkle tree of fixed depth over Poseidon, equal to zerokit's OptimalMerkleTree: only non-empty
 * nodes are stored, so memory grows with the members, not with the 2^depth capacity.
 */
export class MerkleTree {
  readonly depth: number
  readonly capacity: number
  private readonly zeros: bigint[]
  /** levels[0] = leaves, levels[depth] = { 0: root }; absent entries are the empty subtree of that height. */
  private readonly levels: Array<Map<number, bigint>>
  /** Nodes written since the last drainChanges() (level, index, value; undefined = back to empty). */
  private changes = new Map<string, [number, number, bigint | undefined]>()

  constructor (depth = TREE_DEPTH) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 32) throw new RangeError('depth must be an integer in [1, 32]')
    this.depth = depth
    this.capacity = 2 ** depth
    this.zeros = zeroHashes(depth)
    this.levels = Array.from({ length: depth + 1 }, () => new Map<number, bigint>())
  }

  get root (): bigint {
    return this.levels[this.depth]?.get(0) ?? (this.zeros[this.depth] as bigint)
  }

  leaf (index: number): bigint {
    this.checkIndex(index)
    return this.levels[0]?.get(index) ?? 0n
  }

  /** Sets one leaf and updates its path (depth hashes). */
  set (index: number, leaf: bigint): void {
    this.checkIndex(index)
    this.put(0, index, leaf)
    let i = index
    for (let level = 0; level < this.depth; level++) {
      const left = this.node(level, i & ~1)
      const right = this.node(level, i | 1)
      i >>>= 1
      this.put(level + 1, i, hashPair(left, right))
    }
  }

  /**
   * Sets many leaves, then hashes each touched node once, level by level: about 2n hashes for n adjacent leaves,
   * instead of n * depth. Used when a group is loaded from disk.
   */
  setMany (entries: Iterable<readonly [number, bigint]>): void {
    let touched = new Set<number>()
    for (const [index, leaf] of entries) {
      this.checkIndex(index)
      this.put(0, index, leaf)
      touched.add(index >>> 1)
    }
    for (let level = 0; level < this.depth; level++) {
      const next = new Set<number>()
      for (const parent of touched) {
        this.put(level + 1, parent, hashPair(this.node(level, parent * 2), this.node(level, parent * 2 + 1)))
        next.add(parent >>> 1)
      }
      touched = next
    }
  }

  proof (index: number): MerkleProof {
    this.checkIndex(index)
    const pathElements: bigint[] = []
    const pathIndices: number[] = []
    let i = index
    for (let level = 0; level < this.depth; level++) {
      pathIndices.push(i & 1)
      pathElements.push(this.node(level, i ^ 1))
      i >>>= 1
    }
    return { pathElements, pathIndices }
  }

  private node (level: number, index: number): bigint {
    return this.levels[level]?.get(index) ?? (this.zeros[level] as bigint)
  }

  /** Stores a node, dropping it when it equals the empty subtree so removals free memory. */
  private put (level: number, index: number, value: bigint): void {
    const map = this.levels[level] as Map<number, bigint>
    const empty = value === this.zeros[level]
    if (empty) map.delete(index)
    else map.set(index, value)
    this.changes.set(`${level}:${index}`, [level, index, empty ? undefined : value])
  }

  /** The nodes changed since the last call (for a store that keeps the tree's nodes), and forgets them. */
  drainChanges (): Array<[number, number, bigint | undefined]> {
    const out = [...this.changes.values()]
    this.changes = new Map()
    return out
  }

  /** Puts stored nodes back as they are, without hashing (the store checks the root it gives). */
  loadNodes (nodes: Iterable<readonly [number, number, bigint]>): void {
    for (const [level, index, value] of nodes) {
      if (!Number.isInteger(level) || level < 0 || level > this.depth) throw new RlnGroupError(`a stored node has level ${level}`)
      ;(this.levels[level] as Map<number, bigint>).set(index, value)
    }
    this.changes = new Map()
  }

  private checkIndex (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) {
      throw new RlnGroupError(`leaf index ${index} is outside the tree (capacity ${this.capacity})`)
    }
  }
}

/** The root a Merkle proof leads to (zerokit protocol.rs compute_tree_root, without the leaf derivation). */
export function rootFromProof (leaf: bigint, proof: MerkleProof): bigint {
  let node = leaf
  for (let i = 0; i < proof.pathElements.length; i++) {
    const sibling = proof.pathElements[i] as bigint
    node = proof.pathIndices[i] === 0 ? hashPair(node, sibling) : hashPair(sibling, node)
  }
  return node
}
