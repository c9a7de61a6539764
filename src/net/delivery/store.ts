import { randomUUID } from 'node:crypto'
import type { ComponentLogger, Logger, PeerId, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MessageArchive } from './archive.ts'
import type { ArchiveOptions, ArchivedMessage } from './archive.ts'
import {
  ARCHIVE_PRUNE_INTERVAL_MS, MAX_FRAME_BYTES, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, STORE_CODEC, STORE_DEFAULT_PAGE,
  STORE_MAX_PAGE
} from './constants.ts'
import { DeliveryDecodeError, DeliveryNotStartedError, DeliveryStoreQueryError } from './errors.ts'
import { sendRequest, serveRequest } from './request-response.ts'
import type { RequestOptions, StreamOpener } from './request-response.ts'
import {
  STORE_STATUS, decodeStoreQueryRequest, decodeStoreQueryResponse, encodeStoreQueryRequest, encodeStoreQueryResponse,
  encodedEntry
} from './store-codec.ts'
import type { StoreEntry, StoreQueryRequest, StoreQueryResponse } from './store-codec.ts'
import type { RelayedMessage } from './relay.ts'

/** Room kept in a response frame for everything but the entries. */
const RESPONSE_OVERHEAD = 64 * 1024

function errorResponse (requestId: string, statusCode: number, statusDesc: string): StoreQueryResponse {
  return { requestId, statusCode, statusDesc, messages: [] }
}

/**
 * Answers a store query from an archive (13/WAKU2-STORE "Store Query Response"): checks the request's shape (a
 * content filter and a hash lookup are exclusive; pubsub topic and content topics go together), applies the page
 * size (20 by default, 100 at most) and the frame budget, and returns entries in forward order with the cursor of
 * the last (forward) or first (backward) entry included when more remain.
 */
export function answerStoreQuery (archive: MessageArchive, q: StoreQueryRequest, maxResponseBytes = MAX_FRAME_BYTES): Uint8Array {
  const contentFilter = q.pubsubTopic !== undefined || q.contentTopics.length > 0 || q.timeStart !== undefined || q.timeEnd !== undefined
  if (contentFilter && q.messageHashes.length > 0) return encodeStoreQueryResponse(errorResponse(q.requestId, STORE_STATUS.badRequest, 'a query is either a content filter or a hash lookup'))
  if ((q.pubsubTopic === undefined) !== (q.contentTopics.length === 0)) return encodeStoreQueryResponse(errorResponse(q.requestId, STORE_STATUS.badRequest, 'pubsub_topic and content_topics must be set together'))
  if (q.requestId.length === 0) return encodeStoreQueryResponse(errorResponse(q.requestId, STORE_STATUS.badRequest, 'a request_id is required'))
  const limit = q.paginationLimit === undefined || q.paginationLimit <= 0 ? STORE_DEFAULT_PAGE : Math.min(q.paginationLimit, STORE_MAX_PAGE)
  let page
  try {
    page = archive.query({
      pubsubTopic: q.pubsubTopic,
      contentTopics: q.contentTopics,
      timeStart: q.timeStart,
      timeEnd: q.timeEnd,
      hashes: q.messageHashes.length > 0 ? q.messageHashes : undefined,
      cursor: q.paginationCursor,
      forward: q.paginationForward,
      limit
    })
  } catch (err) {
    if (err instanceof DeliveryStoreQueryError) return encodeStoreQueryResponse(errorResponse(q.requestId, Number(err.data.status ?? STORE_STATUS.badRequest), err.message))
    return encodeStoreQueryResponse(errorResponse(q.requestId, STORE_STATUS.internal, (err as Error).message))
  }
  // Fit the page into one frame: entries are taken in traversal order until the budget is spent.
  const budget = maxResponseBytes - RESPONSE_OVERHEAD
  let used = 0
  const taken: Array<{ m: ArchivedMessage, bytes: Uint8Array }> = []
  for (const m of page.messages) {
    const entry: StoreEntry = q.includeData ? { messageHash: m.hash, message: m.message, pubsubTopic: m.pubsubTopic } : { messageHash: m.hash }
    const bytes = encodedEntry(entry)
    if (taken.length > 0 && used + bytes.length + 8 > budget) break
    used += bytes.length + 8
    taken.push({ m, bytes })
  }
  const more = page.more || taken.length < page.messages.length
  const cursor = more && taken.length > 0 ? (taken[taken.length - 1] as { m: ArchivedMessage }).m.hash : undefined
  if (!q.paginationForward) taken.reverse()
  return encodeStoreQueryResponse({ requestId: q.requestId, statusCode: STORE_STATUS.ok, statusDesc: 'OK', messages: [], paginationCursor: cursor }, taken.map(t => t.bytes))
}

/** Decodes a request and answers it; a request that does not decode gets status 400. */
export function handleStoreRequest (archive: MessageArchive, bytes: Uint8Array, maxResponseBytes = MAX_FRAME_BYTES): Uint8Array {
  let q: StoreQueryRequest
  try {
    q = decodeStoreQueryRequest(bytes)
  } catch (err) {
    return encodeStoreQueryResponse(errorResponse('', STORE_STATUS.badRequest, (err as Error).message))
  }
  return answerStoreQuery(archive, q, maxResponseBytes)
}

/** A store query as a client writes it: fields default to a backward page of 20 without data. */
export function storeQuery (init: Partial<StoreQueryRequest>): StoreQueryRequest {
  return {
    requestId: init.requestId ?? randomUUID(),
    includeData: init.includeData ?? true,
    pubsubTopic: init.pubsubTopic,
    contentTopics: init.contentTopics ?? [],
    timeStart: init.timeStart,
    timeEnd: init.timeEnd,
    messageHashes: init.messageHashes ?? [],
    paginationCursor: init.paginationCursor,
    paginationForward: init.paginationForward ?? false,
    paginationLimit: init.paginationLimit
  }
}

