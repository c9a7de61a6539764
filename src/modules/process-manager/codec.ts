import { deserialize, serialize } from 'node:v8'
import { PmNotSerializableError, PmProtocolError } from './errors.ts'

/**
 * The encoding of one message body. Two formats, named by the body's first byte:
 *
 * - FORMAT_COMPACT: a tagged encoding of the values calls carry most (undefined, null, booleans, numbers, strings,
 *   bigints, Uint8Array, Buffer, dense arrays, plain objects). A tiny call encodes in a few hundred nanoseconds, where
 *   V8's serializer spends microseconds just being constructed: that is the difference between a remote call twice a
 *   raw socket echo and one close to it. Bytes travel as bytes.
 * - FORMAT_V8: V8's structured clone serialization of the whole message, used when the message holds the same object
 *   twice or a cycle (structured clone keeps identity; the compact format would not), or a key UTF-8 cannot carry.
 *
 * Within a compact body any other value (Map, Set, Date, RegExp, other typed arrays, class instances, errors, strings
 * with lone surrogates ...) is a TAG_V8 item: that value alone in V8's format. So every value crosses exactly as
 * structured clone would carry it, and what structured clone refuses (functions, symbols) is refused here too. One
 * difference remains, chosen for speed: an array's own non-index properties (`list.extra = 1`) are dropped, as JSON
 * drops them; V8 would keep them.
 */
export const FORMAT_COMPACT = 0
export const FORMAT_V8 = 1

const TAG_UNDEFINED = 0
const TAG_NULL = 1
const TAG_FALSE = 2
const TAG_TRUE = 3
const TAG_INT32 = 4
const TAG_FLOAT64 = 5
const TAG_STRING = 6
const TAG_ARRAY = 7
const TAG_OBJECT = 8
const TAG_UINT8ARRAY = 9
const TAG_BUFFER = 10
const TAG_BIGINT = 11
const TAG_V8 = 12

/** Deeper values are encoded by V8 (which has its own limits): the compact encoder recurses on the stack. */
const MAX_COMPACT_DEPTH = 64

/** A scratch buffer larger than this is handed to the socket instead of being kept for the next batch. */
const KEEP_SCRATCH_BYTES = 64 * 1024

/** Whether UTF-8 can carry the string (no lone surrogate); V8 answers at once for one-byte strings. */
function isWellFormed (s: string): boolean {
  return (s as string & { isWellFormed: () => boolean }).isWellFormed()
}

/** Thrown inside the encoder when the message must go in V8's format (a shared reference or a cycle). */
const WHOLE_MESSAGE_IN_V8 = Symbol('whole message in V8 format')

