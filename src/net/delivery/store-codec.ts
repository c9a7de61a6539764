import { MAX_CONTENT_TOPIC_LENGTH, MAX_REQUEST_ID_LENGTH, STORE_MAX_CONTENT_TOPICS, STORE_MAX_HASHES } from './constants.ts'
import { DeliveryDecodeError } from './errors.ts'
import { decodeWakuMessage, encodeWakuMessage } from './message.ts'
import type { WakuMessage } from './message.ts'
import { ProtoReader, ProtoWriter } from './protobuf.ts'

/**
 * 13/WAKU2-STORE v3 "Payloads" (/vac/waku/store-query/3.0.0):
 * ```protobuf
 * message WakuMessageKeyValue { optional bytes message_hash = 1; optional WakuMessage message = 2; optional string pubsub_topic = 3; }
 * message StoreQueryRequest {
 *   string request_id = 1; bool include_data = 2;
 *   optional string pubsub_topic = 10; repeated string content_topics = 11; optional sint64 time_start = 12; optional sint64 time_end = 13;
 *   repeated bytes message_hashes = 20;
 *   optional bytes pagination_cursor = 51; bool pagination_forward = 52; optional uint64 pagination_limit = 53;
 * }
 * message StoreQueryResponse {
 *   string request_id = 1; optional uint32 status_code = 10; optional string status_desc = 11;
 *   repeated WakuMessageKeyValue messages = 20; optional bytes pagination_cursor = 51;
 * }
 * ```
 */

export interface StoreQueryRequest {
  requestId: string
  includeData: boolean
  pubsubTopic?: string
  contentTopics: string[]
  /** ns, inclusive */
  timeStart?: bigint
  /** ns, exclusive */
  timeEnd?: bigint
  messageHashes: Uint8Array[]
  paginationCursor?: Uint8Array
  paginationForward: boolean
  paginationLimit?: number
}

export interface StoreEntry {
  messageHash: Uint8Array
  message?: WakuMessage
  pubsubTopic?: string
}

export interface StoreQueryResponse {
  requestId: string
  statusCode?: number
  statusDesc?: string
  messages: StoreEntry[]
  paginationCursor?: Uint8Array
}

/** Store v3 status codes (as logos-delivery answers them). */
export const STORE_STATUS = Object.freeze({ ok: 200, badRequest: 400, tooManyRequests: 429, internal: 500, unavailable: 503 })

export function encodeStoreQueryRequest (q: StoreQueryRequest): Uint8Array {
  const w = new ProtoWriter()
  if (q.requestId.length > 0) w.string(1, q.requestId)
  if (q.includeData) w.bool(2, true)
  if (q.pubsubTopic !== undefined) w.string(10, q.pubsubTopic)
  for (const t of q.contentTopics) w.string(11, t)
  if (q.timeStart !== undefined) w.sint64(12, q.timeStart)
  if (q.timeEnd !== undefined) w.sint64(13, q.timeEnd)
  for (const h of q.messageHashes) w.bytes(20, h)
  if (q.paginationCursor !== undefined) w.bytes(51, q.paginationCursor)
  if (q.paginationForward) w.bool(52, true)
  if (q.paginationLimit !== undefined) w.uint64(53, BigInt(q.paginationLimit))
  return w.finish()
}

