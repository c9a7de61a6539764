import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'
import { raceSignal } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import { streamChunks } from '../streams/index.ts'
import { MixFrameError, MixMessageTooLargeError } from './errors.ts'

/**
 * Framing on /mix/1.0.0 streams: each packet is preceded by its length as an unsigned LEB128 varint (the libp2p
 * length-prefix convention the nim code's writeLp/readLp use). A stream may carry many packets (mix.md 5.5).
 */

export function encodeVarint (n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** length || bytes. */
export function encodeFrame (bytes: Uint8Array): Uint8Array {
  const prefix = encodeVarint(bytes.length)
  const out = new Uint8Array(prefix.length + bytes.length)
  out.set(prefix, 0)
  out.set(bytes, prefix.length)
  return out
}

/**
 * Splits a byte stream into frames. A frame longer than `maxFrameLength` (or a length varint longer than 4 bytes)
 * is a protocol error: the stream is then abandoned, since its framing can no longer be trusted.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxFrameLength: number

  constructor (maxFrameLength: number) {
    this.maxFrameLength = maxFrameLength
  }

  /** Adds bytes and returns every frame now complete. */
  push (chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.buffer.append(chunk)
    const frames: Uint8Array[] = []
    for (;;) {
      let length = 0
      let shift = 1
      let i = 0
      let done = false
      while (i < this.buffer.byteLength && i < 4) {
        const b = this.buffer.get(i)
        length += (b & 0x7f) * shift
        shift *= 128
        i++
        if ((b & 0x80) === 0) { done = true; break }
      }
      if (!done) {
        if (i >= 4) throw new MixFrameError('length prefix longer than 4 bytes')
        return frames
      }
      if (length > this.maxFrameLength) throw new MixFrameError(`frame of ${length} bytes exceeds ${this.maxFrameLength}`)
      if (this.buffer.byteLength < i + length) return frames
      frames.push(this.buffer.subarray(i, i + length))
      this.buffer.consume(i + length)
    }
  }

  get pending (): number {
    return this.buffer.byteLength
  }
}

/** Writes bytes to a stream, waiting for the stream to drain when its buffer is full. */
export async function writeBytes (stream: Stream, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain(options)
}

/** Reads a stream to its end (the remote closed its writable side), refusing more than `maxBytes`. */
export async function readAll (stream: Stream, maxBytes: number, options: AbortOptions = {}): Promise<Uint8Array> {
  const list = new Uint8ArrayList()
  const read = async (): Promise<void> => {
    for await (const chunk of streamChunks(stream)) {
      list.append(chunk)
      if (list.byteLength > maxBytes) throw new MixMessageTooLargeError(list.byteLength, maxBytes)
    }
  }
  await raceSignal(read(), options.signal)
  return list.subarray()
}
