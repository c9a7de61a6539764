import { MAX_MESSAGE_BYTES } from './constants.ts'
import { Writer, decodeBody, encodeBody } from './codec.ts'
import { PmMessageTooLargeError, PmProtocolError } from './errors.ts'

/**
 * The wire between the host and a module process: a stream of frames, each a 4-byte big-endian length and that many
 * bytes of message body (codec.ts). The stream is a Unix socket pair made at spawn.
 */
export const FRAME_HEADER_BYTES = 4

/** A message as it travels: an array whose first element says what it is (see protocol.ts). */
export type Message = unknown[]

/**
 * Appends one framed message to the writer. Throws PmNotSerializableError or PmMessageTooLargeError, leaving the
 * writer as it was.
 */
export function writeFrame (w: Writer, message: Message, maxBytes = MAX_MESSAGE_BYTES): void {
  const start = w.pos
  w.ensure(FRAME_HEADER_BYTES)
  w.pos += FRAME_HEADER_BYTES
  try {
    encodeBody(w, message)
  } catch (err) {
    w.pos = start
    throw err
  }
  const length = w.pos - start - FRAME_HEADER_BYTES
  if (length > maxBytes) {
    w.pos = start
    throw new PmMessageTooLargeError(length, maxBytes)
  }
  w.buf.writeUInt32BE(length, start)
}

/** Frames messages into one buffer (for tests and tools; the channel writes frames as it goes). */
export function encodeFrames (messages: readonly Message[], maxBytes = MAX_MESSAGE_BYTES): Buffer {
  const w = new Writer()
  for (const m of messages) writeFrame(w, m, maxBytes)
  return w.take()
}

/** Rebuilds a message from a frame body; a body that is not a message is a protocol error. */
export function decodeMessage (buf: Buffer, start: number, end: number): Message {
  const value = decodeBody(buf, start, end)
  if (!Array.isArray(value) || typeof value[0] !== 'number') throw new PmProtocolError('a message must be an array starting with its type')
  return value
}

/**
 * Cuts a byte stream into frame bodies. A state machine with two states: reading a header (possibly split across
 * chunks) and reading a body. A body inside one chunk is handed over in place (the decoder copies what it keeps); a
 * body split across chunks is assembled in memory of its own.
 */
export class FrameDecoder {
  private state: 'header' | 'body' = 'header'
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES)
  private headerFill = 0
  private body: Buffer = Buffer.alloc(0)
  private bodyFill = 0
  private readonly maxBytes: number

  constructor (maxBytes = MAX_MESSAGE_BYTES) {
    this.maxBytes = maxBytes
  }

  /** Feeds a chunk; calls `onBody(buf, start, end)` for each complete body, in order. Throws PmProtocolError on a bad length. */
  push (chunk: Buffer, onBody: (buf: Buffer, start: number, end: number) => void): void {
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.state === 'header') {
        let length: number
        if (this.headerFill === 0 && n - i >= FRAME_HEADER_BYTES) {
          length = chunk.readUInt32BE(i)
          i += FRAME_HEADER_BYTES
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, n - i)
          chunk.copy(this.header, this.headerFill, i, i + take)
          this.headerFill += take
          i += take
          if (this.headerFill < FRAME_HEADER_BYTES) return
          this.headerFill = 0
          length = this.header.readUInt32BE(0)
        }
        if (length === 0 || length > this.maxBytes) throw new PmProtocolError(`frame length ${length} outside 1..${this.maxBytes}`)
        if (n - i >= length) {
          onBody(chunk, i, i + length)
          i += length
          continue
        }
        this.body = Buffer.allocUnsafeSlow(length)
        this.bodyFill = 0
        this.state = 'body'
      }
      const take = Math.min(this.body.length - this.bodyFill, n - i)
      chunk.copy(this.body, this.bodyFill, i, i + take)
      this.bodyFill += take
      i += take
      if (this.bodyFill === this.body.length) {
        const body = this.body
        this.body = Buffer.alloc(0)
        this.state = 'header'
        onBody(body, 0, body.length)
      }
    }
  }
}
