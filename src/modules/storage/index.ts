import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, relative, sep } from 'node:path'
import { randomBytes } from 'node:crypto'
import { combineSignals, defineModule } from '../../sdk/index.ts'
import { MAX_READ_BYTES, StorageCancelledError, StorageParamsError, encodeFolderHeader } from '../../net/storage/index.ts'
import type { ManifestInfo } from '../../net/storage/index.ts'
import {
  LONG_CALL_MS, MAX_DOWNLOAD_BYTES_IN_MEMORY, MAX_TRACKED_DOWNLOADS, MAX_TRACKED_UPLOADS, READ_CHUNK_BYTES, UPLOAD_CHUNK_BYTES
} from './constants.ts'
import { PercentProgress } from './progress.ts'

interface UploadParams { data?: Uint8Array, path?: string, filename?: string, mimetype?: string, blockSize?: number }
interface DownloadParams { cid: string, path?: string, downloadId?: string }
interface ProgressEvent { downloadId: string, cid: string, blocksDone: number, blocksTotal: number, bytesDone: number, datasetSize: number }
interface TrackedUpload { total?: number, progress?: PercentProgress, bytes: number }

function text (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new StorageParamsError(`"${name}" must be a non-empty string`)
  return value
}

function optionalText (value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : text(value, name)
}

function optionalSize (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new StorageParamsError(`"${name}" must be a non-negative integer`)
  return value
}

/** Every regular file under `root`, sorted, with paths relative to it ('/' separated). */
async function listFiles (root: string): Promise<Array<{ path: string, full: string, length: number }>> {
  const out: Array<{ path: string, full: string, length: number }> = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name < b.name ? -1 : 1)) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) await walk(full)
      else if (entry.isFile()) out.push({ path: relative(root, full).split(sep).join('/'), full, length: (await stat(full)).size })
    }
  }
  await walk(root)
  return out
}

function newId (): string {
  return randomBytes(6).toString('hex')
}

/**
 * The storage module (the Basecamp storage module's API over Logos Storage): upload bytes or a file (or stream them
 * with uploadInit / uploadChunk / uploadFinalize), download to a file or as bytes, fetch into the local store,
 * exists, remove, space, manifests. It keeps its blocks in its own data directory, through the storage service
 * that the network module mounts on the node's libp2p node (network's storage* methods); providers are announced
 * and found through capability discovery and the Kad-DHT. Configuration: `quotaBytes` (default 20 GiB),
 * `blockTtlMs` (default 30 days), `blockSize` (default 64 KiB).
 */
