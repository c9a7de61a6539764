import { canonicalize } from '@tufjs/canonical-json'
import type { TargetFile } from '@tufjs/models'
import { randomBytes } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Updater } from 'tuf-js'
import type { Fetcher } from 'tuf-js'
import { throwIfAborted } from '../../common/index.ts'
import {
  DOWNLOAD_CONCURRENCY, MAX_DESCRIPTOR_BYTES, MAX_INDEX_BYTES, TUF_MAX_ROOT_ROTATIONS, TUF_ROOT_MAX_BYTES, TUF_SNAPSHOT_MAX_BYTES,
  TUF_TARGETS_MAX_BYTES, TUF_TIMESTAMP_MAX_BYTES
} from './constants.ts'
import type { ChunkStore } from './chunk-store.ts'
import { mapLimit } from './concurrency.ts'
import { downloadChunk, fetchBytes } from './download.ts'
import type { TransferMeter } from './download.ts'
import {
  EndlessDataError, PackageNotFoundError, RepositoryConfigError, RepositoryError, SourceNotFoundError, TargetMismatchError
} from './errors.ts'
import { sha256Hex } from './hash.ts'
import { parseDescriptor, parseManifest } from './package-format.ts'
import type { PackageManifest } from './package-format.ts'
import { INDEX_FORMAT, INDEX_TARGET, manifestTarget, targetFilePath } from './repository.ts'
import type { IndexEntry, RepositoryIndex } from './repository.ts'
import type { PackageSource } from './source.ts'
import { classifyTufError, tufNotFound } from './tuf-errors.ts'

/** tuf-js speaks in URLs; ours all start here and map to source paths. */
const BASE = 'logos-source://repository/'

/** tuf-js's Fetcher over a PackageSource: bounded reads (endless data), resumed on dropped connections, counted. */
class SourceFetcher implements Fetcher {
  private readonly source: PackageSource
  private readonly meter: TransferMeter
  private readonly signal: AbortSignal | undefined
  /** The last typed error we raised: tuf-js folds some errors into strings, this gets the type back. */
  lastError: Error | undefined

  constructor (source: PackageSource, meter: TransferMeter, signal: AbortSignal | undefined) {
    this.source = source
    this.meter = meter
    this.signal = signal
  }

  async downloadBytes (url: string, maxLength: number): Promise<Buffer> {
    if (!url.startsWith(BASE)) throw new RepositoryError(`unexpected metadata address ${url}`)
    const path = decodeURIComponent(url.slice(BASE.length))
    try {
      return Buffer.from(await fetchBytes(this.source, path, { ...this.meter, maxBytes: maxLength, signal: this.signal }))
    } catch (err) {
      this.lastError = err as Error
      // tuf-js ends its walk through root versions at the first 404 (TUF 5.3.3).
      if (err instanceof SourceNotFoundError) throw tufNotFound(err.message)
      throw err
    }
  }

