import { MESSAGE_LENGTH, SURB_LENGTH } from './constants.ts'
import { SphinxMalformedPayloadError, SphinxMessageTooLargeError } from './errors.ts'

/**
 * The application message m inside the payload (3968 bytes, mix.md 8.5.2 step 1). The spec leaves the padding and
 * the layout to each deployment; our choices, tested by vectors:
 *
 * Padding (the scheme mix.md suggests: the padding length written out, zero bytes in front):
 *   m = padLen (u16, big-endian) | 0^padLen | body                    |body| = 3966 - padLen
 *
 * A forward message's body (the exit learns the codec, SURBs and the fragment it is part of):
 *   codecLen (LEB128 varint, 1 or 2 bytes, at most 16383, minimal) | codec (UTF-8)
 *   | surbCount (u8) | surbCount x SURB (734 bytes each, surb.ts)
 *   | messageId (8) | index (u16) | count (u16) | data
 *
 * A reply's body (what a SURB carries back; the SURB identifier already says which request it answers):
 *   status (u8) | index (u16) | count (u16) | data
 *
 * messageId groups the fragments of one message (random; the exit reassembles by it); index < count <= 65535.
 */

export const PAD_FIELD_LENGTH = 2
export const BODY_LENGTH = MESSAGE_LENGTH - PAD_FIELD_LENGTH
export const MESSAGE_ID_LENGTH = 8
export const FRAGMENT_HEADER_LENGTH = MESSAGE_ID_LENGTH + 4
export const REPLY_HEADER_LENGTH = 5
export const MAX_CODEC_LENGTH = 0x3fff
/** A reply fragment's room for data. */
export const REPLY_DATA_CAPACITY = BODY_LENGTH - REPLY_HEADER_LENGTH

/** Reply status codes: how the exit answers when it has no reply from the destination to give. */
export const REPLY_STATUS = {
  ok: 0,
  /** The destination could not be reached (dial or stream failure). */
  unreachable: 1,
  /** The destination has no handler for the protocol. */
  noHandler: 2,
  /** The destination did not answer in time. */
  timeout: 3,
  /** The answer needed more SURBs than the request carried. */
  tooLarge: 4,
  /** The destination's handler failed. */
  failed: 5
} as const

export interface Fragment {
  messageId: Uint8Array
  index: number
  count: number
}

export interface ForwardMessage {
  codec: string
  surbs: Uint8Array[]
  fragment: Fragment
  data: Uint8Array
}

export interface ReplyMessage {
  status: number
  index: number
  count: number
  data: Uint8Array
}

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** m = padLen | zeros | body. */
export function padMessage (body: Uint8Array): Uint8Array {
  if (body.length > BODY_LENGTH) throw new SphinxMessageTooLargeError(body.length, BODY_LENGTH)
  const m = new Uint8Array(MESSAGE_LENGTH)
  const padLen = BODY_LENGTH - body.length
  m[0] = padLen >> 8
  m[1] = padLen & 0xff
  m.set(body, PAD_FIELD_LENGTH + padLen)
  return m
}

/** The body of a padded m; the padding bytes must be zero. */
export function unpadMessage (m: Uint8Array): Uint8Array {
  if (m.length !== MESSAGE_LENGTH) throw new SphinxMalformedPayloadError(`message must be ${MESSAGE_LENGTH} bytes`)
  const padLen = ((m[0] as number) << 8) | (m[1] as number)
  if (padLen > BODY_LENGTH) throw new SphinxMalformedPayloadError(`padding length ${padLen} exceeds ${BODY_LENGTH}`)
  for (let i = PAD_FIELD_LENGTH; i < PAD_FIELD_LENGTH + padLen; i++) {
    if (m[i] !== 0) throw new SphinxMalformedPayloadError('non-zero padding')
  }
  return m.subarray(PAD_FIELD_LENGTH + padLen)
}

function varintLength (n: number): number {
  return n < 0x80 ? 1 : 2
}

function codecBytes (codec: string): Uint8Array {
  const bytes = utf8.encode(codec)
  if (bytes.length > MAX_CODEC_LENGTH) throw new SphinxMessageTooLargeError(bytes.length, MAX_CODEC_LENGTH)
  return bytes
}

/** The bytes of data one forward fragment can carry with this codec and this many SURBs (negative: none fit). */
export function forwardDataCapacity (codec: string, surbCount: number): number {
  const c = codecBytes(codec).length
  return BODY_LENGTH - varintLength(c) - c - 1 - surbCount * SURB_LENGTH - FRAGMENT_HEADER_LENGTH
}

function writeU16 (out: Uint8Array, offset: number, v: number): void {
  out[offset] = v >> 8
  out[offset + 1] = v & 0xff
}

function readU16 (b: Uint8Array, offset: number): number {
  return ((b[offset] as number) << 8) | (b[offset + 1] as number)
}

