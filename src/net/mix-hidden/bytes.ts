import { HiddenMalformedError } from './errors.ts'

/**
 * Byte layouts of the hidden-service messages. hs names the fields but leaves their encoding open; decision: fields
 * in the order hs lists them, fixed-size keys as raw bytes, integers big-endian (u8, u16, u32, u64), variable-length
 * fields behind a u16 length (u8 for peer ids), nothing self-describing. Readers throw HiddenMalformedError.
 */

/** Builds a message field by field. */
export class Writer {
  private readonly parts: Uint8Array[] = []
  private length = 0

  bytes (b: Uint8Array): this {
    this.parts.push(b)
    this.length += b.length
    return this
  }

  u8 (v: number): this {
    return this.bytes(Uint8Array.of(v & 0xff))
  }

  u16 (v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new HiddenMalformedError(`u16 out of range: ${v}`)
    return this.bytes(Uint8Array.of(v >> 8, v & 0xff))
  }

  u32 (v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new HiddenMalformedError(`u32 out of range: ${v}`)
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, v)
    return this.bytes(b)
  }

  u64 (v: bigint): this {
    return this.bytes(u64(v))
  }

  /** u16 length, then the bytes. */
  var16 (b: Uint8Array): this {
    return this.u16(b.length).bytes(b)
  }

  /** u8 length, then the bytes. */
  var8 (b: Uint8Array): this {
    if (b.length > 0xff) throw new HiddenMalformedError(`field of ${b.length} bytes exceeds 255`)
    return this.u8(b.length).bytes(b)
  }

  finish (): Uint8Array {
    return concat(this.parts, this.length)
  }
}

/** Reads a message field by field; any overrun is a HiddenMalformedError. */
export class Reader {
  private readonly b: Uint8Array
  private o = 0

  constructor (b: Uint8Array) {
    // A plain Uint8Array view: a Node Buffer's slice() is a view into a shared pool, not a copy.
    this.b = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  }

  get remaining (): number {
    return this.b.length - this.o
  }

  bytes (n: number): Uint8Array {
    if (n < 0 || this.o + n > this.b.length) throw new HiddenMalformedError(`truncated: need ${n} bytes at ${this.o} of ${this.b.length}`)
    const out = this.b.slice(this.o, this.o + n)
    this.o += n
    return out
  }

  u8 (): number {
    return this.bytes(1)[0] as number
  }

  u16 (): number {
    const b = this.bytes(2)
    return ((b[0] as number) << 8) | (b[1] as number)
  }

  u32 (): number {
    const b = this.bytes(4)
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0)
  }

  u64 (): bigint {
    const b = this.bytes(8)
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0)
  }

  var16 (): Uint8Array {
    return this.bytes(this.u16())
  }

  var8 (): Uint8Array {
    return this.bytes(this.u8())
  }

  rest (): Uint8Array {
    return this.bytes(this.remaining)
  }

  /** The message must end here. */
  end (): void {
    if (this.remaining !== 0) throw new HiddenMalformedError(`${this.remaining} unexpected trailing bytes`)
  }

  /** Whatever is left must be zero padding. */
  endPadded (): void {
    for (let i = this.o; i < this.b.length; i++) if (this.b[i] !== 0) throw new HiddenMalformedError('non-zero padding')
    this.o = this.b.length
  }
}

export function u64 (v: bigint): Uint8Array {
  if (v < 0n || v > 0xffffffffffffffffn) throw new HiddenMalformedError(`u64 out of range: ${v}`)
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, v)
  return b
}

export function concat (parts: readonly Uint8Array[], length?: number): Uint8Array {
  const out = new Uint8Array(length ?? parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const encoder = new TextEncoder()

/** ASCII/UTF-8 bytes of a label, for domain separation. */
export function label (text: string): Uint8Array {
  return encoder.encode(text)
}

export function toHex (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= (a[i] as number) ^ (b[i] as number)
  return d === 0
}
