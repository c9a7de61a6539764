import { BLOCK_CODEC, CID_VERSION, MANIFEST_CODEC, SHA256_CODE, TREE_CODEC, cidOf, cidToString, parseCid, sha256 } from './cid.ts'
import type { CID } from './cid.ts'
import { MAX_BLOCK_SIZE, MAX_MANIFEST_BYTES, MAX_MANIFEST_TEXT, MIN_BLOCK_SIZE } from './constants.ts'
import { StorageBadManifestError } from './errors.ts'
import { ProtoWriter, readFields, safeNumber } from './protobuf.ts'

/**
 * The dataset manifest (CODEX-MANIFEST "Manifest Attributes"; logos-storage-nim manifest/coders.nim): a protobuf
 * `Header` { treeCid = 1, blockSize = 2, datasetSize = 3, codec = 4, hcodec = 5, version = 6, filename = 7,
 * mimetype = 8 } carried as field 1 of an outer message (the dag-pb `Data` position nim writes it in). The dataset
 * id is the CIDv1 (codec `codex-manifest`, SHA-256) of these bytes (LIP DATASETS "Identifying Datasets and Blocks").
 */
export interface Manifest {
  treeCid: CID
  blockSize: number
  datasetSize: number
  codec: number
  hcodec: number
  version: number
  filename?: string
  mimetype?: string
}

export function isValidBlockSize (n: number): boolean {
  return Number.isInteger(n) && n >= MIN_BLOCK_SIZE && n <= MAX_BLOCK_SIZE && (n & (n - 1)) === 0
}

/** Blocks in the dataset: ceil(datasetSize / blockSize); the last one is zero-padded to blockSize. */
export function blockCount (m: Pick<Manifest, 'datasetSize' | 'blockSize'>): number {
  return Math.ceil(m.datasetSize / m.blockSize)
}

function checkText (value: string | undefined, name: string): void {
  if (value === undefined) return
  if (value.length > MAX_MANIFEST_TEXT) throw new StorageBadManifestError(`${name} longer than ${MAX_MANIFEST_TEXT} characters`)
}

/** Refuses a manifest this implementation cannot serve or verify. */
export function checkManifest (m: Manifest): void {
  if (!isValidBlockSize(m.blockSize)) throw new StorageBadManifestError(`block size ${m.blockSize} is not a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`)
  if (!Number.isSafeInteger(m.datasetSize) || m.datasetSize < 1) throw new StorageBadManifestError('a dataset has at least one byte (LIP DATASETS: at least one block)')
  if (m.codec !== BLOCK_CODEC) throw new StorageBadManifestError(`dataset codec 0x${m.codec.toString(16)} is not codex-block`)
  if (m.hcodec !== SHA256_CODE) throw new StorageBadManifestError(`hash codec 0x${m.hcodec.toString(16)} is not sha2-256`)
  if (m.version !== CID_VERSION) throw new StorageBadManifestError(`CID version ${m.version} is not 1`)
  if (m.treeCid.code !== TREE_CODEC) throw new StorageBadManifestError('treeCid is not a codex-root CID')
  checkText(m.filename, 'filename')
  checkText(m.mimetype, 'mimetype')
}

export function encodeManifest (m: Manifest): Uint8Array {
  checkManifest(m)
  const header = new ProtoWriter()
    .bytes(1, m.treeCid.bytes)
    .uint(2, m.blockSize)
    .uint(3, m.datasetSize)
    .uint(4, m.codec)
    .uint(5, m.hcodec)
    .uint(6, m.version)
  if (m.filename !== undefined) header.string(7, m.filename)
  if (m.mimetype !== undefined) header.string(8, m.mimetype)
  return new ProtoWriter().message(1, header).finish()
}

export function decodeManifest (bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new StorageBadManifestError(`manifest of ${bytes.length} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  try {
    const outer = readFields(bytes).find(f => f.field === 1 && f.wire === 2)
    if (outer === undefined) throw new StorageBadManifestError('manifest has no header')
    const f = new Map<number, { value: bigint, bytes: Uint8Array, wire: number }>()
    for (const field of readFields(outer.bytes)) f.set(field.field, field)
    const need = (n: number, wire: number, name: string): { value: bigint, bytes: Uint8Array } => {
      const v = f.get(n)
      if (v === undefined || v.wire !== wire) throw new StorageBadManifestError(`manifest lacks ${name}`)
      return v
    }
    const text = (n: number): string | undefined => {
      const v = f.get(n)
      return v === undefined || v.wire !== 2 ? undefined : new TextDecoder('utf-8', { fatal: true }).decode(v.bytes)
    }
    const m: Manifest = {
      treeCid: parseCid(need(1, 2, 'treeCid').bytes, TREE_CODEC),
      blockSize: safeNumber(need(2, 0, 'blockSize').value, 'blockSize'),
      datasetSize: safeNumber(need(3, 0, 'datasetSize').value, 'datasetSize'),
      codec: safeNumber(need(4, 0, 'codec').value, 'codec'),
      hcodec: safeNumber(need(5, 0, 'hcodec').value, 'hcodec'),
      version: safeNumber(need(6, 0, 'version').value, 'version'),
      filename: text(7),
      mimetype: text(8)
    }
    checkManifest(m)
    return m
  } catch (err) {
    if (err instanceof StorageBadManifestError) throw err
    throw new StorageBadManifestError(`manifest cannot be decoded: ${(err as Error).message}`, { cause: err })
  }
}

/** The dataset id: CIDv1(codex-manifest, SHA-256(encoded manifest)). */
export function manifestCidOf (encoded: Uint8Array): CID {
  return cidOf(MANIFEST_CODEC, sha256(encoded))
}

/** The manifest as plain values (what the module hands out). */
export interface ManifestInfo {
  cid: string
  treeCid: string
  blockSize: number
  datasetSize: number
  blocks: number
  filename?: string
  mimetype?: string
}

export function manifestInfo (cid: CID | string, m: Manifest): ManifestInfo {
  const info: ManifestInfo = {
    cid: typeof cid === 'string' ? cid : cidToString(cid),
    treeCid: cidToString(m.treeCid),
    blockSize: m.blockSize,
    datasetSize: m.datasetSize,
    blocks: blockCount(m)
  }
  if (m.filename !== undefined) info.filename = m.filename
  if (m.mimetype !== undefined) info.mimetype = m.mimetype
  return info
}