export function decodeStoreQueryRequest (bytes: Uint8Array): StoreQueryRequest {
  const r = new ProtoReader(bytes, 'StoreQueryRequest')
  const q: StoreQueryRequest = { requestId: '', includeData: false, contentTopics: [], messageHashes: [], paginationForward: false }
  for (let f = r.next(); f !== undefined; f = r.next()) {
    switch (f.field) {
      case 1: q.requestId = r.string(f, MAX_REQUEST_ID_LENGTH); break
      case 2: q.includeData = r.bool(f); break
      case 10: q.pubsubTopic = r.string(f, MAX_CONTENT_TOPIC_LENGTH); break
      case 11:
        if (q.contentTopics.length >= STORE_MAX_CONTENT_TOPICS) throw new DeliveryDecodeError(`StoreQueryRequest: more than ${STORE_MAX_CONTENT_TOPICS} content topics`)
        q.contentTopics.push(r.string(f, MAX_CONTENT_TOPIC_LENGTH))
        break
      case 12: q.timeStart = r.sint64(f); break
      case 13: q.timeEnd = r.sint64(f); break
      case 20:
        if (q.messageHashes.length >= STORE_MAX_HASHES) throw new DeliveryDecodeError(`StoreQueryRequest: more than ${STORE_MAX_HASHES} message hashes`)
        q.messageHashes.push(Uint8Array.from(r.bytes(f, 32)))
        break
      case 51: q.paginationCursor = Uint8Array.from(r.bytes(f, 32)); break
      case 52: q.paginationForward = r.bool(f); break
      case 53: {
        const v = r.uint64(f)
        q.paginationLimit = v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v)
        break
      }
      default: r.skip(f)
    }
  }
  return q
}

function encodeEntry (e: StoreEntry): Uint8Array {
  const w = new ProtoWriter()
  w.bytes(1, e.messageHash)
  if (e.message !== undefined) w.bytes(2, encodeWakuMessage(e.message))
  if (e.pubsubTopic !== undefined) w.string(3, e.pubsubTopic)
  return w.finish()
}

function decodeEntry (bytes: Uint8Array): StoreEntry {
  const r = new ProtoReader(bytes, 'WakuMessageKeyValue')
  let messageHash: Uint8Array | undefined
  let message: WakuMessage | undefined
  let pubsubTopic: string | undefined
  for (let f = r.next(); f !== undefined; f = r.next()) {
    switch (f.field) {
      case 1: messageHash = Uint8Array.from(r.bytes(f, 32)); break
      case 2: message = decodeWakuMessage(r.bytes(f)); break
      case 3: pubsubTopic = r.string(f, MAX_CONTENT_TOPIC_LENGTH); break
      default: r.skip(f)
    }
  }
  if (messageHash === undefined) throw new DeliveryDecodeError('WakuMessageKeyValue: no message_hash')
  // "Both fields MUST either be set or unset."
  if ((message === undefined) !== (pubsubTopic === undefined)) throw new DeliveryDecodeError('WakuMessageKeyValue: message and pubsub_topic must be set together')
  return { messageHash, message, pubsubTopic }
}

/** The encoded size of one entry inside a response (for page budgeting). */
export function encodedEntry (e: StoreEntry): Uint8Array {
  return encodeEntry(e)
}

export function encodeStoreQueryResponse (r: StoreQueryResponse, entries?: Uint8Array[]): Uint8Array {
  const w = new ProtoWriter()
  if (r.requestId.length > 0) w.string(1, r.requestId)
  if (r.statusCode !== undefined) w.uint32(10, r.statusCode)
  if (r.statusDesc !== undefined) w.string(11, r.statusDesc)
  for (const e of entries ?? r.messages.map(encodeEntry)) w.bytes(20, e)
  if (r.paginationCursor !== undefined) w.bytes(51, r.paginationCursor)
  return w.finish()
}

export function decodeStoreQueryResponse (bytes: Uint8Array): StoreQueryResponse {
  const r = new ProtoReader(bytes, 'StoreQueryResponse')
  const out: StoreQueryResponse = { requestId: '', messages: [] }
  for (let f = r.next(); f !== undefined; f = r.next()) {
    switch (f.field) {
      case 1: out.requestId = r.string(f, MAX_REQUEST_ID_LENGTH); break
      case 10: out.statusCode = r.uint32(f); break
      case 11: out.statusDesc = r.string(f, 4096); break
      case 20: out.messages.push(decodeEntry(r.bytes(f))); break
      case 51: out.paginationCursor = Uint8Array.from(r.bytes(f, 32)); break
      default: r.skip(f)
    }
  }
  return out
}
