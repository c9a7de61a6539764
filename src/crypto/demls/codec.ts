import { MAX_LIST_LENGTH, MAX_MESSAGE_BYTES } from './constants.ts'
import { DemlsDecodeError } from './errors.ts'

/**
 * The byte layer of the wire format: big-endian fixed-width integers, unsigned LEB128 lengths, and length-prefixed
 * byte strings. Every read is bounds-checked and fails with DemlsDecodeError; a message must be consumed exactly.
 */
export class Writer {
  private buf: Uint8Array
  private view: DataView
  private pos = 0

  constructor (initial = 256) {
    this.buf = new Uint8Array(initial)
    this.view = new DataView(this.buf.buffer)
  }

  private reserve (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8 (v: number): this {
    this.reserve(1)
    this.view.setUint8(this.pos, v)
    this.pos += 1
    return this
  }

  u16 (v: number): this {
    this.reserve(2)
    this.view.setUint16(this.pos, v)
    this.pos += 2
    return this
  }

  u32 (v: number): this {
    this.reserve(4)
    this.view.setUint32(this.pos, v >>> 0)
    this.pos += 4
    return this
  }

  u64 (v: bigint | number): this {
    this.reserve(8)
    this.view.setBigUint64(this.pos, BigInt(v))
    this.pos += 8
    return this
  }

  bool (v: boolean): this {
    return this.u8(v ? 1 : 0)
  }

  /** Unsigned LEB128, up to 2^53 - 1. */
  varint (v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint out of range: ${v}`)
    let n = v
    while (n >= 0x80) {
      this.u8((n % 0x80) | 0x80)
      n = Math.floor(n / 0x80)
    }
    return this.u8(n)
  }

  /** Raw bytes, no length (fixed-size fields). */
  raw (bytes: Uint8Array): this {
    this.reserve(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** A varint length then the bytes. */
  bytes (bytes: Uint8Array): this {
    return this.varint(bytes.length).raw(bytes)
  }

  string (s: string): this {
    return this.bytes(new TextEncoder().encode(s))
  }

  finish (): Uint8Array {
    return this.buf.slice(0, this.pos)
  }
}

export class Reader {
  private readonly buf: Uint8Array
  private readonly view: DataView
  private pos = 0

  constructor (buf: Uint8Array) {
    if (buf.length > MAX_MESSAGE_BYTES) throw new DemlsDecodeError(`message of ${buf.length} bytes exceeds ${MAX_MESSAGE_BYTES}`)
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  get remaining (): number {
    return this.buf.length - this.pos
  }

  get offset (): number {
    return this.pos
  }

  private need (n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new DemlsDecodeError(`truncated ${what}: need ${n} bytes at ${this.pos}, have ${this.remaining}`)
  }

  u8 (what = 'u8'): number {
    this.need(1, what)
    return this.view.getUint8(this.pos++)
  }

  u16 (what = 'u16'): number {
    this.need(2, what)
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }

  u32 (what = 'u32'): number {
    this.need(4, what)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  u64 (what = 'u64'): bigint {
    this.need(8, what)
    const v = this.view.getBigUint64(this.pos)
    this.pos += 8
    return v
  }

  /** A u64 that must fit a JavaScript number exactly (timestamps, epochs in practice). */
  u64n (what = 'u64'): number {
    const v = this.u64(what)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DemlsDecodeError(`${what} out of range`)
    return Number(v)
  }

  bool (what = 'bool'): boolean {
    const v = this.u8(what)
    if (v > 1) throw new DemlsDecodeError(`${what}: invalid boolean ${v}`)
    return v === 1
  }

  varint (what = 'varint'): number {
    let result = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what)
      result += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new DemlsDecodeError(`${what}: non-minimal varint`)
        if (!Number.isSafeInteger(result)) throw new DemlsDecodeError(`${what}: varint out of range`)
        return result
      }
      scale *= 0x80
    }
    throw new DemlsDecodeError(`${what}: varint too long`)
  }

  raw (n: number, what = 'bytes'): Uint8Array {
    this.need(n, what)
    const out = this.buf.slice(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  bytes (what = 'bytes', max = MAX_MESSAGE_BYTES): Uint8Array {
    const n = this.varint(`${what} length`)
    if (n > max) throw new DemlsDecodeError(`${what}: length ${n} exceeds ${max}`)
    return this.raw(n, what)
  }

  string (what = 'string', max = 4096): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(what, max))
    } catch (err) {
      if (err instanceof DemlsDecodeError) throw err
      throw new DemlsDecodeError(`${what}: invalid UTF-8`, { cause: err })
    }
  }

  /** A varint count then `count` items, bounded. */
  list<T> (item: (r: Reader) => T, what = 'list', max = MAX_LIST_LENGTH): T[] {
    const n = this.varint(`${what} count`)
    if (n > max) throw new DemlsDecodeError(`${what}: ${n} items exceed ${max}`)
    const out: T[] = []
    for (let i = 0; i < n; i++) out.push(item(this))
    return out
  }

  /** Fails unless every byte was consumed. */
  end (what = 'message'): void {
    if (this.remaining !== 0) throw new DemlsDecodeError(`${what}: ${this.remaining} trailing bytes`)
  }
}

export function writeList<T> (w: Writer, items: readonly T[], item: (w: Writer, v: T) => void): void {
  w.varint(items.length)
  for (const v of items) item(w, v)
}