/**
 * Reads a store response and checks it answers the request: the request id must match and the status be 2xx,
 * else ERR_DLV_STORE_QUERY with the status in data.status.
 */
export function readStoreResponse (request: StoreQueryRequest, bytes: Uint8Array): StoreQueryResponse {
  const r = decodeStoreQueryResponse(bytes)
  if (r.requestId !== request.requestId) throw new DeliveryDecodeError(`store response for request ${r.requestId}, expected ${request.requestId}`)
  const status = r.statusCode ?? 0
  if (status < 200 || status > 299) throw new DeliveryStoreQueryError(`store query refused: ${status} ${r.statusDesc ?? ''}`.trim(), { data: { status } })
  return r
}

/** Sends a store query to `peer` and returns its checked response. */
export async function queryStorePeer (opener: StreamOpener, peer: PeerId | Multiaddr, request: StoreQueryRequest, options: RequestOptions = {}): Promise<StoreQueryResponse> {
  const bytes = await sendRequest(opener, peer, STORE_CODEC, encodeStoreQueryRequest(request), options)
  return readStoreResponse(request, bytes)
}

export interface WakuStoreInit {
  /** An archive to serve; otherwise one is opened at `path` (':memory:' when absent). */
  archive?: MessageArchive
  path?: string
  archiveOptions?: ArchiveOptions
  /** Serve queries from other peers (default true); a client-only node sets false. */
  serve?: boolean
  /** The relay service whose accepted messages are archived (default 'relay'; none found: nothing is archived). */
  relayService?: string
}

export interface WakuStoreComponents {
  registrar: Registrar
  connectionManager: StreamOpener
  logger: ComponentLogger
  [service: string]: unknown
}

interface RelayEvents {
  addEventListener: (type: 'message', listener: (e: CustomEvent<RelayedMessage>) => void) => void
  removeEventListener: (type: 'message', listener: (e: CustomEvent<RelayedMessage>) => void) => void
}

/**
 * A store node as a js-libp2p service: archives what the relay service accepts, answers /vac/waku/store-query/3.0.0,
 * and queries other store nodes.
 */
export class WakuStore implements Startable {
  private readonly components: WakuStoreComponents
  private readonly init: WakuStoreInit
  private readonly log: Logger
  private archiveRef: MessageArchive | undefined
  private relay: RelayEvents | undefined
  private pruneTimer: ReturnType<typeof setInterval> | undefined
  private readonly onRelayed = (e: CustomEvent<RelayedMessage>): void => {
    const m = e.detail
    if (m.message === undefined) return
    try {
      this.archiveRef?.put(m.topic, m.message, m.data)
    } catch (err) {
      this.log.error('archiving failed: %e', err)
    }
  }

  constructor (components: WakuStoreComponents, init: WakuStoreInit = {}) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('logos:delivery:store')
  }

  readonly [Symbol.toStringTag] = '@logos/waku-store'

  get archive (): MessageArchive {
    if (this.archiveRef === undefined) throw new DeliveryNotStartedError()
    return this.archiveRef
  }

  async start (): Promise<void> {
    this.archiveRef = this.init.archive ?? new MessageArchive(this.init.path, this.init.archiveOptions)
    if (this.init.serve !== false) {
      await this.components.registrar.handle(STORE_CODEC, (stream) => {
        void serveRequest(stream, (request) => handleStoreRequest(this.archive, request))
      }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    }
    const relay = this.components[this.init.relayService ?? 'relay'] as RelayEvents | undefined
    if (relay !== undefined && typeof relay.addEventListener === 'function') {
      this.relay = relay
      relay.addEventListener('message', this.onRelayed)
    }
    this.pruneTimer = setInterval(() => {
      try {
        this.archiveRef?.prune()
      } catch (err) {
        this.log.error('retention failed: %e', err)
      }
    }, ARCHIVE_PRUNE_INTERVAL_MS)
    this.pruneTimer.unref()
  }

  async stop (): Promise<void> {
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer)
    this.relay?.removeEventListener('message', this.onRelayed)
    this.relay = undefined
    if (this.init.serve !== false) await this.components.registrar.unhandle(STORE_CODEC)
    if (this.init.archive === undefined) this.archiveRef?.close()
    this.archiveRef = undefined
  }

  /** Queries a store node. */
  async query (peer: PeerId | Multiaddr, request: Partial<StoreQueryRequest>, options: RequestOptions = {}): Promise<StoreQueryResponse> {
    return await queryStorePeer(this.components.connectionManager, peer, storeQuery(request), options)
  }

  /** Every page of a query, following the cursor (at most `maxPages`). */
  async * queryAll (peer: PeerId | Multiaddr, request: Partial<StoreQueryRequest>, options: RequestOptions & { maxPages?: number } = {}): AsyncGenerator<StoreEntry[]> {
    let cursor = request.paginationCursor
    for (let i = 0; i < (options.maxPages ?? 100); i++) {
      const r = await this.query(peer, { ...request, requestId: undefined, paginationCursor: cursor }, options)
      yield r.messages
      if (r.paginationCursor === undefined) return
      cursor = r.paginationCursor
    }
  }
}

export function wakuStore (init: WakuStoreInit = {}): (components: WakuStoreComponents) => WakuStore {
  return (components) => new WakuStore(components, init)
}

