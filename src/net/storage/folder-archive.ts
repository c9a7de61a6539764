import { StorageBadManifestError } from './errors.ts'

/**
 * A folder as one dataset ("logos-folder/1"), so a tree of files (a package repository, say) travels as a single
 * download and any file is a byte range of it: `u32 LE header length | header (UTF-8 JSON { format, files: { path:
 * [offset, length] } }) | the files' bytes`, offsets counted from the end of the header. Paths are relative, with '/'.
 */
export const FOLDER_FORMAT = 'logos-folder/1'

/** Largest header accepted: room for about 100,000 paths. */
export const MAX_FOLDER_HEADER_BYTES = 16 * 1024 * 1024

export interface FolderIndex {
  /** Where the files' bytes start in the dataset. */
  dataOffset: number
  files: Map<string, { offset: number, length: number }>
}

/** The header of a folder dataset holding `files` (path -> length), in this order. */
export function encodeFolderHeader (files: Array<{ path: string, length: number }>): Uint8Array {
  const index: Record<string, [number, number]> = {}
  let offset = 0
  for (const f of files) {
    index[f.path] = [offset, f.length]
    offset += f.length
  }
  const json = new TextEncoder().encode(JSON.stringify({ format: FOLDER_FORMAT, files: index }))
  const out = new Uint8Array(4 + json.length)
  new DataView(out.buffer).setUint32(0, json.length, true)
  out.set(json, 4)
  return out
}

/** The header length a folder dataset starts with (its first 4 bytes). */
export function folderHeaderLength (first4: Uint8Array): number {
  if (first4.length < 4) throw new StorageBadManifestError('not a folder dataset: shorter than 4 bytes')
  const n = new DataView(first4.buffer, first4.byteOffset, 4).getUint32(0, true)
  if (n > MAX_FOLDER_HEADER_BYTES) throw new StorageBadManifestError(`folder header of ${n} bytes exceeds ${MAX_FOLDER_HEADER_BYTES}`)
  return n
}

/** Parses the header bytes (after the length) and checks every range lies inside a dataset of `datasetSize` bytes. */
export function decodeFolderHeader (json: Uint8Array, datasetSize: number): FolderIndex {
  let parsed: { format?: unknown, files?: unknown }
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json)) as { format?: unknown, files?: unknown }
  } catch (err) {
    throw new StorageBadManifestError('folder header is not JSON', { cause: err })
  }
  if (parsed.format !== FOLDER_FORMAT || parsed.files === null || typeof parsed.files !== 'object') throw new StorageBadManifestError(`not a ${FOLDER_FORMAT} dataset`)
  const dataOffset = 4 + json.length
  const files = new Map<string, { offset: number, length: number }>()
  for (const [path, range] of Object.entries(parsed.files as Record<string, unknown>)) {
    const [offset, length] = Array.isArray(range) ? range as unknown[] : []
    if (typeof offset !== 'number' || typeof length !== 'number' || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) ||
      offset < 0 || length < 0 || dataOffset + offset + length > datasetSize) {
      throw new StorageBadManifestError(`folder entry ${path} has a bad range`)
    }
    files.set(path, { offset: dataOffset + offset, length })
  }
  return { dataOffset, files }
}
