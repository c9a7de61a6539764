import { randomUUID } from 'node:crypto'
import type { ComponentLogger, PeerId, Startable } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions } from '../../common/index.ts'
import { LIGHTPUSH_CODEC, MAX_CONTENT_TOPIC_LENGTH, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_REQUEST_ID_LENGTH } from './constants.ts'
import { DeliveryDecodeError, DeliveryLightpushError, DeliveryNotStartedError } from './errors.ts'
import { decodeWakuMessage, encodeWakuMessage } from './message.ts'
import type { WakuMessage } from './message.ts'
import { ProtoReader, ProtoWriter } from './protobuf.ts'
import { sendRequest, serveRequest } from './request-response.ts'
import type { RequestOptions, StreamOpener } from './request-response.ts'
import type { WakuRelay } from './relay.ts'

/**
 * WAKU-LIGHTPUSH v3 (docs/messaging/raw/lightpush.md, /vac/waku/lightpush/3.0.0):
 * ```protobuf
 * message LightPushRequest { string request_id = 1; optional string pubsub_topic = 20; WakuMessage message = 21; }
 * message LightPushResponse { string request_id = 1; uint32 status_code = 10; optional string status_desc = 11; optional uint32 relay_peer_count = 12; }
 * ```
 */
export interface LightPushRequest {
  requestId: string
  pubsubTopic?: string
  message?: WakuMessage
}

export interface LightPushResponse {
  requestId: string
  statusCode: number
  statusDesc?: string
  relayPeerCount?: number
}

/** lightpush.md "Examples of possible error codes". */
export const LIGHTPUSH_STATUS = Object.freeze({
  ok: 200,
  badRequest: 400,
  payloadTooLarge: 413,
  unsupportedPubsubTopic: 421,
  tooManyRequests: 429,
  internal: 500,
  noPeersToRelay: 503
})

export function encodeLightPushRequest (r: LightPushRequest): Uint8Array {
  const w = new ProtoWriter()
  if (r.requestId.length > 0) w.string(1, r.requestId)
  if (r.pubsubTopic !== undefined) w.string(20, r.pubsubTopic)
  if (r.message !== undefined) w.bytes(21, encodeWakuMessage(r.message))
  return w.finish()
}

export function decodeLightPushRequest (bytes: Uint8Array): LightPushRequest {
  const rd = new ProtoReader(bytes, 'LightPushRequest')
  const out: LightPushRequest = { requestId: '' }
  for (let f = rd.next(); f !== undefined; f = rd.next()) {
    switch (f.field) {
      case 1: out.requestId = rd.string(f, MAX_REQUEST_ID_LENGTH); break
      case 20: out.pubsubTopic = rd.string(f, MAX_CONTENT_TOPIC_LENGTH); break
      case 21: out.message = decodeWakuMessage(rd.bytes(f)); break
      default: rd.skip(f)
    }
  }
  return out
}

export function encodeLightPushResponse (r: LightPushResponse): Uint8Array {
  const w = new ProtoWriter()
  if (r.requestId.length > 0) w.string(1, r.requestId)
  if (r.statusCode !== 0) w.uint32(10, r.statusCode)
  if (r.statusDesc !== undefined) w.string(11, r.statusDesc)
  if (r.relayPeerCount !== undefined) w.uint32(12, r.relayPeerCount)
  return w.finish()
}

export function decodeLightPushResponse (bytes: Uint8Array): LightPushResponse {
  const rd = new ProtoReader(bytes, 'LightPushResponse')
  const out: LightPushResponse = { requestId: '', statusCode: 0 }
  for (let f = rd.next(); f !== undefined; f = rd.next()) {
    switch (f.field) {
      case 1: out.requestId = rd.string(f, MAX_REQUEST_ID_LENGTH); break
      case 10: out.statusCode = rd.uint32(f); break
      case 11: out.statusDesc = rd.string(f, 4096); break
      case 12: out.relayPeerCount = rd.uint32(f); break
      default: rd.skip(f)
    }
  }
  return out
}

