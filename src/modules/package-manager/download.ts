import { open, mkdir, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { AbortedError, LogosError, abortReason, delay, throwIfAborted } from '../../common/index.ts'
import type { ChunkStore } from './chunk-store.ts'
import { FETCH_BACKOFF_MS, MAX_FETCH_ATTEMPTS } from './constants.ts'
import { ChunkHashMismatchError, EndlessDataError, FetchFailedError, SizeMismatchError } from './errors.ts'
import { sha256Hex } from './hash.ts'
import type { PackageSource } from './source.ts'
import { abortable } from './sources.ts'

/** Counts what crosses the wire, for progress bars and the update benchmark. */
export interface TransferMeter {
  onBytes?: (n: number, path: string) => void
}

/**
 * Reads a whole file from a source into memory: at most `maxBytes` (more is an EndlessDataError, the reading stops
 * there), resuming after a dropped connection from the last byte received, up to MAX_FETCH_ATTEMPTS attempts.
 */
export async function fetchBytes (source: PackageSource, path: string, options: TransferMeter & { maxBytes: number, signal?: AbortSignal }): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let received = 0
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal)
    try {
      const read = await source.read(path, { maxBytes: options.maxBytes, offset: received, signal: options.signal })
      if (read.offset !== received) {
        // The source started over: drop what we had.
        parts.length = 0
        received = 0
        if (read.offset !== 0) throw new FetchFailedError(`${source.url} resumed ${path} at ${read.offset}, asked ${received}`)
      }
      for await (const piece of abortable(read.body, options.signal)) {
        received += piece.length
        options.onBytes?.(piece.length, path)
        if (received > options.maxBytes) throw new EndlessDataError(`${source.url} ${path}`, options.maxBytes)
        parts.push(piece)
      }
      return parts.length === 1 ? parts[0] as Uint8Array : new Uint8Array(Buffer.concat(parts))
    } catch (err) {
      if (err instanceof EndlessDataError || !isRetryableRead(err) || attempt >= MAX_FETCH_ATTEMPTS) throw wrapReadError(err, source, path, options.signal)
      await delay(FETCH_BACKOFF_MS * 2 ** (attempt - 1), { signal: options.signal })
    }
  }
}

/**
 * Whether another attempt may help: a source's retryable failure, or a stream that broke mid-body (a reset socket
 * surfaces as a plain Error from the body iterator). Typed errors of our own (a tampered chunk, endless data) and
 * aborts never retry.
 */
function isRetryableRead (err: unknown): boolean {
  if (err instanceof LogosError) return err.retryable && !(err instanceof AbortedError)
  return err instanceof Error && err.name !== 'AbortError' && err.name !== 'TimeoutError'
}

/** Plain errors from a source become FetchFailedError; typed errors and aborts pass through. */
function wrapReadError (err: unknown, source: PackageSource, path: string, signal?: AbortSignal): unknown {
  if (signal?.aborted === true) return abortReason(signal)
  if (err instanceof LogosError || !(err instanceof Error)) return err
  return new FetchFailedError(`${source.url} ${path}: ${err.message}`, { cause: err })
}

/**
 * Downloads one chunk into the store, resumably: bytes go to `partial/<hash>` (appended, so a download cut by a
 * crash or a dropped connection goes on from where it stopped, in this run or the next), then the whole is hashed
 * and renamed into place. More or fewer bytes than the manifest declares is a SizeMismatchError;
 * other bytes a ChunkHashMismatchError (after one fresh attempt, in case the resumed prefix was stale).
 */
export async function downloadChunk (source: PackageSource, store: ChunkStore, hash: string, length: number, options: TransferMeter & { signal?: AbortSignal } = {}): Promise<void> {
  if (await store.has(hash)) return
  const partial = store.partialPath(hash)
  await mkdir(dirname(partial), { recursive: true })
  const path = `chunks/${hash.slice(0, 2)}/${hash}`
  let freshRetried = false
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal)
    let have = 0
    try {
      have = (await stat(partial)).size
    } catch {
      // no partial download yet
    }
    if (have > length) {
      await rm(partial, { force: true })
      have = 0
    }
    try {
      if (have < length) {
        const read = await source.read(path, { maxBytes: length, offset: have, signal: options.signal })
        const file = await open(partial, read.offset === 0 ? 'w' : 'a')
        let written = read.offset
        try {
          for await (const piece of abortable(read.body, options.signal)) {
            options.onBytes?.(piece.length, path)
            if (written + piece.length > length) {
              throw new SizeMismatchError(`chunk ${hash} from ${source.url} is longer than the ${length} bytes its manifest declares`, { data: { hash, length } })
            }
            await file.write(piece)
            written += piece.length
          }
        } finally {
          await file.close()
        }
        if (written < length) throw new FetchFailedError(`${source.url} ${path}: ended after ${written} of ${length} bytes`, { retryable: true, data: { short: true } })
      }
      const bytes = new Uint8Array(await readWhole(partial))
      const actual = sha256Hex(bytes)
      if (actual !== hash) {
        await rm(partial, { force: true })
        if (have > 0 && !freshRetried) {
          freshRetried = true
          continue
        }
        throw new ChunkHashMismatchError(hash, actual, { data: { source: source.url } })
      }
      await store.adopt(hash, partial)
      return
    } catch (err) {
      if (err instanceof SizeMismatchError) {
        await rm(partial, { force: true })
        throw err
      }
      if (err instanceof EndlessDataError) {
        // A source that knows the size up front (git) refuses before sending: the same refusal as bytes past the end.
        await rm(partial, { force: true })
        throw new SizeMismatchError(`chunk ${hash} from ${source.url} is longer than the ${length} bytes its manifest declares`, { cause: err, data: { hash, length } })
      }
      const short = err instanceof FetchFailedError && err.data.short === true
      if (!isRetryableRead(err) || attempt >= MAX_FETCH_ATTEMPTS) {
        if (short) throw new SizeMismatchError(`chunk ${hash}: ${source.url} has fewer bytes than the ${length} its manifest declares`, { cause: err })
        throw wrapReadError(err, source, path, options.signal)
      }
      await delay(FETCH_BACKOFF_MS * 2 ** (attempt - 1), { signal: options.signal })
    }
  }
}

async function readWhole (path: string): Promise<Buffer> {
  const file = await open(path, 'r')
  try {
    return await file.readFile()
  } finally {
    await file.close()
  }
}
