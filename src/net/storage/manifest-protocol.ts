import { Uint8ArrayList } from 'uint8arraylist'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { combineSignals } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { MANIFEST_CODEC, cidToString, parseCid } from './cid.ts'
import type { CID } from './cid.ts'
import { MANIFEST_FETCH_TIMEOUT_MS, MANIFEST_PROTOCOL, MAX_INBOUND_STREAMS, MAX_MANIFEST_BYTES, MAX_MANIFEST_CID_BYTES, MAX_OUTBOUND_STREAMS } from './constants.ts'
import { StorageBadManifestError, StorageNotFoundError, StorageRequestError, StorageWireError } from './errors.ts'
import { manifestCidOf } from './manifest.ts'
import type { ExchangeComponents } from './block-exchange.ts'

/**
 * /storage/manifest/1.0.0 (logos-storage-nim manifest/protocol.nim): one request per stream. The asker writes the
 * manifest CID as `u16 LE length | CID bytes`; the answer is `u32 LE length | status (0 found, 1 not found) |
 * manifest bytes`, at most 64 KiB of manifest. The asker checks the bytes hash to the CID it asked for.
 */

export const STATUS_FOUND = 0
export const STATUS_NOT_FOUND = 1

async function readAtLeast (stream: Stream, list: Uint8ArrayList, n: number, iterator: AsyncIterator<Uint8Array | Uint8ArrayList>): Promise<void> {
  while (list.byteLength < n) {
    const next = await iterator.next()
    if (next.done === true) throw new StorageWireError(`stream ended after ${list.byteLength} of ${n} bytes`)
    list.append(next.value)
  }
}

export function encodeManifestResponse (status: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(5 + data.length)
  new DataView(out.buffer).setUint32(0, 1 + data.length, true)
  out[4] = status
  out.set(data, 5)
  return out
}

export class ManifestProtocol {
  private readonly components: ExchangeComponents
  private readonly lookup: (cid: string) => Uint8Array | undefined
  private started = false

  constructor (components: ExchangeComponents, lookup: (cid: string) => Uint8Array | undefined) {
    this.components = components
    this.lookup = lookup
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.components.registrar.handle(MANIFEST_PROTOCOL, (stream) => { this.serve(stream).catch(() => {}) }, {
      maxInboundStreams: MAX_INBOUND_STREAMS,
      maxOutboundStreams: MAX_OUTBOUND_STREAMS
    })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.components.registrar.unhandle(MANIFEST_PROTOCOL).catch(() => {})
  }

  private async serve (stream: Stream): Promise<void> {
    const signal = AbortSignal.timeout(MANIFEST_FETCH_TIMEOUT_MS)
    try {
      const list = new Uint8ArrayList()
      const it = stream[Symbol.asyncIterator]()
      await readAtLeast(stream, list, 2, it)
      const len = list.getUint16(0, true)
      let answer: Uint8Array
      if (len === 0 || len > MAX_MANIFEST_CID_BYTES) {
        answer = encodeManifestResponse(STATUS_NOT_FOUND)
      } else {
        await readAtLeast(stream, list, 2 + len, it)
        let bytes: Uint8Array | undefined
        try {
          bytes = this.lookup(cidToString(parseCid(list.subarray(2, 2 + len), MANIFEST_CODEC)))
        } catch {
          bytes = undefined
        }
        answer = bytes === undefined ? encodeManifestResponse(STATUS_NOT_FOUND) : encodeManifestResponse(STATUS_FOUND, bytes)
      }
      if (!stream.send(answer)) await stream.onDrain({ signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** Asks one peer for a manifest; returns its bytes once they hash to `cid`. */
  async fetch (peer: PeerId | Multiaddr[], cid: CID, options: AbortOptions = {}): Promise<Uint8Array> {
    const signal = combineSignals([options.signal], MANIFEST_FETCH_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      const conn: Connection = await this.components.connectionManager.openConnection(peer, { signal })
      stream = await conn.newStream(MANIFEST_PROTOCOL, { signal })
      const req = new Uint8Array(2 + cid.bytes.length)
      new DataView(req.buffer).setUint16(0, cid.bytes.length, true)
      req.set(cid.bytes, 2)
      if (!stream.send(req)) await stream.onDrain({ signal })
      const list = new Uint8ArrayList()
      const it = stream[Symbol.asyncIterator]()
      const read = async (): Promise<Uint8Array> => {
        await readAtLeast(stream as Stream, list, 4, it)
        const len = list.getUint32(0, true)
        if (len < 1 || len > 1 + MAX_MANIFEST_BYTES) throw new StorageWireError(`manifest answer of ${len} bytes`)
        await readAtLeast(stream as Stream, list, 4 + len, it)
        const status = list.get(4)
        if (status === STATUS_NOT_FOUND) throw new StorageNotFoundError(`manifest ${cidToString(cid)} (at the peer)`)
        if (status !== STATUS_FOUND) throw new StorageWireError(`manifest answer status ${status}`)
        return list.subarray(5, 4 + len)
      }
      const bytes = await new Promise<Uint8Array>((resolve, reject) => {
        const onAbort = (): void => { reject(new StorageRequestError('manifest request timed out or was aborted')) }
        signal.addEventListener('abort', onAbort, { once: true })
        read().then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
      })
      if (!manifestCidOf(bytes).equals(cid)) throw new StorageBadManifestError(`the manifest a peer sent does not hash to ${cidToString(cid)}`)
      await stream.close({ signal }).catch(() => {})
      return bytes
    } catch (err) {
      stream?.abort(err as Error)
      if (err instanceof StorageNotFoundError || err instanceof StorageBadManifestError || err instanceof StorageWireError) throw err
      throw new StorageRequestError(`manifest request failed: ${(err as Error).message}`, { cause: err })
    }
  }
}
