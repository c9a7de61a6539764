import { resolve } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr as toMultiaddr } from '@multiformats/multiaddr'
import type { ComponentLogger, Logger, PeerId, Startable } from '@libp2p/interface'
import { delay } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { BlockExchange } from './block-exchange.ts'
import type { ExchangeComponents } from './block-exchange.ts'
import { BlockStore } from './block-store.ts'
import type { BlockStoreOptions, StoreSpace } from './block-store.ts'
import { MANIFEST_CODEC, cidToString, parseCid } from './cid.ts'
import {
  BATCH_TIMEOUT_MS, DEFAULT_BLOCK_SIZE, MAINTENANCE_INTERVAL_MS, MANIFEST_RETRIES, MANIFEST_RETRY_DELAY_MS,
  MAX_BLOCKS_PER_BATCH, MAX_CONCURRENT_DOWNLOADS, MAX_OPEN_UPLOADS, MAX_READ_BYTES, MAX_WANTLIST_ENTRIES, PIPELINE_DEPTH,
  PROVIDER_LOOKUP_LIMIT, STALL_TIMEOUT_MS
} from './constants.ts'
import { Download } from './downloader.ts'
import type { DownloadProgress, DownloadStats, DownloadTuning } from './downloader.ts'
import {
  StorageAlreadyOpenError, StorageBusyError, StorageNoProvidersError, StorageNotFoundError, StorageNotOpenError,
  StorageParamsError, StorageRequestError, StorageUnknownUploadError
} from './errors.ts'
import { ManifestProtocol } from './manifest-protocol.ts'
import { blockCount, decodeManifest, manifestInfo } from './manifest.ts'
import type { Manifest, ManifestInfo } from './manifest.ts'
import { PRESENCE_DONT_HAVE, PRESENCE_HAVE_RANGE, toRanges } from './messages.ts'
import type { BlockPresence, DeliveredBlock, WantBlocksRequest, WantEntry } from './messages.ts'
import { Advertiser, combinedRouting, dhtRouting, discoveryRouting } from './providers.ts'
import type { ContentRoutingLike, DiscoveryLike, Provider, ProviderRouting } from './providers.ts'
import { UploadSession, blockCidOf } from './uploader.ts'
import type { UploadOptions, UploadResult } from './uploader.ts'

/** The libp2p components the service uses (a subset, so tests can hand in just these). */
export interface StorageComponents extends ExchangeComponents {
  peerId: PeerId
  logger?: ComponentLogger
  /** libp2p's event bus: 'peer:disconnect' ends the peer's requests at once. */
  events?: {
    addEventListener: (type: 'peer:disconnect', listener: (e: CustomEvent<PeerId>) => void) => void
    removeEventListener: (type: 'peer:disconnect', listener: (e: CustomEvent<PeerId>) => void) => void
  }
}

export interface StorageServiceInit extends BlockStoreOptions {
  /** Open the block store in this folder at start (else call `open`). */
  dataDir?: string
  /** Block size of uploads that do not choose (default 64 KiB). */
  blockSize?: number
  /**
   * Where providers are announced and found: 'discovery' (capability discovery, `components.discovery`), 'dht'
   * (libp2p content routing: the Kad-DHT), 'both' (default: whichever of the two the node has), or a routing of
   * one's own.
   */
  routing?: 'discovery' | 'dht' | 'both' | ProviderRouting
  pipelineDepth?: number
  batchTimeoutMs?: number
  stallTimeoutMs?: number
  maintenanceIntervalMs?: number
  /** Rounds of provider lookup for a manifest (default MANIFEST_RETRIES), MANIFEST_RETRY_DELAY_MS apart. */
  manifestRetries?: number
}

export interface FetchOptions extends AbortOptions {
  onProgress?: (p: DownloadProgress) => void
  /** Providers to ask first (besides those routing finds). */
  providers?: Provider[]
  /** Told what the download did (requests, blocks received and rejected, peers used and banned) when it ends. */
  onStats?: (stats: DownloadStats) => void
}

