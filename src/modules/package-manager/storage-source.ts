import { MAX_READ_BYTES, decodeFolderHeader, folderHeaderLength } from '../../net/storage/index.ts'
import type { FolderIndex } from '../../net/storage/index.ts'
import { throwIfAborted } from '../../common/index.ts'
import { FetchFailedError, SourceNotFoundError } from './errors.ts'
import { assertSafePath } from './package-format.ts'
import type { PackageSource, SourceRead, SourceReadOptions } from './source.ts'

/** Calls a method of another module (the package-manager module hands in `ctx.call`). */
export type ModuleCall = <R>(target: string, method: string, params: unknown, options?: { signal?: AbortSignal, timeout?: number }) => Promise<R>

/** URL scheme of repositories served from Logos Storage. */
export const STORAGE_SCHEME = 'logos-storage:'

/** Deadline of one read through the storage module: the first one downloads the whole dataset. */
const STORAGE_READ_TIMEOUT_MS = 10 * 60 * 1000

/**
 * A repository published to Logos Storage as one "logos-folder/1" dataset (the storage module's `publishFolder`):
 * `logos-storage:<manifest CID>`. The first read downloads the dataset from the providers the storage module finds
 * (verified block by block); every file is then a byte range of it, read from the local store, resumable at any
 * offset. A URL names one snapshot of the repository. Like every source it is untrusted: TUF metadata, manifests and
 * chunks are checked above it.
 */
export class StorageSource implements PackageSource {
  readonly kind = 'logos-storage'
  readonly url: string
  private readonly cid: string
  private readonly call: ModuleCall
  private index: Promise<FolderIndex> | undefined
  private closed = false

  constructor (url: string, call: ModuleCall) {
    this.url = url
    this.cid = url.slice(STORAGE_SCHEME.length).replace(/^\/\//, '').replace(/\/$/, '')
    this.call = call
  }

  private async readRange (offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      const { data } = await this.call<{ data: Uint8Array }>('storage', 'read', { cid: this.cid, offset, length }, { signal, timeout: STORAGE_READ_TIMEOUT_MS })
      return data
    } catch (err) {
      if (signal?.aborted === true) throw err
      throw new FetchFailedError(`${this.url}: ${(err as Error).message}`, { cause: err })
    }
  }

  private async loadIndex (signal?: AbortSignal): Promise<FolderIndex> {
    const manifest = await (async () => {
      try {
        return await this.call<{ datasetSize: number }>('storage', 'manifest', { cid: this.cid }, { signal, timeout: STORAGE_READ_TIMEOUT_MS })
      } catch (err) {
        throw new FetchFailedError(`${this.url}: ${(err as Error).message}`, { cause: err })
      }
    })()
    const length = folderHeaderLength(await this.readRange(0, 4, signal))
    const parts: Uint8Array[] = []
    for (let at = 0; at < length; at += MAX_READ_BYTES) parts.push(await this.readRange(4 + at, Math.min(MAX_READ_BYTES, length - at), signal))
    return decodeFolderHeader(Buffer.concat(parts), manifest.datasetSize)
  }

  async read (path: string, options: SourceReadOptions): Promise<SourceRead> {
    if (this.closed) throw new FetchFailedError(`${this.url} is closed`)
    assertSafePath(path)
    this.index ??= this.loadIndex(options.signal)
    let index: FolderIndex
    try {
      index = await this.index
    } catch (err) {
      this.index = undefined
      throw err
    }
    const found = index.files.get(path)
    if (found === undefined) throw new SourceNotFoundError(path, this.url)
    const entry = found
    const offset = Math.min(options.offset ?? 0, entry.length)
    const end = entry.offset + entry.length
    const readRange = this.readRange.bind(this)
    const signal = options.signal
    async function * body (): AsyncGenerator<Uint8Array> {
      for (let at = entry.offset + offset; at < end; at += MAX_READ_BYTES) {
        throwIfAborted(signal)
        yield await readRange(at, Math.min(MAX_READ_BYTES, end - at), signal)
      }
    }
    return { offset, body: body() }
  }

  async close (): Promise<void> {
    this.closed = true
  }
}
