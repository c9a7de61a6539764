import { createHash } from 'node:crypto'
import { MAX_CONTENT_TOPIC_LENGTH, MAX_MESSAGE_BYTES, MAX_META_BYTES } from './constants.ts'
import { DeliveryInvalidMessageError, DeliveryMessageTooLargeError } from './errors.ts'
import { ProtoReader, ProtoWriter } from './protobuf.ts'

/**
 * 14/WAKU2-MESSAGE "Wire Format":
 * ```protobuf
 * message WakuMessage {
 *   bytes payload = 1; string content_topic = 2; optional uint32 version = 3; optional sint64 timestamp = 10;
 *   optional bytes meta = 11; optional bytes rate_limit_proof = 21; optional bool ephemeral = 31;
 * }
 * ```
 * `timestamp` is Unix time in nanoseconds; `proof` holds a RateLimitProof (17/WAKU2-RLN-RELAY).
 */
export interface WakuMessage {
  payload: Uint8Array
  contentTopic: string
  version?: number
  timestamp?: bigint
  meta?: Uint8Array
  proof?: Uint8Array
  ephemeral?: boolean
}

/** Encodes in field order; optional fields are written when present (proto3 `optional` has presence). */
export function encodeWakuMessage (m: WakuMessage): Uint8Array {
  const w = new ProtoWriter(m.payload.length + 64 + (m.proof?.length ?? 0))
  if (m.payload.length > 0) w.bytes(1, m.payload)
  if (m.contentTopic.length > 0) w.string(2, m.contentTopic)
  if (m.version !== undefined) w.uint32(3, m.version)
  if (m.timestamp !== undefined) w.sint64(10, m.timestamp)
  if (m.meta !== undefined) w.bytes(11, m.meta)
  if (m.proof !== undefined) w.bytes(21, m.proof)
  if (m.ephemeral !== undefined) w.bool(31, m.ephemeral)
  return w.finish()
}

/** Decodes a WakuMessage; unknown fields are skipped. Byte fields are copies (the input may be a pooled buffer). */
export function decodeWakuMessage (bytes: Uint8Array): WakuMessage {
  const r = new ProtoReader(bytes, 'WakuMessage')
  const m: WakuMessage = { payload: new Uint8Array(0), contentTopic: '' }
  for (let f = r.next(); f !== undefined; f = r.next()) {
    switch (f.field) {
      case 1: m.payload = Uint8Array.from(r.bytes(f)); break
      case 2: m.contentTopic = r.string(f, MAX_CONTENT_TOPIC_LENGTH); break
      case 3: m.version = r.uint32(f); break
      case 10: m.timestamp = r.sint64(f); break
      case 11: m.meta = Uint8Array.from(r.bytes(f)); break
      case 21: m.proof = Uint8Array.from(r.bytes(f)); break
      case 31: m.ephemeral = r.bool(f); break
      default: r.skip(f)
    }
  }
  return m
}

/**
 * The checks every relay applies before any validator: size (64/WAKU2-NETWORK, 150 KiB), meta at most 64 bytes
 * (14/WAKU2-MESSAGE "meta"), a content topic present.
 */
export function checkWakuMessage (m: WakuMessage, encodedLength: number, maxBytes = MAX_MESSAGE_BYTES): void {
  if (encodedLength > maxBytes) throw new DeliveryMessageTooLargeError(`message of ${encodedLength} bytes exceeds ${maxBytes}`, { data: { size: encodedLength, max: maxBytes } })
  if (m.meta !== undefined && m.meta.length > MAX_META_BYTES) throw new DeliveryInvalidMessageError(`meta of ${m.meta.length} bytes exceeds ${MAX_META_BYTES}`)
  if (m.contentTopic.length === 0) throw new DeliveryInvalidMessageError('the message has no content topic')
}

const utf8 = new TextEncoder()

function u64be (v: bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, v), false)
  return out
}

/**
 * 14/WAKU2-MESSAGE "Deterministic message hashing":
 * sha256(pubsub_topic || payload || content_topic || meta || timestamp), the timestamp as a big-endian u64 (an
 * absent timestamp counts as 0, as logos-delivery's computeMessageHash writes it); an absent meta adds nothing.
 */
export function messageHash (pubsubTopic: string, m: WakuMessage): Uint8Array {
  const h = createHash('sha256')
  h.update(utf8.encode(pubsubTopic))
  h.update(m.payload)
  h.update(utf8.encode(m.contentTopic))
  if (m.meta !== undefined) h.update(m.meta)
  h.update(u64be(m.timestamp ?? 0n))
  return new Uint8Array(h.digest())
}

/**
 * The RLN signal of a message (logos-delivery rln_relay.nim toRLNSignal): payload || content_topic ||
 * timestamp as a little-endian u64.
 */
export function rlnSignal (m: WakuMessage): Uint8Array {
  const topic = utf8.encode(m.contentTopic)
  const out = new Uint8Array(m.payload.length + topic.length + 8)
  out.set(m.payload, 0)
  out.set(topic, m.payload.length)
  new DataView(out.buffer).setBigUint64(m.payload.length + topic.length, BigInt.asUintN(64, m.timestamp ?? 0n), true)
  return out
}

/** Hex of a message hash, as the Messaging API hands it out. */
export function hashHex (hash: Uint8Array): string {
  return '0x' + Buffer.from(hash).toString('hex')
}

/** Unix time in nanoseconds from milliseconds. */
export function nsFromMs (ms: number): bigint {
  return BigInt(Math.round(ms * 1_000)) * 1_000n
}
