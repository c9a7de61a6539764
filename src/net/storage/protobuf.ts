import { StorageWireError } from './errors.ts'

/**
 * The little of protobuf the storage messages need: varints (as numbers up to 2^53 or as bigint), length-delimited
 * fields, and a reader that skips unknown fields (proto "unknown fields are ignored") and refuses malformed input.
 */

export class ProtoWriter {
  private readonly parts: Uint8Array[] = []
  private scratch: number[] = []
  private size = 0

  private flushScratch (): void {
    if (this.scratch.length === 0) return
    const bytes = Uint8Array.from(this.scratch)
    this.parts.push(bytes)
    this.size += bytes.length
    this.scratch = []
  }

  private varint (value: number | bigint): void {
    let v = BigInt(value)
    if (v < 0n) v = BigInt.asUintN(64, v)
    while (v >= 0x80n) {
      this.scratch.push(Number(v & 0x7fn) | 0x80)
      v >>= 7n
    }
    this.scratch.push(Number(v))
  }

  private tag (field: number, wire: number): void {
    this.varint((field << 3) | wire)
  }

  uint (field: number, value: number | bigint): this {
    this.tag(field, 0)
    this.varint(value)
    return this
  }

  bool (field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0)
  }

  bytes (field: number, value: Uint8Array): this {
    this.tag(field, 2)
    this.varint(value.length)
    this.flushScratch()
    this.parts.push(value)
    this.size += value.length
    return this
  }

  string (field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value))
  }

  message (field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish())
  }

  finish (): Uint8Array {
    this.flushScratch()
    if (this.parts.length === 1) return this.parts[0] as Uint8Array
    const out = new Uint8Array(this.size)
    let offset = 0
    for (const p of this.parts) {
      out.set(p, offset)
      offset += p.length
    }
    return out
  }
}

export interface ProtoField {
  field: number
  wire: number
  /** The varint value (wire type 0). */
  value: bigint
  /** The payload (wire type 2). */
  bytes: Uint8Array
}

/** Every field of a message, in order. Fixed32/64 are skipped over; groups are refused. */
export function readFields (buf: Uint8Array): ProtoField[] {
  const fields: ProtoField[] = []
  let offset = 0
  const readVarint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      if (offset >= buf.length) throw new StorageWireError('protobuf varint truncated')
      const b = buf[offset++] as number
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      shift += 7n
    }
    throw new StorageWireError('protobuf varint longer than 10 bytes')
  }
  while (offset < buf.length) {
    const key = readVarint()
    const field = Number(key >> 3n)
    const wire = Number(key & 7n)
    if (field === 0) throw new StorageWireError('protobuf field number 0')
    if (wire === 0) {
      fields.push({ field, wire, value: readVarint(), bytes: EMPTY })
    } else if (wire === 2) {
      const len = Number(readVarint())
      if (offset + len > buf.length) throw new StorageWireError('protobuf field truncated')
      fields.push({ field, wire, value: 0n, bytes: buf.subarray(offset, offset + len) })
      offset += len
    } else if (wire === 1) {
      offset += 8
    } else if (wire === 5) {
      offset += 4
    } else {
      throw new StorageWireError(`protobuf wire type ${wire} not supported`)
    }
    if (offset > buf.length) throw new StorageWireError('protobuf field truncated')
  }
  return fields
}

const EMPTY = new Uint8Array(0)

/** A varint field as a safe integer (refuses values beyond 2^53). */
export function safeNumber (value: bigint, name: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new StorageWireError(`${name} out of range`)
  return Number(value)
}
