import { combineSignals } from '../../common/index.ts'
import { StorageParamsError, storage } from '../../net/storage/index.ts'
import type { DownloadProgress, StorageService, StorageServiceInit } from '../../net/storage/index.ts'
import type { MethodTable, ModuleContext } from '../../sdk/index.ts'
import type { NetworkConfig } from './config.ts'
import { NetworkConfigError } from './errors.ts'

/**
 * Logos Storage as the network module offers it to other modules (the `storage` module above all), at message
 * level. The service itself (src/net/storage) is mounted on the module's js-libp2p node as `services.storage`, next
 * to capability discovery and the Kad-DHT, where it announces and finds providers. Its block store lives in a
 * folder the caller names with `storageOpen` (the storage module opens it in its own data directory).
 * - `storageOpen({ dir, quotaBytes?, blockTtlMs? })`, `storageClose()`;
 * - `storageUploadInit({ filename?, mimetype?, blockSize?, expectedSize? })` -> `{ uploadId }`,
 *   `storageUploadChunk({ uploadId, data })`, `storageUploadFinalize({ uploadId })` -> the manifest,
 *   `storageUploadCancel({ uploadId })`;
 * - `storageFetch({ cid, downloadId? })`: fetches a dataset into the store, emitting `storage:progress`;
 *   `storageCancel({ downloadId })`;
 * - `storageManifest({ cid, fetch? })`, `storageRead({ cid, offset, length })`, `storageExists`, `storageRemove`,
 *   `storageSpace`, `storageManifests`, `storageProviders`, `storageDownloads`.
 */

export const STORAGE_EVENTS = {
  'storage:progress': { description: '{ downloadId, cid, blocksDone, blocksTotal, bytesDone, datasetSize }: a download made progress (at most once per 1 %, and at the end)' }
}

/** storageFetch without its own deadline: the download fails by itself when it stalls (STALL_TIMEOUT_MS). */
export const STORAGE_FETCH_TIMEOUT_MS = 24 * 60 * 60 * 1000
/** Downloads that can be cancelled by id at once (the service's own bound on downloads is lower). */
export const MAX_CANCELLABLE_DOWNLOADS = 256

const NUMERIC_OPTIONS = ['quotaBytes', 'blockTtlMs', 'blockSize', 'pipelineDepth', 'batchTimeoutMs', 'stallTimeoutMs', 'maintenanceIntervalMs'] as const

/** The `storage` part of the network configuration, as service options. `{ enabled: false }` leaves storage out. */
export function parseStorageConfig (raw: Record<string, unknown>): StorageServiceInit | undefined {
  if (raw.enabled === false) return undefined
  const init: StorageServiceInit = {}
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'enabled') continue
    if ((NUMERIC_OPTIONS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new NetworkConfigError(`network config: storage.${key} must be a positive number`)
      ;(init as Record<string, unknown>)[key] = value
    } else if (key === 'routing') {
      if (value !== 'discovery' && value !== 'dht' && value !== 'both') throw new NetworkConfigError('network config: storage.routing is discovery, dht or both')
      init.routing = value
    } else {
      throw new NetworkConfigError(`network config: unknown storage option "${key}"`)
    }
  }
  return init
}

/** The services to mount next to the network module's own. */
export function storageServices (config: NetworkConfig): Record<string, unknown> {
  const init = parseStorageConfig(config.storage)
  return init === undefined ? {} : { storage: storage(init) }
}

function text (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new StorageParamsError(`"${name}" must be a non-empty string`)
  return value
}

function optionalText (value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : text(value, name)
}

function bytes (value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new StorageParamsError(`"${name}" must be a Uint8Array`)
  return value
}

function optionalCount (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new StorageParamsError(`"${name}" must be a non-negative integer`)
  return value
}

/** Calls progress at most once per whole percent, and always at the end. */
export function percentThrottle (emit: (p: DownloadProgress) => void): (p: DownloadProgress) => void {
  let last = -1
  return (p) => {
    const percent = p.blocksTotal === 0 ? 100 : Math.floor((p.blocksDone * 100) / p.blocksTotal)
    if (percent === last) return
    last = percent
    emit(p)
  }
}

