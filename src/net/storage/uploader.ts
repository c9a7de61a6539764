import { randomBytes } from 'node:crypto'
import { BLOCK_CODEC, CID_VERSION, SHA256_CODE, TREE_CODEC, cidOf, cidToString, sha256 } from './cid.ts'
import type { CID } from './cid.ts'
import type { BlockStore } from './block-store.ts'
import { TARGET_BATCH_BYTES } from './constants.ts'
import { StorageCancelledError, StorageParamsError } from './errors.ts'
import { blockCount, encodeManifest, isValidBlockSize, manifestCidOf } from './manifest.ts'
import type { Manifest } from './manifest.ts'
import { MerkleTree, encodeProof } from './merkle.ts'

export interface UploadOptions {
  blockSize: number
  filename?: string
  mimetype?: string
  /** When known, the quota is checked for the whole dataset before the first byte is stored. */
  expectedSize?: number
}

export interface UploadResult {
  cid: CID
  manifest: Manifest
}

/**
 * One dataset being stored: bytes come in any sizes, are cut into blocks of `blockSize` (the last one zero-padded,
 * CODEX-BLOCK-EXCHANGE "Block Specifications"), hashed (the leaves) and written under a temporary key as they
 * come. `finalize` builds the Merkle tree, moves the blocks under their treeCid with their proofs, and stores the
 * manifest, whose CID it returns. `abort` deletes what was written.
 */
export class UploadSession {
  readonly id: string
  readonly options: UploadOptions
  private readonly store: BlockStore
  private readonly leaves: Uint8Array[] = []
  private readonly chunks: number[] = []
  private readonly batch: Uint8Array[] = []
  private stored = 0
  private partial: Uint8Array
  private partialLength = 0
  private size = 0
  private state: 'open' | 'finalized' | 'aborted' = 'open'

  constructor (store: BlockStore, options: UploadOptions) {
    if (!isValidBlockSize(options.blockSize)) throw new StorageParamsError(`block size ${options.blockSize} is not a power of two from 4 KiB to 512 KiB`)
    this.store = store
    this.options = options
    this.id = randomBytes(8).toString('hex')
    this.partial = new Uint8Array(options.blockSize)
    if (options.expectedSize !== undefined) store.checkSpace(Math.ceil(options.expectedSize / options.blockSize) * options.blockSize)
  }

  get bytesWritten (): number {
    return this.size
  }

  get isOpen (): boolean {
    return this.state === 'open'
  }

  write (chunk: Uint8Array): void {
    if (this.state !== 'open') throw new StorageCancelledError(`upload ${this.id}`)
    const bs = this.options.blockSize
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(bs - this.partialLength, chunk.length - offset)
      if (this.partialLength === 0 && n === bs) {
        this.addBlock(chunk.slice(offset, offset + bs))
      } else {
        this.partial.set(chunk.subarray(offset, offset + n), this.partialLength)
        this.partialLength += n
        if (this.partialLength === bs) {
          this.addBlock(this.partial)
          this.partial = new Uint8Array(bs)
          this.partialLength = 0
        }
      }
      offset += n
    }
    this.size += chunk.length
  }

  private addBlock (data: Uint8Array): void {
    this.leaves.push(sha256(data))
    this.batch.push(data)
    if (this.batch.length * this.options.blockSize >= TARGET_BATCH_BYTES * 8) this.flush()
  }

  private flush (): void {
    if (this.batch.length === 0) return
    try {
      this.chunks.push(...this.store.putChunks(this.batch))
      this.stored += this.batch.length * this.options.blockSize
    } catch (err) {
      this.abort()
      throw err
    } finally {
      this.batch.length = 0
    }
  }

  finalize (): UploadResult {
    if (this.state !== 'open') throw new StorageCancelledError(`upload ${this.id}`)
    if (this.size === 0) {
      this.abort()
      throw new StorageParamsError('an empty dataset cannot be stored (LIP DATASETS: a dataset has at least one block)')
    }
    if (this.partialLength > 0) this.addBlock(this.partial) // zero-padded: the rest of `partial` is zeros
    this.flush()
    const tree = new MerkleTree(this.leaves)
    const treeCid = cidOf(TREE_CODEC, tree.root)
    const proofs = this.leaves.map((_, i) => encodeProof(tree.proof(i)))
    const manifest: Manifest = {
      treeCid,
      blockSize: this.options.blockSize,
      datasetSize: this.size,
      codec: BLOCK_CODEC,
      hcodec: SHA256_CODE,
      version: CID_VERSION,
      filename: this.options.filename,
      mimetype: this.options.mimetype
    }
    const encoded = encodeManifest(manifest)
    const cid = manifestCidOf(encoded)
    try {
      const bs = this.options.blockSize
      this.store.commitTree(treeCid.bytes, this.leaves.map((hash, index) => ({ index, hash, chunk: this.chunks[index] as number, size: bs, proof: proofs[index] as Uint8Array })))
      this.store.putManifest(cidToString(cid), treeCid.bytes, encoded, blockCount(manifest))
    } catch (err) {
      this.abort()
      throw err
    }
    this.state = 'finalized'
    return { cid, manifest }
  }

  abort (): void {
    if (this.state !== 'open') return
    this.state = 'aborted'
    this.store.deleteChunks(this.chunks, this.stored)
  }
}

/** The block CID of a leaf (for the wire). */
export function blockCidOf (hash: Uint8Array): CID {
  return cidOf(BLOCK_CODEC, hash)
}