  async downloadFile<T> (url: string, maxLength: number, handler: (file: string) => Promise<T>): Promise<T> {
    const bytes = await this.downloadBytes(url, maxLength)
    const dir = join(tmpdir(), `logos-tuf-${randomBytes(6).toString('hex')}`)
    await mkdir(dir, { recursive: true })
    try {
      const file = join(dir, 'target')
      await writeFile(file, bytes)
      return await handler(file)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface RepositoryClientInit {
  name: string
  source: PackageSource
  /** Holds root.json (the trust anchor) and the metadata trusted so far (so rollbacks are seen across runs). */
  metadataDir: string
  meter?: TransferMeter
  signal?: AbortSignal
}

/** A verified view of one repository: TUF metadata through tuf-js, then the index and manifests as signed targets. */
export class RepositoryClient {
  readonly name: string
  readonly source: PackageSource
  private readonly metadataDir: string
  private readonly meter: TransferMeter
  private readonly signal: AbortSignal | undefined
  private updater: Updater | undefined
  private fetcher: SourceFetcher | undefined
  private cachedIndex: RepositoryIndex | undefined

  constructor (init: RepositoryClientInit) {
    this.name = init.name
    this.source = init.source
    this.metadataDir = init.metadataDir
    this.meter = init.meter ?? {}
    this.signal = init.signal
  }

  /** Runs the TUF client workflow (root rotation, timestamp, snapshot, targets), refusing any attack it detects. */
  async refresh (): Promise<void> {
    throwIfAborted(this.signal)
    this.fetcher = new SourceFetcher(this.source, this.meter, this.signal)
    try {
      this.updater = new Updater({
        metadataDir: this.metadataDir,
        metadataBaseUrl: `${BASE}metadata/`,
        fetcher: this.fetcher,
        config: {
          maxRootRotations: TUF_MAX_ROOT_ROTATIONS,
          rootMaxLength: TUF_ROOT_MAX_BYTES,
          timestampMaxLength: TUF_TIMESTAMP_MAX_BYTES,
          snapshotMaxLength: TUF_SNAPSHOT_MAX_BYTES,
          targetsMaxLength: TUF_TARGETS_MAX_BYTES
        }
      })
    } catch (err) {
      throw new RepositoryConfigError(`repository ${this.name}: no usable trusted root in ${this.metadataDir}: ${(err as Error).message}`, { cause: err })
    }
    try {
      await this.updater.refresh()
    } catch (err) {
      throw classifyTufError(err, this.fetcher.lastError)
    }
    this.cachedIndex = undefined
  }

  private async target (targetPath: string, maxBytes: number): Promise<{ bytes: Uint8Array, info: TargetFile }> {
    if (this.updater === undefined) await this.refresh()
    const updater = this.updater as Updater
    let info: TargetFile | undefined
    try {
      info = await updater.getTargetInfo(targetPath)
    } catch (err) {
      throw classifyTufError(err, this.fetcher?.lastError)
    }
    if (info === undefined) throw new TargetMismatchError(`${targetPath} is not a signed target of repository ${this.name}`, { data: { target: targetPath } })
    const sha256 = info.hashes.sha256
    if (sha256 === undefined) throw new RepositoryError(`target ${targetPath} has no sha256 hash`)
    if (info.length > maxBytes) throw new EndlessDataError(`target ${targetPath}`, maxBytes)
    let bytes: Uint8Array
    try {
      bytes = await fetchBytes(this.source, targetFilePath(targetPath, sha256), { ...this.meter, maxBytes: info.length, signal: this.signal })
    } catch (err) {
      if (err instanceof SourceNotFoundError) throw new TargetMismatchError(`${this.name} does not serve ${targetPath} with the signed hash`, { cause: err })
      throw err
    }
    try {
      await info.verify(Readable.from([bytes]))
    } catch (err) {
      throw new TargetMismatchError(`${targetPath} from ${this.name} is not the signed target (arbitrary package?): ${(err as Error).message}`, { cause: err, data: { target: targetPath } })
    }
    return { bytes, info }
  }

  /** Every package version the repository publishes, from its signed index. */
  async index (): Promise<RepositoryIndex> {
    if (this.cachedIndex !== undefined) return this.cachedIndex
    const { bytes } = await this.target(INDEX_TARGET, MAX_INDEX_BYTES)
    let index: RepositoryIndex
    try {
      index = JSON.parse(new TextDecoder().decode(bytes)) as RepositoryIndex
    } catch (err) {
      throw new RepositoryError(`index of ${this.name} is not JSON`, { cause: err })
    }
    if (index === null || typeof index !== 'object' || index.format !== INDEX_FORMAT || typeof index.packages !== 'object' || index.packages === null) {
      throw new RepositoryError(`index of ${this.name} is not a ${INDEX_FORMAT} index`)
    }
    this.cachedIndex = index
    return index
  }

  /**
   * A package's manifest: its signed descriptor (a TUF target), then the manifest chunks the store lacks, each
   * checked against its hash, then the whole against the descriptor's hash and size; finally the manifest must agree
   * with the index entry it was chosen by.
   */
  async manifest (name: string, version: string, store: ChunkStore): Promise<{ manifest: PackageManifest, bytes: Uint8Array, sha256: string, entry: IndexEntry }> {
    const entry = (await this.index()).packages[name]?.[version]
    if (entry === undefined) throw new PackageNotFoundError(name, version)
    const target = manifestTarget(name, version)
    if (entry.manifest !== target) throw new TargetMismatchError(`index names ${entry.manifest} for ${name}@${version}, expected ${target}`)
    const descriptor = parseDescriptor((await this.target(target, MAX_DESCRIPTOR_BYTES)).bytes)
    if (descriptor.name !== name || descriptor.version !== version) throw new TargetMismatchError(`target ${target} describes ${descriptor.name}@${descriptor.version}`)
    const parts = await mapLimit(descriptor.manifest.chunks, DOWNLOAD_CONCURRENCY, async ([hash, len]) => {
      await downloadChunk(this.source, store, hash, len, { ...this.meter, signal: this.signal })
      return await store.get(hash, len)
    })
    const bytes = new Uint8Array(Buffer.concat(parts))
    const actual = sha256Hex(bytes)
    if (bytes.length !== descriptor.manifest.size || actual !== descriptor.manifest.sha256) {
      throw new TargetMismatchError(`manifest of ${name}@${version} hashes to ${actual}, its signed descriptor says ${descriptor.manifest.sha256}`)
    }
    const manifest = parseManifest(bytes)
    if (manifest.name !== name || manifest.version !== version) {
      throw new TargetMismatchError(`target ${target} holds ${manifest.name}@${manifest.version}`)
    }
    if (canonicalize(manifest.dependencies) !== canonicalize(entry.dependencies) || manifest.size !== entry.size) {
      throw new TargetMismatchError(`manifest of ${name}@${version} disagrees with the repository index (dependencies or size)`)
    }
    return { manifest, bytes, sha256: sha256Hex(bytes), entry }
  }
}