/** What a lightpush service does with a pushed message: validate and relay it; returns the peers it reached. */
export type LightpushPush = (pubsubTopic: string | undefined, message: WakuMessage, encoded: Uint8Array, options: AbortOptions) => Promise<{ relayPeerCount: number }>

/** The status of a push that failed with `err` (typed errors by code; anything else is internal). */
export function lightpushStatusOf (err: unknown): number {
  const e = err as { code?: unknown, data?: { status?: unknown } } | undefined
  if (e?.code === DeliveryLightpushError.code && typeof e.data?.status === 'number') return e.data.status
  switch (e?.code) {
    case 'ERR_DLV_MESSAGE_TOO_LARGE': return LIGHTPUSH_STATUS.payloadTooLarge
    case 'ERR_DLV_PUBSUB_TOPIC':
    case 'ERR_DLV_CONTENT_TOPIC': return LIGHTPUSH_STATUS.unsupportedPubsubTopic
    case 'ERR_RLN_RATE_LIMITED':
    case 'ERR_RLN_SPAM_DETECTED':
    case 'ERR_RLN_DUPLICATE_MESSAGE':
    case 'ERR_DLV_OVERLOADED': return LIGHTPUSH_STATUS.tooManyRequests
    case 'ERR_DLV_PUBLISH': return LIGHTPUSH_STATUS.noPeersToRelay
    case 'ERR_DLV_DECODE':
    case 'ERR_DLV_INVALID_MESSAGE':
    case 'ERR_DLV_TIMESTAMP':
    case 'ERR_DLV_EPOCH_MISMATCH':
    case 'ERR_DLV_NO_PROOF':
    case 'ERR_DLV_RLN_IDENTIFIER':
    case 'ERR_RLN_INVALID_PROOF':
    case 'ERR_RLN_UNKNOWN_ROOT':
    case 'ERR_RLN_EPOCH_OUT_OF_RANGE': return LIGHTPUSH_STATUS.badRequest
    default: return LIGHTPUSH_STATUS.internal
  }
}

/**
 * Serves one lightpush request (lightpush.md "Message Relaying"): the message is validated and relayed by `push`;
 * 200 with relay_peer_count on success, 503 when it reached no peer, the error's status otherwise.
 */
export async function handleLightpushRequest (bytes: Uint8Array, push: LightpushPush, options: AbortOptions = {}): Promise<Uint8Array> {
  let req: LightPushRequest
  try {
    req = decodeLightPushRequest(bytes)
  } catch (err) {
    return encodeLightPushResponse({ requestId: '', statusCode: LIGHTPUSH_STATUS.badRequest, statusDesc: (err as Error).message })
  }
  if (req.message === undefined) return encodeLightPushResponse({ requestId: req.requestId, statusCode: LIGHTPUSH_STATUS.badRequest, statusDesc: 'the request carries no message' })
  try {
    const { relayPeerCount } = await push(req.pubsubTopic, req.message, encodeWakuMessage(req.message), options)
    if (relayPeerCount === 0) return encodeLightPushResponse({ requestId: req.requestId, statusCode: LIGHTPUSH_STATUS.noPeersToRelay, statusDesc: 'no relay peers', relayPeerCount: 0 })
    return encodeLightPushResponse({ requestId: req.requestId, statusCode: LIGHTPUSH_STATUS.ok, relayPeerCount })
  } catch (err) {
    const code = (err as { code?: string }).code
    return encodeLightPushResponse({ requestId: req.requestId, statusCode: lightpushStatusOf(err), statusDesc: code === undefined ? (err as Error).message : `${code}: ${(err as Error).message}` })
  }
}

/** Reads a lightpush response: the request id must match and the status be 2xx, else ERR_DLV_LIGHTPUSH (data.status). */
export function readLightPushResponse (request: LightPushRequest, bytes: Uint8Array): LightPushResponse {
  const r = decodeLightPushResponse(bytes)
  if (r.requestId !== request.requestId) throw new DeliveryDecodeError(`lightpush response for request ${r.requestId}, expected ${request.requestId}`)
  if (r.statusCode < 200 || r.statusCode > 299) {
    throw new DeliveryLightpushError(`lightpush refused: ${r.statusCode} ${r.statusDesc ?? ''}`.trim(), { data: { status: r.statusCode, desc: r.statusDesc } })
  }
  return r
}