export const storage = defineModule({
  events: {
    'upload:progress': { description: '{ uploadId, bytes, total?, percent? }: at most once per 1 % (when the size is known), else once per chunk' },
    'upload:done': { description: '{ uploadId, cid, datasetSize }' },
    'download:progress': { description: '{ downloadId, cid, bytesDone, datasetSize, percent }: at most once per 1 %' },
    'download:done': { description: '{ downloadId, cid, bytes, path? }' }
  },
  async start (ctx) {
    const config = ctx.config
    const quotaBytes = optionalSize(config.quotaBytes, 'quotaBytes')
    const blockTtlMs = optionalSize(config.blockTtlMs, 'blockTtlMs')
    const defaultBlockSize = optionalSize(config.blockSize, 'blockSize')
    const net = async <R>(method: string, params: unknown, options: { signal?: AbortSignal, timeout?: number } = {}): Promise<R> => {
      try {
        return await ctx.call<R>('network', method, params, options)
      } catch (err) {
        // The network module restarted (its store closed with it): open ours again and try once more.
        if ((err as { code?: string }).code !== 'ERR_STORAGE_NOT_OPEN') throw err
        await openStore()
        return await ctx.call<R>('network', method, params, options)
      }
    }
    const openStore = async (): Promise<void> => { await ctx.call('network', 'storageOpen', { dir: ctx.dataDir, quotaBytes, blockTtlMs }) }
    await openStore()

    const uploads = new Map<string, TrackedUpload>()
    const downloads = new Map<string, AbortController>()
    const progressOf = new Map<string, PercentProgress>()
    const off = ctx.on('network', 'storage:progress', (payload) => {
      const p = payload as ProgressEvent
      progressOf.get(p.downloadId)?.update(p.bytesDone)
    })

    const uploadInit = async (p: { filename?: string, mimetype?: string, blockSize?: number, size?: number, uploadId?: string }): Promise<{ uploadId: string }> => {
      if (uploads.size >= MAX_TRACKED_UPLOADS) throw new StorageParamsError(`more than ${MAX_TRACKED_UPLOADS} uploads at once`)
      const total = optionalSize(p.size, 'size')
      const { uploadId } = await net<{ uploadId: string }>('storageUploadInit', {
        filename: optionalText(p.filename, 'filename'),
        mimetype: optionalText(p.mimetype, 'mimetype'),
        blockSize: optionalSize(p.blockSize, 'blockSize') ?? defaultBlockSize,
        expectedSize: total
      })
      const tracked: TrackedUpload = { total, bytes: 0 }
      if (total !== undefined && total > 0) tracked.progress = new PercentProgress(total, (bytes, percent) => { ctx.emit('upload:progress', { uploadId, bytes, total, percent }) })
      uploads.set(uploadId, tracked)
      return { uploadId }
    }

    const uploadChunk = async (uploadId: string, data: Uint8Array): Promise<number> => {
      const tracked = uploads.get(uploadId)
      if (tracked === undefined) throw new StorageParamsError(`no upload ${uploadId}`)
      const { bytes } = await net<{ bytes: number }>('storageUploadChunk', { uploadId, data })
      tracked.bytes = bytes
      if (tracked.progress !== undefined) tracked.progress.update(bytes)
      else ctx.emit('upload:progress', { uploadId, bytes })
      return bytes
    }

    const uploadFinalize = async (uploadId: string): Promise<ManifestInfo> => {
      if (!uploads.has(uploadId)) throw new StorageParamsError(`no upload ${uploadId}`)
      try {
        const info = await net<ManifestInfo>('storageUploadFinalize', { uploadId })
        ctx.emit('upload:done', { uploadId, cid: info.cid, datasetSize: info.datasetSize })
        return info
      } finally {
        uploads.delete(uploadId)
      }
    }

    const uploadCancel = async (uploadId: string): Promise<void> => {
      uploads.delete(uploadId)
      await net('storageUploadCancel', { uploadId }).catch(() => {})
    }

    /** fetch with progress events under `downloadId`; returns the manifest. */
    const fetchDataset = async (cid: string, downloadId: string, signal: AbortSignal): Promise<ManifestInfo> => {
      const manifest = await net<ManifestInfo>('storageManifest', { cid }, { signal, timeout: LONG_CALL_MS })
      progressOf.set(downloadId, new PercentProgress(manifest.datasetSize, (bytesDone, percent) => {
        ctx.emit('download:progress', { downloadId, cid, bytesDone, datasetSize: manifest.datasetSize, percent })
      }))
      try {
        await net('storageFetch', { cid, downloadId }, { signal, timeout: LONG_CALL_MS })
      } catch (err) {
        if (signal.aborted) throw new StorageCancelledError(`download ${downloadId}`, { cause: err })
        throw err
      } finally {
        progressOf.get(downloadId)?.update(manifest.datasetSize)
        progressOf.delete(downloadId)
      }
      return manifest
    }

    const track = (downloadId: string, callSignal: AbortSignal | undefined): AbortSignal => {
      if (downloads.has(downloadId)) throw new StorageParamsError(`download ${downloadId} is already running`)
      if (downloads.size >= MAX_TRACKED_DOWNLOADS) throw new StorageParamsError(`more than ${MAX_TRACKED_DOWNLOADS} downloads at once`)
      const controller = new AbortController()
      downloads.set(downloadId, controller)
      return combineSignals([callSignal, ctx.signal, controller.signal])
    }

    return {
      methods: {
        upload: {
          description: 'Stores { data } or the file { path } (with filename?, mimetype?, blockSize?) and announces it: the manifest { cid, ... }; upload:progress at most once per 1 %, then upload:done',
          handler: async (p: UploadParams, call) => {
            if ((p?.data === undefined) === (p?.path === undefined)) throw new StorageParamsError('give either "data" or "path"')
            const path = optionalText(p.path, 'path')
            const data = p.data
            if (data !== undefined && !(data instanceof Uint8Array)) throw new StorageParamsError('"data" must be a Uint8Array')
            const size = data !== undefined ? data.length : (await stat(path as string)).size
            const { uploadId } = await uploadInit({
              filename: p.filename ?? (path === undefined ? undefined : basename(path)),
              mimetype: p.mimetype,
              blockSize: p.blockSize,
              size
            })
            try {
              if (data !== undefined) {
                for (let offset = 0; offset < data.length; offset += UPLOAD_CHUNK_BYTES) {
                  call.signal?.throwIfAborted()
                  await uploadChunk(uploadId, data.subarray(offset, offset + UPLOAD_CHUNK_BYTES))
                }
              } else {
                for await (const chunk of createReadStream(path as string, { highWaterMark: UPLOAD_CHUNK_BYTES })) {
                  call.signal?.throwIfAborted()
                  await uploadChunk(uploadId, new Uint8Array((chunk as Buffer).buffer, (chunk as Buffer).byteOffset, (chunk as Buffer).byteLength))
                }
              }
              return { ...await uploadFinalize(uploadId), uploadId }
            } catch (err) {
              await uploadCancel(uploadId)
              throw err
            }
          }
        },
        uploadInit: {
          description: 'Starts a streamed upload { filename?, mimetype?, blockSize?, size? }: { uploadId }',
          handler: async (p: { filename?: string, mimetype?: string, blockSize?: number, size?: number } = {}) => await uploadInit(p ?? {})
        },
        uploadChunk: {
          description: 'Adds { uploadId, data } to a streamed upload: { bytes } so far',
          handler: async (p: { uploadId: string, data: Uint8Array }) => {
            if (!(p?.data instanceof Uint8Array)) throw new StorageParamsError('"data" must be a Uint8Array')
            return { bytes: await uploadChunk(text(p.uploadId, 'uploadId'), p.data) }
          }
        },
        uploadFinalize: {
          description: 'Ends a streamed upload { uploadId }: the manifest { cid, ... }; upload:done',
          handler: async (p: { uploadId: string }) => await uploadFinalize(text(p?.uploadId, 'uploadId'))
        },
        uploadCancel: {
          description: 'Gives up a streamed upload { uploadId }',
          handler: async (p: { uploadId: string }) => {
            await uploadCancel(text(p?.uploadId, 'uploadId'))
            return { cancelled: true }
          }
        },
        download: {
          description: 'Downloads { cid } from providers (resuming from local blocks) into the file { path }, or returns { data }; download:progress at most once per 1 %, then download:done; cancel with downloadCancel({ downloadId })',
          handler: async (p: DownloadParams, call) => {
            const cid = text(p?.cid, 'cid')
            const path = optionalText(p.path, 'path')
            const downloadId = optionalText(p.downloadId, 'downloadId') ?? newId()
            const signal = track(downloadId, call.signal)
            try {
              const manifest = await fetchDataset(cid, downloadId, signal)
              if (path === undefined && manifest.datasetSize > MAX_DOWNLOAD_BYTES_IN_MEMORY) {
                throw new StorageParamsError(`dataset of ${manifest.datasetSize} bytes: above ${MAX_DOWNLOAD_BYTES_IN_MEMORY} give a path`)
              }
              const out = path === undefined ? new Uint8Array(manifest.datasetSize) : undefined
              const part = path === undefined ? undefined : `${path}.${downloadId}.part`
              const file = part === undefined ? undefined : (await mkdir(dirname(part), { recursive: true }), await open(part, 'w'))
              try {
                for (let offset = 0; offset < manifest.datasetSize; offset += READ_CHUNK_BYTES) {
                  if (signal.aborted) throw new StorageCancelledError(`download ${downloadId}`)
                  const { data } = await net<{ data: Uint8Array }>('storageRead', { cid, offset, length: READ_CHUNK_BYTES })
                  if (out !== undefined) out.set(data, offset)
                  else await file?.write(data, 0, data.length, offset)
                }
                if (file !== undefined) {
                  await file.sync()
                  await file.close()
                  await rename(part as string, path as string)
                }
              } catch (err) {
                await file?.close().catch(() => {})
                if (part !== undefined) await rm(part, { force: true })
                throw err
              }
              ctx.emit('download:done', { downloadId, cid, bytes: manifest.datasetSize, path })
              return path === undefined ? { ...manifest, downloadId, data: out } : { ...manifest, downloadId, path }
            } finally {
              downloads.delete(downloadId)
            }
          }
        },
        downloadCancel: {
          description: 'Cancels the download or fetch { downloadId }: { cancelled }',
          handler: async (p: { downloadId: string }) => {
            const id = text(p?.downloadId, 'downloadId')
            const c = downloads.get(id)
            c?.abort()
            if (c !== undefined) await ctx.call('network', 'storageCancel', { downloadId: id }).catch(() => {})
            return { cancelled: c !== undefined }
          }
        },
        fetch: {
          description: 'Fetches { cid, downloadId? } into the local store (no file): the manifest; download:progress and download:done',
          handler: async (p: { cid: string, downloadId?: string }, call) => {
            const cid = text(p?.cid, 'cid')
            const downloadId = optionalText(p.downloadId, 'downloadId') ?? newId()
            const signal = track(downloadId, call.signal)
            try {
              const manifest = await fetchDataset(cid, downloadId, signal)
              ctx.emit('download:done', { downloadId, cid, bytes: manifest.datasetSize })
              return { ...manifest, downloadId }
            } finally {
              downloads.delete(downloadId)
            }
          }
        },
        read: {
          description: 'Bytes { cid, offset?, length } of a dataset (at most 4 MiB), fetching the dataset into the local store first when it is not here: { data }',
          handler: async (p: { cid: string, offset?: number, length: number }, call) => {
            const cid = text(p?.cid, 'cid')
            const offset = optionalSize(p.offset, 'offset') ?? 0
            const length = optionalSize(p.length, 'length') ?? 0
            if (length > MAX_READ_BYTES) throw new StorageParamsError(`a read returns at most ${MAX_READ_BYTES} bytes`)
            const { exists } = await net<{ exists: boolean }>('storageExists', { cid })
            if (!exists) await net('storageFetch', { cid }, { signal: call.signal, timeout: LONG_CALL_MS })
            return await net<{ data: Uint8Array }>('storageRead', { cid, offset, length })
          }
        },
        publishFolder: {
          description: 'Stores every file under { path } as one dataset (logos-folder/1: a JSON index, then the files) and announces it: { cid, url: "logos-storage:<cid>", files, bytes }; package repositories are served from such URLs',
          handler: async (p: { path: string }, call) => {
            const root = text(p?.path, 'path')
            const files = await listFiles(root)
            if (files.length === 0) throw new StorageParamsError(`${root} holds no files`)
            const header = encodeFolderHeader(files)
            const size = header.length + files.reduce((s, f) => s + f.length, 0)
            const { uploadId } = await uploadInit({ filename: basename(root), mimetype: 'application/x-logos-folder', size })
            try {
              await uploadChunk(uploadId, header)
              for (const f of files) {
                let seen = 0
                for await (const chunk of createReadStream(f.full, { highWaterMark: UPLOAD_CHUNK_BYTES })) {
                  call.signal?.throwIfAborted()
                  const c = chunk as Buffer
                  seen += c.length
                  await uploadChunk(uploadId, new Uint8Array(c.buffer, c.byteOffset, c.byteLength))
                }
                if (seen !== f.length) throw new StorageParamsError(`${f.full} changed while it was being stored`)
              }
              const info = await uploadFinalize(uploadId)
              return { cid: info.cid, url: `logos-storage:${info.cid}`, files: files.length, bytes: info.datasetSize }
            } catch (err) {
              await uploadCancel(uploadId)
              throw err
            }
          }
        },
        manifest: {
          description: 'The manifest of { cid, fetch? }: local, else fetched from a provider',
          handler: async (p: { cid: string, fetch?: boolean }, call) => await net('storageManifest', { cid: text(p?.cid, 'cid'), fetch: p.fetch }, { signal: call.signal, timeout: LONG_CALL_MS })
        },
        exists: {
          description: 'Whether { cid } is wholly in the local store: { exists }',
          handler: async (p: { cid: string }) => await net('storageExists', { cid: text(p?.cid, 'cid') })
        },
        remove: {
          description: 'Deletes { cid } from the local store: { removed, bytes }',
          handler: async (p: { cid: string }) => await net('storageRemove', { cid: text(p?.cid, 'cid') })
        },
        space: {
          description: 'The local store: { quotaBytes, usedBytes, freeBytes, blocks, datasets }',
          handler: async () => await net('storageSpace', {})
        },
        manifests: {
          description: 'Datasets in the local store: [{ cid, treeCid, blockSize, datasetSize, blocks, filename?, mimetype?, complete, blocksHere, expiresAt }]',
          handler: async () => await net('storageManifests', {})
        },
        info: {
          description: 'This node: { dataDir, peerId, space }',
          handler: async () => ({ dataDir: ctx.dataDir, peerId: (await ctx.call<{ peerId: string }>('network', 'info')).peerId, space: await net('storageSpace', {}) })
        }
      },
      stop: async () => {
        off()
        for (const c of downloads.values()) c.abort()
        for (const id of uploads.keys()) await ctx.call('network', 'storageUploadCancel', { uploadId: id }).catch(() => {})
        await ctx.call('network', 'storageClose', {}).catch(() => {})
      }
    }
  }
})
