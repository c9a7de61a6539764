import * as lp from 'it-length-prefixed'
import type { PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { combineSignals, raceSignal } from '../../common/index.ts'
import { drained } from '../streams/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { MAX_FRAME_BYTES, REQUEST_TIMEOUT_MS } from './constants.ts'
import { DeliveryRequestFailedError } from './errors.ts'

/**
 * One request, one response, each an unsigned-varint length-prefixed frame on a fresh stream: the framing of Waku's
 * request/response protocols (store v3, lightpush v3, filter, metadata), as logos-delivery and js-waku write it.
 */

export interface StreamOpener {
  openStream: (peer: PeerId | Multiaddr, protocol: string, options?: AbortOptions) => Promise<Stream>
}

/** Writes one length-prefixed frame. */
export async function writeFrame (stream: Stream, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  if (!stream.send(lp.encode.single(bytes))) await drained(stream, signal)
}

/** Reads one length-prefixed frame, or undefined when the stream ends first. */
export async function readFrame (stream: Stream, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const reader = lp.decode(stream, { maxDataLength: maxBytes })[Symbol.asyncIterator]()
  const pending = reader.next()
  // If the signal wins the race the read is abandoned; it rejects once the stream is aborted.
  pending.catch(() => {})
  const next = await raceSignal(pending, signal)
  if (next.done === true) return undefined
  return next.value.subarray()
}

export interface RequestOptions extends AbortOptions {
  timeoutMs?: number
  maxResponseBytes?: number
}

/** Sends `bytes` on a new stream of `protocol` and returns the single response frame. */
export async function sendRequest (opener: StreamOpener, peer: PeerId | Multiaddr, protocol: string, bytes: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
  const signal = combineSignals([options.signal], options.timeoutMs ?? REQUEST_TIMEOUT_MS)
  let stream: Stream | undefined
  try {
    stream = await opener.openStream(peer, protocol, { signal })
    await writeFrame(stream, bytes, signal)
    const response = await readFrame(stream, options.maxResponseBytes ?? MAX_FRAME_BYTES, signal)
    if (response === undefined) throw new DeliveryRequestFailedError(`${protocol}: the peer closed the stream without an answer`)
    await stream.close({ signal }).catch(() => {})
    return response
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    if (err instanceof DeliveryRequestFailedError) throw err
    throw new DeliveryRequestFailedError(`${protocol} request failed: ${(err as Error).message}`, { cause: err })
  }
}

export type RequestHandler = (request: Uint8Array, options: AbortOptions) => Promise<Uint8Array | undefined> | Uint8Array | undefined

/**
 * Serves one request on an inbound stream: reads a frame, answers with the handler's frame (none: the stream is
 * closed without an answer), closes. A malformed or oversized frame aborts the stream.
 */
export async function serveRequest (stream: Stream, handler: RequestHandler, options: { maxRequestBytes?: number, timeoutMs?: number } = {}): Promise<void> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS)
  try {
    const request = await readFrame(stream, options.maxRequestBytes ?? MAX_FRAME_BYTES, signal)
    if (request === undefined) {
      await stream.close({ signal }).catch(() => {})
      return
    }
    const response = await handler(request, { signal })
    if (response !== undefined) await writeFrame(stream, response, signal)
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}