function checkFragment (index: number, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > 0xffff) throw new SphinxMalformedPayloadError(`fragment count ${count} out of range`)
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new SphinxMalformedPayloadError(`fragment index ${index} of ${count}`)
}

/** The padded m of one forward fragment. */
export function encodeForwardMessage (msg: ForwardMessage): Uint8Array {
  const codec = codecBytes(msg.codec)
  if (msg.surbs.length > 0xff) throw new SphinxMessageTooLargeError(msg.surbs.length, 0xff)
  if (msg.fragment.messageId.length !== MESSAGE_ID_LENGTH) throw new SphinxMalformedPayloadError(`message id must be ${MESSAGE_ID_LENGTH} bytes`)
  checkFragment(msg.fragment.index, msg.fragment.count)
  const capacity = forwardDataCapacity(msg.codec, msg.surbs.length)
  if (msg.data.length > capacity) throw new SphinxMessageTooLargeError(msg.data.length, Math.max(0, capacity))
  const headLength = varintLength(codec.length) + codec.length + 1 + msg.surbs.length * SURB_LENGTH + FRAGMENT_HEADER_LENGTH
  const body = new Uint8Array(headLength + msg.data.length)
  let o = 0
  if (codec.length < 0x80) body[o++] = codec.length
  else {
    body[o++] = (codec.length & 0x7f) | 0x80
    body[o++] = codec.length >> 7
  }
  body.set(codec, o)
  o += codec.length
  body[o++] = msg.surbs.length
  for (const s of msg.surbs) {
    if (s.length !== SURB_LENGTH) throw new SphinxMalformedPayloadError(`a SURB is ${SURB_LENGTH} bytes`)
    body.set(s, o)
    o += SURB_LENGTH
  }
  body.set(msg.fragment.messageId, o)
  o += MESSAGE_ID_LENGTH
  writeU16(body, o, msg.fragment.index)
  writeU16(body, o + 2, msg.fragment.count)
  o += 4
  body.set(msg.data, o)
  return padMessage(body)
}

/** Parses m of a forward packet at the exit; throws SphinxMalformedPayloadError on anything off. */
export function decodeForwardMessage (m: Uint8Array): ForwardMessage {
  const body = unpadMessage(m)
  let o = 0
  const need = (n: number): void => {
    if (o + n > body.length) throw new SphinxMalformedPayloadError('truncated body')
  }
  need(1)
  let codecLength = body[o++] as number
  if ((codecLength & 0x80) !== 0) {
    need(1)
    const hi = body[o++] as number
    if ((hi & 0x80) !== 0) throw new SphinxMalformedPayloadError('codec length varint longer than 2 bytes')
    if (hi === 0) throw new SphinxMalformedPayloadError('non-minimal codec length varint')
    codecLength = (codecLength & 0x7f) | (hi << 7)
  }
  need(codecLength)
  let codec: string
  try {
    codec = utf8Strict.decode(body.subarray(o, o + codecLength))
  } catch (err) {
    throw new SphinxMalformedPayloadError('codec is not UTF-8', { cause: err })
  }
  o += codecLength
  need(1)
  const surbCount = body[o++] as number
  need(surbCount * SURB_LENGTH)
  const surbs: Uint8Array[] = []
  for (let i = 0; i < surbCount; i++) {
    surbs.push(body.slice(o, o + SURB_LENGTH))
    o += SURB_LENGTH
  }
  need(FRAGMENT_HEADER_LENGTH)
  const messageId = body.slice(o, o + MESSAGE_ID_LENGTH)
  o += MESSAGE_ID_LENGTH
  const index = readU16(body, o)
  const count = readU16(body, o + 2)
  o += 4
  checkFragment(index, count)
  return { codec, surbs, fragment: { messageId, index, count }, data: body.slice(o) }
}

/** The padded m of one reply fragment. */
export function encodeReplyMessage (msg: ReplyMessage): Uint8Array {
  if (!Number.isInteger(msg.status) || msg.status < 0 || msg.status > 0xff) throw new SphinxMalformedPayloadError(`reply status ${msg.status}`)
  checkFragment(msg.index, msg.count)
  if (msg.data.length > REPLY_DATA_CAPACITY) throw new SphinxMessageTooLargeError(msg.data.length, REPLY_DATA_CAPACITY)
  const body = new Uint8Array(REPLY_HEADER_LENGTH + msg.data.length)
  body[0] = msg.status
  writeU16(body, 1, msg.index)
  writeU16(body, 3, msg.count)
  body.set(msg.data, REPLY_HEADER_LENGTH)
  return padMessage(body)
}

export function decodeReplyMessage (m: Uint8Array): ReplyMessage {
  const body = unpadMessage(m)
  if (body.length < REPLY_HEADER_LENGTH) throw new SphinxMalformedPayloadError('truncated reply')
  const index = readU16(body, 1)
  const count = readU16(body, 3)
  checkFragment(index, count)
  return { status: body[0] as number, index, count, data: body.slice(REPLY_HEADER_LENGTH) }
}