/** An append-only byte buffer that frames are encoded into, batch by batch. */
export class Writer {
  buf: Buffer = Buffer.allocUnsafeSlow(4096)
  pos = 0

  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafeSlow(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** The bytes written so far, as a buffer the caller owns; the writer starts over. */
  take (): Buffer {
    let out: Buffer
    if (this.pos > KEEP_SCRATCH_BYTES) {
      out = this.buf.subarray(0, this.pos)
      this.buf = Buffer.allocUnsafeSlow(4096)
    } else {
      out = Buffer.allocUnsafe(this.pos)
      this.buf.copy(out, 0, 0, this.pos)
    }
    this.pos = 0
    return out
  }

  byte (b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  varint (n: number): void {
    this.ensure(5)
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    this.buf[this.pos++] = n
  }

  bytes (b: Uint8Array): void {
    this.varint(b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  /** UTF-8 with its byte length first (the string must be well formed); ASCII without a call into C++. */
  string (s: string): void {
    const n = s.length
    if (n < 128) {
      this.ensure(n + 1)
      const start = this.pos
      let p = start + 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        this.buf[p++] = c
      }
      if (i === n) {
        this.buf[start] = n
        this.pos = p
        return
      }
    }
    const length = Buffer.byteLength(s, 'utf8')
    this.varint(length)
    this.ensure(length)
    this.pos += this.buf.write(s, this.pos, length, 'utf8')
  }
}

/**
 * Appends one message body (format byte included) to the writer. On failure the writer is left as it was and
 * PmNotSerializableError is thrown.
 */
export function encodeBody (w: Writer, message: unknown): void {
  const start = w.pos
  try {
    w.byte(FORMAT_COMPACT)
    new Encoder(w).value(message, 0)
  } catch (err) {
    w.pos = start
    if (err !== WHOLE_MESSAGE_IN_V8) throw err
    let body: Buffer
    try {
      body = serialize(message)
    } catch (cause) {
      throw new PmNotSerializableError('a value', { cause })
    }
    w.byte(FORMAT_V8)
    w.ensure(body.length)
    body.copy(w.buf, w.pos)
    w.pos += body.length
  }
}

class Encoder {
  private readonly w: Writer
  private seen: Set<object> | undefined

  constructor (w: Writer) {
    this.w = w
  }

  value (v: unknown, depth: number): void {
    const w = this.w
    switch (typeof v) {
      case 'undefined':
        w.byte(TAG_UNDEFINED)
        return
      case 'boolean':
        w.byte(v ? TAG_TRUE : TAG_FALSE)
        return
      case 'number':
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
          w.ensure(5)
          w.buf[w.pos] = TAG_INT32
          w.buf.writeInt32LE(v, w.pos + 1)
          w.pos += 5
        } else {
          w.ensure(9)
          w.buf[w.pos] = TAG_FLOAT64
          w.buf.writeDoubleLE(v, w.pos + 1)
          w.pos += 9
        }
        return
      case 'string':
        if (!isWellFormed(v)) {
          this.v8(v) // UTF-8 cannot carry a lone surrogate; structured clone does
          return
        }
        w.byte(TAG_STRING)
        w.string(v)
        return
      case 'bigint':
        w.byte(TAG_BIGINT)
        w.string(v.toString(16))
        return
      case 'object':
        break
      default:
        this.v8(v) // functions and symbols: V8 refuses them with its own words
        return
    }
    if (v === null) {
      w.byte(TAG_NULL)
      return
    }
    if (this.seen === undefined) this.seen = new Set()
    if (this.seen.has(v)) throw WHOLE_MESSAGE_IN_V8
    this.seen.add(v)
    if (depth >= MAX_COMPACT_DEPTH) {
      this.v8(v)
      return
    }
    const proto: unknown = Object.getPrototypeOf(v)
    if (proto === Array.prototype) {
      const a = v as unknown[]
      const n = a.length
      w.byte(TAG_ARRAY)
      w.varint(n)
      for (let i = 0; i < n; i++) {
        const item = a[i]
        if (item === undefined && !(i in a)) throw WHOLE_MESSAGE_IN_V8 // a hole: structured clone keeps it
        this.value(item, depth + 1)
      }
      return
    }
    if (proto === Object.prototype || proto === null) {
      const o = v as Record<string, unknown>
      const keys = Object.keys(o)
      w.byte(TAG_OBJECT)
      w.varint(keys.length)
      for (const key of keys) {
        if (!isWellFormed(key)) throw WHOLE_MESSAGE_IN_V8
        w.string(key)
        this.value(o[key], depth + 1)
      }
      return
    }
    if (proto === Uint8Array.prototype) {
      w.byte(TAG_UINT8ARRAY)
      w.bytes(v as Uint8Array)
      return
    }
    if (proto === Buffer.prototype) {
      w.byte(TAG_BUFFER)
      w.bytes(v as Buffer)
      return
    }
    this.v8(v)
  }

  /** One value in V8's format (Node's serializer, so typed arrays and Buffers keep their types). */
  private v8 (v: unknown): void {
    let body: Buffer
    try {
      body = serialize(v)
    } catch (cause) {
      throw new PmNotSerializableError('a value', { cause })
    }
    this.w.byte(TAG_V8)
    this.w.bytes(body)
  }
}

/**
 * Decodes one message body. Byte payloads are copied into memory of their own (a kept Uint8Array never pins the
 * socket's read buffer). Anything malformed is a PmProtocolError.
 */
export function decodeBody (buf: Buffer, start: number, end: number): unknown {
  if (start >= end) throw new PmProtocolError('empty message')
  const format = buf[start]
  if (format === FORMAT_V8) return v8Value(buf, start + 1, end)
  if (format !== FORMAT_COMPACT) throw new PmProtocolError(`unknown message format ${String(format)}`)
  const r = new Reader(buf, start + 1, end)
  const value = r.value(0)
  if (r.pos !== end) throw new PmProtocolError('trailing bytes after a message')
  return value
}

function v8Value (buf: Buffer, start: number, end: number): unknown {
  // A copy: V8's deserializer makes typed arrays that view the bytes they were read from.
  const copy = new Uint8Array(end - start)
  copy.set(buf.subarray(start, end))
  try {
    return deserialize(copy)
  } catch (err) {
    throw new PmProtocolError(`undecodable value: ${(err as Error).message}`)
  }
}

class Reader {
  private readonly buf: Buffer
  pos: number
  private readonly end: number

  constructor (buf: Buffer, start: number, end: number) {
    this.buf = buf
    this.pos = start
    this.end = end
  }

  private need (n: number): void {
    if (this.pos + n > this.end) throw new PmProtocolError('a message ends in the middle of a value')
  }

  private varint (): number {
    let n = 0
    let shift = 0
    for (;;) {
      this.need(1)
      const b = this.buf[this.pos++] as number
      n += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return n
      shift += 7
      if (shift > 28) throw new PmProtocolError('a length does not fit 32 bits')
    }
  }

  private string (): string {
    const n = this.varint()
    this.need(n)
    const buf = this.buf
    const start = this.pos
    this.pos += n
    if (n <= 24) {
      let s = ''
      for (let i = start; i < start + n; i++) {
        const c = buf[i] as number
        if (c >= 0x80) return buf.toString('utf8', start, start + n)
        s += String.fromCharCode(c)
      }
      return s
    }
    return buf.toString('utf8', start, start + n)
  }

  value (depth: number): unknown {
    if (depth > MAX_COMPACT_DEPTH) throw new PmProtocolError('a message nests too deep')
    this.need(1)
    const tag = this.buf[this.pos++]
    switch (tag) {
      case TAG_UNDEFINED: return undefined
      case TAG_NULL: return null
      case TAG_FALSE: return false
      case TAG_TRUE: return true
      case TAG_INT32: {
        this.need(4)
        const v = this.buf.readInt32LE(this.pos)
        this.pos += 4
        return v
      }
      case TAG_FLOAT64: {
        this.need(8)
        const v = this.buf.readDoubleLE(this.pos)
        this.pos += 8
        return v
      }
      case TAG_STRING: return this.string()
      case TAG_BIGINT: {
        const hex = this.string()
        if (!/^-?[0-9a-f]+$/.test(hex)) throw new PmProtocolError('a malformed bigint')
        return hex.startsWith('-') ? -BigInt(`0x${hex.slice(1)}`) : BigInt(`0x${hex}`)
      }
      case TAG_ARRAY: {
        const n = this.varint()
        // Every item takes at least a byte: a count beyond what is left is a lie, not an allocation to make.
        if (n > this.end - this.pos) throw new PmProtocolError('an array longer than its message')
        const a: unknown[] = new Array(n)
        for (let i = 0; i < n; i++) a[i] = this.value(depth + 1)
        return a
      }
      case TAG_OBJECT: {
        const n = this.varint()
        if (n > this.end - this.pos) throw new PmProtocolError('an object larger than its message')
        const o: Record<string, unknown> = {}
        for (let i = 0; i < n; i++) {
          const key = this.string()
          const value = this.value(depth + 1)
          // Own data properties, as structured clone makes them; "__proto__" must not set the prototype.
          if (key === '__proto__') Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true })
          else o[key] = value
        }
        return o
      }
      case TAG_UINT8ARRAY: {
        const n = this.varint()
        this.need(n)
        const a = new Uint8Array(n)
        a.set(this.buf.subarray(this.pos, this.pos + n))
        this.pos += n
        return a
      }
      case TAG_BUFFER: {
        const n = this.varint()
        this.need(n)
        const b = Buffer.allocUnsafeSlow(n)
        this.buf.copy(b, 0, this.pos, this.pos + n)
        this.pos += n
        return b
      }
      case TAG_V8: {
        const n = this.varint()
        this.need(n)
        const v = v8Value(this.buf, this.pos, this.pos + n)
        this.pos += n
        return v
      }
      default:
        throw new PmProtocolError(`unknown value tag ${String(tag)}`)
    }
  }
}