export interface LocalManifest extends ManifestInfo {
  /** Whether every block is here. */
  complete: boolean
  blocksHere: number
  expiresAt: number
}

interface ActiveDownload {
  download: Download
  promise: Promise<ManifestInfo>
  listeners: Set<(p: DownloadProgress) => void>
  statsListeners: Set<(s: DownloadStats) => void>
  controller: AbortController
  callers: number
}

/** The storage node as other code sees it (the js-libp2p service). */
export interface Storage {
  readonly isOpen: boolean
  readonly dir: string | undefined
  open: (dir: string, options?: BlockStoreOptions) => void
  close: () => void
  createUpload: (options?: Partial<UploadOptions>) => UploadSession
  upload: (id: string) => UploadSession
  finalizeUpload: (id: string) => UploadResult
  cancelUpload: (id: string) => void
  store: (data: Uint8Array | AsyncIterable<Uint8Array>, options?: Partial<UploadOptions> & AbortOptions) => Promise<UploadResult>
  manifest: (cid: string, options?: AbortOptions & { fetch?: boolean, providers?: Provider[] }) => Promise<ManifestInfo>
  fetch: (cid: string, options?: FetchOptions) => Promise<ManifestInfo>
  read: (cid: string, offset: number, length: number) => Uint8Array
  exists: (cid: string) => boolean
  remove: (cid: string) => { removed: boolean, bytes: number }
  space: () => StoreSpace
  manifests: () => LocalManifest[]
  downloads: () => Array<{ cid: string, progress: DownloadProgress, stats: DownloadStats }>
  findProviders: (cid: string, options?: AbortOptions & { limit?: number }) => Promise<Provider[]>
}

/**
 * Logos Storage as a js-libp2p service: the block store, /storage/blockexc/1.0.0 and /storage/manifest/1.0.0, the
 * provider announcements, uploads and parallel, verified, resumable downloads.
 */
export class StorageService implements Storage, Startable {
  private readonly components: StorageComponents
  private readonly init: StorageServiceInit
  private readonly log: Logger
  private readonly exchange: BlockExchange
  private readonly manifestProtocol: ManifestProtocol
  private readonly uploads = new Map<string, UploadSession>()
  private readonly active = new Map<string, ActiveDownload>()
  private readonly tuning: DownloadTuning
  private db: BlockStore | undefined
  private routing: ProviderRouting | undefined
  private advertiser: Advertiser | undefined
  private maintenance?: ReturnType<typeof setInterval>
  private started = false

  constructor (components: StorageComponents, init: StorageServiceInit = {}) {
    this.components = components
    this.init = init
    this.log = (components.logger ?? defaultLogger()).forComponent('logos:storage')
    this.tuning = {
      pipelineDepth: init.pipelineDepth ?? PIPELINE_DEPTH,
      batchTimeoutMs: init.batchTimeoutMs ?? BATCH_TIMEOUT_MS,
      stallTimeoutMs: init.stallTimeoutMs ?? STALL_TIMEOUT_MS
    }
    this.exchange = new BlockExchange(components, {
      onWantList: (peer, entries) => this.onWantList(peer, entries),
      onPresence: (peer, presences) => { this.onPresence(peer, presences) },
      serveBlocks: (peer, req) => this.serveBlocks(peer, req)
    }, this.log)
    this.manifestProtocol = new ManifestProtocol(components, (cid) => this.db?.getManifest(cid)?.bytes)
  }

  readonly [Symbol.toStringTag] = '@logos/storage'