/** The storage methods of the network module, over its storage service. */
export function storageMethods (ctx: ModuleContext, service: StorageService): { methods: MethodTable, stop: () => void } {
  const downloads = new Map<string, AbortController>()
  let opener: string | undefined
  let nextId = 0

  const methods: MethodTable = {
    storageOpen: {
      description: 'Opens the block store in { dir, quotaBytes?, blockTtlMs? }: { dir, space }',
      handler: (p: { dir: string, quotaBytes?: number, blockTtlMs?: number }, call) => {
        const dir = text(p?.dir, 'dir')
        const quotaBytes = optionalCount(p.quotaBytes, 'quotaBytes')
        const blockTtlMs = optionalCount(p.blockTtlMs, 'blockTtlMs')
        service.open(dir, { quotaBytes, blockTtlMs })
        opener = call.caller
        return { dir: service.dir, space: service.space() }
      }
    },
    storageClose: {
      description: 'Closes the block store (only the module that opened it may)',
      handler: (_p: unknown, call) => {
        if (opener !== undefined && call.caller !== opener && call.caller !== 'external') throw new StorageParamsError(`the block store belongs to ${opener}`)
        service.close()
        opener = undefined
        return { closed: true }
      }
    },
    storageUploadInit: {
      description: 'Starts an upload { filename?, mimetype?, blockSize?, expectedSize? }: { uploadId }',
      handler: (p: { filename?: string, mimetype?: string, blockSize?: number, expectedSize?: number } = {}) => {
        const session = service.createUpload({
          filename: optionalText(p.filename, 'filename'),
          mimetype: optionalText(p.mimetype, 'mimetype'),
          blockSize: optionalCount(p.blockSize, 'blockSize'),
          expectedSize: optionalCount(p.expectedSize, 'expectedSize')
        })
        return { uploadId: session.id }
      }
    },
    storageUploadChunk: {
      description: 'Adds { uploadId, data } to an upload: { bytes } (so far)',
      handler: (p: { uploadId: string, data: Uint8Array }) => {
        const session = service.upload(text(p?.uploadId, 'uploadId'))
        session.write(bytes(p.data, 'data'))
        return { bytes: session.bytesWritten }
      }
    },
    storageUploadFinalize: {
      description: 'Ends an upload { uploadId }: the manifest { cid, treeCid, blockSize, datasetSize, blocks, filename?, mimetype? }',
      handler: async (p: { uploadId: string }) => {
        const { cid } = service.finalizeUpload(text(p?.uploadId, 'uploadId'))
        return await service.manifest(cid.toString(), { fetch: false })
      }
    },
    storageUploadCancel: {
      description: 'Gives up an upload { uploadId } and deletes what it stored',
      handler: (p: { uploadId: string }) => {
        service.cancelUpload(text(p?.uploadId, 'uploadId'))
        return { cancelled: true }
      }
    },
    storageFetch: {
      description: 'Fetches { cid, downloadId? } into the store from providers found by discovery or the DHT, resuming from what is here; emits storage:progress; resolves to the manifest',
      handler: async (p: { cid: string, downloadId?: string }, call) => {
        const cid = text(p?.cid, 'cid')
        const downloadId = optionalText(p.downloadId, 'downloadId') ?? `${Date.now().toString(36)}-${(nextId++).toString(36)}`
        if (downloads.has(downloadId)) throw new StorageParamsError(`download ${downloadId} is already running`)
        if (downloads.size >= MAX_CANCELLABLE_DOWNLOADS) throw new StorageParamsError(`more than ${MAX_CANCELLABLE_DOWNLOADS} downloads at once`)
        const controller = new AbortController()
        downloads.set(downloadId, controller)
        try {
          const info = await service.fetch(cid, {
            signal: combineSignals([call.signal, ctx.signal, controller.signal]),
            onProgress: percentThrottle((pr) => { ctx.emit('storage:progress', { downloadId, cid, ...pr }) })
          })
          return { ...info, downloadId }
        } finally {
          downloads.delete(downloadId)
        }
      }
    },
    storageCancel: {
      description: 'Cancels the download { downloadId }: { cancelled }',
      handler: (p: { downloadId: string }) => {
        const c = downloads.get(text(p?.downloadId, 'downloadId'))
        c?.abort()
        return { cancelled: c !== undefined }
      }
    },
    storageManifest: {
      description: 'The manifest of { cid }: local, else (fetch, default true) from a provider',
      handler: async (p: { cid: string, fetch?: boolean }, call) => await service.manifest(text(p?.cid, 'cid'), { fetch: p.fetch !== false, signal: call.signal })
    },
    storageRead: {
      description: 'Bytes { cid, offset?, length } of a local dataset (at most 4 MiB): { data }',
      handler: (p: { cid: string, offset?: number, length: number }) => ({
        data: service.read(text(p?.cid, 'cid'), optionalCount(p.offset, 'offset') ?? 0, optionalCount(p.length, 'length') ?? 0)
      })
    },
    storageExists: {
      description: 'Whether the whole dataset { cid } is in the local store: { exists }',
      handler: (p: { cid: string }) => ({ exists: service.exists(text(p?.cid, 'cid')) })
    },
    storageRemove: {
      description: 'Deletes the dataset { cid } from the local store: { removed, bytes }',
      handler: (p: { cid: string }) => service.remove(text(p?.cid, 'cid'))
    },
    storageSpace: {
      description: 'The store: { quotaBytes, usedBytes, freeBytes, blocks, datasets }',
      handler: () => service.space()
    },
    storageManifests: {
      description: 'Datasets in the local store: [{ cid, treeCid, blockSize, datasetSize, blocks, filename?, mimetype?, complete, blocksHere, expiresAt }]',
      handler: () => service.manifests()
    },
    storageProviders: {
      description: 'Providers of { cid } found now: [{ peerId, multiaddrs }]',
      handler: async (p: { cid: string }, call) => (await service.findProviders(text(p?.cid, 'cid'), { signal: call.signal }))
        .map(pr => ({ peerId: pr.peerId.toString(), multiaddrs: pr.multiaddrs.map(String) }))
    },
    storageDownloads: {
      description: 'Downloads running: [{ cid, progress, stats }]',
      handler: () => service.downloads()
    }
  }

  return {
    methods,
    stop: () => {
      for (const c of downloads.values()) c.abort()
      downloads.clear()
    }
  }
}
