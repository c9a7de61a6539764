import { DeliveryDecodeError } from './errors.ts'

/**
 * The proto3 wire primitives the delivery messages use: varints (uint32, uint64, bool, zigzag sint64) and
 * length-delimited fields (bytes, string, embedded messages). Readers are strict about framing (truncation, overlong
 * varints, field numbers of 0) and skip unknown fields as proto3 asks, so newer peers can add fields.
 */

const WIRE_VARINT = 0
const WIRE_I64 = 1
const WIRE_LEN = 2
const WIRE_I32 = 5

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const utf8Encoder = new TextEncoder()

export class ProtoWriter {
  private buf: Uint8Array
  private len = 0

  constructor (initial = 256) {
    this.buf = new Uint8Array(initial)
  }

  private ensure (n: number): void {
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  private rawVarint (value: bigint): void {
    this.ensure(10)
    let v = value
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    this.buf[this.len++] = Number(v)
  }

  private smallVarint (value: number): void {
    this.ensure(5)
    let v = value >>> 0
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    this.buf[this.len++] = v
  }

  private tag (field: number, wire: number): void {
    this.smallVarint((field << 3) | wire)
  }

  uint32 (field: number, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`field ${field}: ${value} is not a uint32`)
    this.tag(field, WIRE_VARINT)
    this.smallVarint(value)
    return this
  }

  uint64 (field: number, value: bigint): this {
    if (value < 0n || value >= 1n << 64n) throw new RangeError(`field ${field}: ${value} is not a uint64`)
    this.tag(field, WIRE_VARINT)
    this.rawVarint(value)
    return this
  }

  /** sint64: zigzag then varint. */
  sint64 (field: number, value: bigint): this {
    if (value < -(1n << 63n) || value >= 1n << 63n) throw new RangeError(`field ${field}: ${value} is not an int64`)
    this.tag(field, WIRE_VARINT)
    this.rawVarint(value >= 0n ? value << 1n : ((-value) << 1n) - 1n)
    return this
  }

  bool (field: number, value: boolean): this {
    this.tag(field, WIRE_VARINT)
    this.smallVarint(value ? 1 : 0)
    return this
  }

  bytes (field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN)
    this.smallVarint(value.length)
    this.ensure(value.length)
    this.buf.set(value, this.len)
    this.len += value.length
    return this
  }

  string (field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value))
  }

  finish (): Uint8Array {
    return this.buf.slice(0, this.len)
  }
}

export interface ProtoField {
  field: number
  wire: number
}

export class ProtoReader {
  private readonly buf: Uint8Array
  private readonly what: string
  private o = 0

  constructor (bytes: Uint8Array, what: string) {
    this.buf = bytes
    this.what = what
  }

  private fail (reason: string): never {
    throw new DeliveryDecodeError(`${this.what}: ${reason}`)
  }

  private rawVarint (): bigint {
    let result = 0n
    let shift = 0n
    for (let i = 0; ; i++) {
      if (this.o >= this.buf.length) this.fail('truncated varint')
      if (i >= 10) this.fail('varint longer than 10 bytes')
      const b = this.buf[this.o++] as number
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) break
      shift += 7n
    }
    if (result >= 1n << 64n) this.fail('varint above 64 bits')
    return result
  }

  get done (): boolean {
    return this.o >= this.buf.length
  }

  /** The next field's number and wire type, or undefined at the end. */
  next (): ProtoField | undefined {
    if (this.done) return undefined
    const key = this.rawVarint()
    if (key > 0xffffffffn) this.fail('field key out of range')
    const k = Number(key)
    const field = k >>> 3
    if (field === 0) this.fail('field number 0')
    return { field, wire: k & 7 }
  }

  private expect (f: ProtoField, wire: number): void {
    if (f.wire !== wire) this.fail(`field ${f.field} has wire type ${f.wire}, expected ${wire}`)
  }

  uint32 (f: ProtoField): number {
    this.expect(f, WIRE_VARINT)
    const v = this.rawVarint()
    // proto3 parsers truncate a uint32 read from a wider varint; we refuse it instead (no silent wrap-around).
    if (v > 0xffffffffn) this.fail(`field ${f.field} does not fit a uint32`)
    return Number(v)
  }

  uint64 (f: ProtoField): bigint {
    this.expect(f, WIRE_VARINT)
    return this.rawVarint()
  }

  sint64 (f: ProtoField): bigint {
    this.expect(f, WIRE_VARINT)
    const v = this.rawVarint()
    return (v & 1n) === 0n ? v >> 1n : -((v + 1n) >> 1n)
  }

  bool (f: ProtoField): boolean {
    this.expect(f, WIRE_VARINT)
    return this.rawVarint() !== 0n
  }

  bytes (f: ProtoField, max = Infinity): Uint8Array {
    this.expect(f, WIRE_LEN)
    const len = this.rawVarint()
    if (len > BigInt(this.buf.length - this.o)) this.fail(`field ${f.field} is truncated`)
    const n = Number(len)
    if (n > max) this.fail(`field ${f.field} has ${n} bytes, at most ${max} allowed`)
    const out = this.buf.subarray(this.o, this.o + n)
    this.o += n
    return out
  }

  string (f: ProtoField, max = Infinity): string {
    const raw = this.bytes(f, max)
    try {
      return utf8Decoder.decode(raw)
    } catch {
      this.fail(`field ${f.field} is not valid UTF-8`)
    }
  }

  /** Skips a field of any wire type (unknown fields, proto3). */
  skip (f: ProtoField): void {
    switch (f.wire) {
      case WIRE_VARINT: this.rawVarint(); return
      case WIRE_I64: this.advance(8); return
      case WIRE_LEN: this.bytes(f); return
      case WIRE_I32: this.advance(4); return
      default: this.fail(`unsupported wire type ${f.wire} (field ${f.field})`)
    }
  }

  private advance (n: number): void {
    if (this.o + n > this.buf.length) this.fail('truncated fixed-width field')
    this.o += n
  }
}