  private readonly onDisconnect = (e: CustomEvent<PeerId>): void => {
    this.exchange.peerGone(e.detail)
    for (const a of this.active.values()) a.download.onPeerGone(e.detail)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.routing = this.resolveRouting()
    this.advertiser = this.routing === undefined ? undefined : new Advertiser(this.routing, (cid, err) => { this.log('advertising %s failed: %s', cidToString(cid), (err as Error).message) })
    this.advertiser?.start()
    await this.exchange.start()
    await this.manifestProtocol.start()
    this.components.events?.addEventListener('peer:disconnect', this.onDisconnect)
    this.started = true
    if (this.init.dataDir !== undefined) this.open(this.init.dataDir, this.init)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.components.events?.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const a of this.active.values()) a.controller.abort()
    await this.exchange.stop()
    await this.manifestProtocol.stop()
    this.advertiser?.stop()
    this.close()
  }

  private resolveRouting (): ProviderRouting | undefined {
    const choice = this.init.routing ?? 'both'
    if (typeof choice !== 'string') return choice
    const routings: ProviderRouting[] = []
    const component = <T>(name: string): T | undefined => {
      try {
        // js-libp2p's components proxy throws for a service that is not configured.
        return (this.components as unknown as Record<string, T | undefined>)[name]
      } catch {
        return undefined
      }
    }
    const discovery = component<DiscoveryLike & { clientMode?: boolean }>('discovery')
    const content = component<ContentRoutingLike>('contentRouting')
    if ((choice === 'discovery' || choice === 'both') && discovery !== undefined) routings.push(discoveryRouting(discovery))
    if ((choice === 'dht' || choice === 'both') && content !== undefined) routings.push(dhtRouting(content))
    if (routings.length === 0) return undefined
    return routings.length === 1 ? routings[0] : combinedRouting(routings)
  }

  get isOpen (): boolean {
    return this.db?.isOpen === true
  }

  get dir (): string | undefined {
    return this.db?.dir
  }

  /** Opens the block store in `dir`; opening the same folder again is a no-op. */
  open (dir: string, options: BlockStoreOptions = {}): void {
    if (this.db !== undefined) {
      if (this.db.dir === resolve(dir)) return
      throw new StorageAlreadyOpenError(this.db.dir)
    }
    this.db = BlockStore.open(dir, { ...this.init, ...options })
    const interval = this.init.maintenanceIntervalMs ?? MAINTENANCE_INTERVAL_MS
    this.maintenance = setInterval(() => { this.expire() }, interval)
    this.maintenance.unref?.()
    for (const m of this.db.listManifests()) {
      if (this.db.countBlocks(m.tree) === m.blocks) this.advertiser?.add(parseCid(m.cid))
    }
  }

  close (): void {
    if (this.maintenance !== undefined) clearInterval(this.maintenance)
    for (const u of this.uploads.values()) u.abort()
    this.uploads.clear()
    for (const a of this.active.values()) a.controller.abort()
    this.db?.close()
    this.db = undefined
  }

  private expire (): void {
    const db = this.db
    if (db === undefined) return
    const before = new Set(db.listManifests().map(m => m.cid))
    const gone = db.expire()
    if (gone.manifests > 0) {
      const after = new Set(db.listManifests().map(m => m.cid))
      for (const cid of before) if (!after.has(cid)) this.advertiser?.remove(parseCid(cid))
    }
  }

  private get blocks (): BlockStore {
    if (this.db === undefined || !this.db.isOpen) throw new StorageNotOpenError()
    return this.db
  }

  // ---- uploads ------------------------------------------------------------------------------------------------------

  createUpload (options: Partial<UploadOptions> = {}): UploadSession {
    if (this.uploads.size >= MAX_OPEN_UPLOADS) throw new StorageBusyError('open uploads', MAX_OPEN_UPLOADS)
    const session = new UploadSession(this.blocks, { ...options, blockSize: options.blockSize ?? this.init.blockSize ?? DEFAULT_BLOCK_SIZE })
    this.uploads.set(session.id, session)
    return session
  }

  upload (id: string): UploadSession {
    const s = this.uploads.get(id)
    if (s === undefined || !s.isOpen) throw new StorageUnknownUploadError(id)
    return s
  }

  finalizeUpload (id: string): UploadResult {
    const s = this.upload(id)
    this.uploads.delete(id)
    const result = s.finalize()
    this.advertiser?.add(result.cid)
    return result
  }

  cancelUpload (id: string): void {
    const s = this.upload(id)
    this.uploads.delete(id)
    s.abort()
  }

  async store (data: Uint8Array | AsyncIterable<Uint8Array>, options: Partial<UploadOptions> & AbortOptions = {}): Promise<UploadResult> {
    const session = this.createUpload({ ...options, expectedSize: options.expectedSize ?? (data instanceof Uint8Array ? data.length : undefined) })
    try {
      if (data instanceof Uint8Array) session.write(data)
      else {
        for await (const chunk of data) {
          options.signal?.throwIfAborted()
          session.write(chunk)
        }
      }
      return this.finalizeUpload(session.id)
    } finally {
      if (this.uploads.has(session.id)) this.cancelUpload(session.id)
    }
  }

  // ---- datasets -----------------------------------------------------------------------------------------------------

  private localManifest (cid: string): Manifest | undefined {
    const m = this.blocks.getManifest(cid)
    return m === undefined ? undefined : decodeManifest(m.bytes)
  }

  async findProviders (cid: string, options: AbortOptions & { limit?: number } = {}): Promise<Provider[]> {
    if (this.routing === undefined) return []
    const found = await this.routing.findProviders(parseCid(cid, MANIFEST_CODEC), { signal: options.signal, limit: options.limit ?? PROVIDER_LOOKUP_LIMIT })
    return found.filter(p => !p.peerId.equals(this.components.peerId))
  }

  /** The manifest of a dataset: from the local store, else (with `fetch`) from a provider, verified and stored. */
  async manifest (cid: string, options: AbortOptions & { fetch?: boolean, providers?: Provider[] } = {}): Promise<ManifestInfo> {
    const parsed = parseCid(cid, MANIFEST_CODEC)
    const key = cidToString(parsed)
    const local = this.localManifest(key)
    if (local !== undefined) return manifestInfo(key, local)
    if (options.fetch === false) throw new StorageNotFoundError(`manifest ${key}`)
    const tried = new Set<string>()
    let lastError: Error | undefined
    const retries = this.init.manifestRetries ?? MANIFEST_RETRIES
    for (let attempt = 0; attempt < retries; attempt++) {
      options.signal?.throwIfAborted()
      const found = attempt === 0 ? [...(options.providers ?? []), ...await this.findProviders(key, options)] : await this.findProviders(key, options)
      for (const p of found) {
        const id = p.peerId.toString()
        if (tried.has(id) && attempt === 0) continue
        tried.add(id)
        try {
          const addrs = p.multiaddrs.map(a => a.getComponents().some(c => c.name === 'p2p') ? a : a.encapsulate(toMultiaddr(`/p2p/${id}`)))
          let bytes: Uint8Array
          try {
            bytes = await this.manifestProtocol.fetch(addrs.length > 0 ? addrs : p.peerId, parsed, options)
          } catch (err) {
            // An announcement can outlive the addresses in it (the provider restarted on another port): dial the
            // peer id, which the peer store or peer routing (the DHT) resolves to its current addresses.
            if (addrs.length === 0 || !(err instanceof StorageRequestError)) throw err
            bytes = await this.manifestProtocol.fetch(p.peerId, parsed, options)
          }
          const manifest = decodeManifest(bytes)
          this.blocks.putManifest(key, manifest.treeCid.bytes, bytes, blockCount(manifest))
          return manifestInfo(key, manifest)
        } catch (err) {
          lastError = err as Error
          this.log('manifest %s from %s failed: %s', key, id, lastError.message)
        }
      }
      if (attempt < retries - 1) await delay(MANIFEST_RETRY_DELAY_MS, options)
    }
    throw new StorageNoProvidersError(key, { cause: lastError })
  }

  /** Fetches a dataset into the local store (resuming from the blocks already here); joins a download already running. */
  async fetch (cid: string, options: FetchOptions = {}): Promise<ManifestInfo> {
    const key = cidToString(parseCid(cid, MANIFEST_CODEC))
    let active = this.active.get(key)
    if (active === undefined) {
      if (this.active.size >= MAX_CONCURRENT_DOWNLOADS) throw new StorageBusyError('downloads', MAX_CONCURRENT_DOWNLOADS)
      const controller = new AbortController()
      const listeners = new Set<(p: DownloadProgress) => void>()
      const statsListeners = new Set<(s: DownloadStats) => void>()
      const info = await this.manifest(key, { signal: options.signal, providers: options.providers })
      const manifest = this.localManifest(key) as Manifest
      const download = new Download({
        store: this.blocks,
        exchange: this.exchange,
        findProviders: async (c, o) => await this.findProviders(cidToString(c), o),
        self: this.components.peerId,
        log: this.log,
        tuning: this.tuning
      }, parseCid(key), manifest, {
        signal: controller.signal,
        providers: options.providers,
        onProgress: (p) => { for (const l of listeners) l(p) }
      })
      const promise = download.run().then(() => {
        this.blocks.touch(key, manifest.treeCid.bytes)
        this.advertiser?.add(parseCid(key))
        return info
      }).finally(() => {
        this.active.delete(key)
        for (const l of statsListeners) l(download.stats)
      })
      promise.catch(() => {})
      active = { download, promise, listeners, statsListeners, controller, callers: 0 }
      this.active.set(key, active)
    }
    const a = active
    a.callers++
    if (options.onStats !== undefined) a.statsListeners.add(options.onStats)
    if (options.onProgress !== undefined) {
      a.listeners.add(options.onProgress)
      options.onProgress(a.download.progress())
    }
    const onAbort = (): void => {
      if (--a.callers === 0) a.controller.abort()
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      return await new Promise<ManifestInfo>((resolve, reject) => {
        a.promise.then(resolve, reject)
        options.signal?.addEventListener('abort', () => { reject(options.signal?.reason ?? new Error('aborted')) }, { once: true })
        if (options.signal?.aborted === true) reject(options.signal.reason)
      })
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
      if (options.signal?.aborted !== true) a.callers--
      if (options.onProgress !== undefined) a.listeners.delete(options.onProgress)
    }
  }

  /** `length` bytes of a local dataset from `offset` (every block in the range must be here). */
  read (cid: string, offset: number, length: number): Uint8Array {
    const key = cidToString(parseCid(cid, MANIFEST_CODEC))
    const m = this.localManifest(key)
    if (m === undefined) throw new StorageNotFoundError(`dataset ${key}`)
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) throw new StorageParamsError('offset and length are non-negative integers')
    if (length > MAX_READ_BYTES) throw new StorageParamsError(`a read returns at most ${MAX_READ_BYTES} bytes`)
    const end = Math.min(m.datasetSize, offset + length)
    if (offset >= end) return new Uint8Array(0)
    const out = new Uint8Array(end - offset)
    const tree = m.treeCid.bytes
    for (let pos = offset; pos < end;) {
      const index = Math.floor(pos / m.blockSize)
      const b = this.blocks.getBlock(tree, index)
      if (b === undefined) throw new StorageNotFoundError(`block ${index} of ${key}`)
      const from = pos - index * m.blockSize
      const n = Math.min(m.blockSize - from, end - pos)
      out.set(b.data.subarray(from, from + n), pos - offset)
      pos += n
    }
    return out
  }

  /** Whether the whole dataset (manifest and every block) is in the local store. */
  exists (cid: string): boolean {
    const key = cidToString(parseCid(cid, MANIFEST_CODEC))
    const m = this.blocks.getManifest(key)
    return m !== undefined && this.blocks.countBlocks(m.tree) === m.blocks
  }

  remove (cid: string): { removed: boolean, bytes: number } {
    const parsed = parseCid(cid, MANIFEST_CODEC)
    const key = cidToString(parsed)
    this.active.get(key)?.controller.abort()
    const r = this.blocks.removeDataset(key)
    if (r.removed) this.advertiser?.remove(parsed)
    return r
  }

  space (): StoreSpace {
    return this.blocks.space()
  }

  manifests (): LocalManifest[] {
    return this.blocks.listManifests().map((m) => {
      const here = this.blocks.countBlocks(m.tree)
      return { ...manifestInfo(m.cid, decodeManifest(m.bytes)), complete: here === m.blocks, blocksHere: here, expiresAt: m.expiresAt }
    })
  }

  downloads (): Array<{ cid: string, progress: DownloadProgress, stats: DownloadStats }> {
    return [...this.active].map(([cid, a]) => ({ cid, progress: a.download.progress(), stats: a.download.stats }))
  }

  /** Stats of the running download of `cid` (tests, diagnostics). */
  downloadStats (cid: string): DownloadStats | undefined {
    return this.active.get(cidToString(parseCid(cid)))?.download.stats
  }

  // ---- serving ------------------------------------------------------------------------------------------------------

  private onWantList (_peer: PeerId, entries: WantEntry[]): BlockPresence[] {
    const db = this.db
    if (db === undefined || !db.isOpen) return []
    const out: BlockPresence[] = []
    for (const e of entries) {
      if (e.cancel) continue
      const count = Math.max(1, Math.min(e.rangeCount, Number.MAX_SAFE_INTEGER - e.address.index))
      const present = db.presentIndices(e.address.treeCid.bytes, e.address.index, count)
      if (present.length > 0) {
        out.push({ address: e.address, kind: PRESENCE_HAVE_RANGE, ranges: toRanges(present).slice(0, MAX_WANTLIST_ENTRIES), downloadId: e.downloadId })
      } else if (e.sendDontHave) {
        out.push({ address: e.address, kind: PRESENCE_DONT_HAVE, ranges: [], downloadId: e.downloadId })
      }
    }
    return out
  }

  private onPresence (peer: PeerId, presences: BlockPresence[]): void {
    for (const p of presences) {
      for (const a of this.active.values()) {
        if (a.download.id === p.downloadId || a.download.manifest.treeCid.equals(p.address.treeCid)) a.download.onPresence(peer, p)
      }
    }
  }

  /** engine.nim `wantBlocksRequestHandler`: refuse empty or overflowing ranges and more than MAX_BLOCKS_PER_BATCH blocks. */
  private serveBlocks (_peer: PeerId, req: WantBlocksRequest): DeliveredBlock[] {
    const db = this.db
    if (db === undefined || !db.isOpen) return []
    let total = 0
    for (const r of req.ranges) {
      if (r.count === 0 || r.start + r.count > Number.MAX_SAFE_INTEGER) return []
      total += r.count
      if (total > MAX_BLOCKS_PER_BATCH) return []
    }
    const tree = req.treeCid.bytes
    const out: DeliveredBlock[] = []
    for (const r of req.ranges) {
      for (let i = r.start; i < r.start + r.count; i++) {
        const b = db.getBlock(tree, i)
        if (b === undefined || b.proof === undefined) continue
        out.push({ index: i, cid: blockCidOf(b.hash), data: b.data, proofBytes: b.proof })
      }
    }
    return out
  }
}

/** The storage service factory, for `createLibp2p({ services: { storage: storage({ dataDir }) } })`. */
export function storage (init: StorageServiceInit = {}): (components: StorageComponents) => StorageService {
  return (components) => new StorageService(components, init)
}