/** Pushes a message to a lightpush service node. */
export async function pushTo (opener: StreamOpener, peer: PeerId | Multiaddr, message: WakuMessage, options: RequestOptions & { pubsubTopic?: string } = {}): Promise<LightPushResponse> {
  const request: LightPushRequest = { requestId: randomUUID(), pubsubTopic: options.pubsubTopic, message }
  return readLightPushResponse(request, await sendRequest(opener, peer, LIGHTPUSH_CODEC, encodeLightPushRequest(request), options))
}

export interface WakuLightpushInit {
  /** Validates and relays a pushed message; by default through the node's relay service (its validators first). */
  push?: LightpushPush
  /** The pubsub topic of a message pushed without one (autosharding); without it such pushes get 421. */
  pubsubTopicOf?: (message: WakuMessage) => string
  relayService?: string
  /** Serve pushes (default true); a client-only node sets false. */
  serve?: boolean
}

export interface WakuLightpushComponents {
  peerId?: PeerId
  registrar: Registrar
  connectionManager: StreamOpener
  logger: ComponentLogger
  [service: string]: unknown
}

/** A lightpush service node and client as a js-libp2p service. */
export class WakuLightpush implements Startable {
  private readonly components: WakuLightpushComponents
  private readonly init: WakuLightpushInit
  private running = false

  constructor (components: WakuLightpushComponents, init: WakuLightpushInit = {}) {
    this.components = components
    this.init = init
  }

  readonly [Symbol.toStringTag] = '@logos/waku-lightpush'

  private readonly relayPush: LightpushPush = async (pubsubTopic, message, encoded, options) => {
    const relay = this.components[this.init.relayService ?? 'relay'] as WakuRelay | undefined
    if (relay === undefined) throw new DeliveryNotStartedError('no relay service to push through')
    const topic = pubsubTopic ?? this.init.pubsubTopicOf?.(message)
    if (topic === undefined) throw new DeliveryLightpushError('no pubsub topic given and no autosharding configured', { data: { status: LIGHTPUSH_STATUS.unsupportedPubsubTopic } })
    const checked = await relay.validate(topic, encoded, this.components.peerId?.toString() ?? 'local', options)
    if (checked.verdict !== 'accept') {
      // A validator's bare verdict: rejected is a bad request, ignored (overload, replay) is "too many requests".
      const status = checked.code !== undefined ? lightpushStatusOf({ code: checked.code }) : checked.verdict === 'reject' ? LIGHTPUSH_STATUS.badRequest : LIGHTPUSH_STATUS.tooManyRequests
      throw new DeliveryLightpushError(`${checked.code ?? checked.verdict}: ${checked.reason ?? 'the message was not accepted'}`, { data: { status, code: checked.code } })
    }
    const { recipients } = await relay.publish(topic, encoded, options)
    return { relayPeerCount: recipients.length }
  }

  async start (): Promise<void> {
    if (this.init.serve !== false) {
      await this.components.registrar.handle(LIGHTPUSH_CODEC, (stream) => {
        void serveRequest(stream, async (request, options) => await handleLightpushRequest(request, this.init.push ?? this.relayPush, options))
      }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    }
    this.running = true
  }

  async stop (): Promise<void> {
    this.running = false
    if (this.init.serve !== false) await this.components.registrar.unhandle(LIGHTPUSH_CODEC)
  }

  /** Pushes a message through a service node. */
  async push (peer: PeerId | Multiaddr, message: WakuMessage, options: RequestOptions & { pubsubTopic?: string } = {}): Promise<LightPushResponse> {
    if (!this.running) throw new DeliveryNotStartedError()
    return await pushTo(this.components.connectionManager, peer, message, options)
  }
}

export function wakuLightpush (init: WakuLightpushInit = {}): (components: WakuLightpushComponents) => WakuLightpush {
  return (components) => new WakuLightpush(components, init)
}
