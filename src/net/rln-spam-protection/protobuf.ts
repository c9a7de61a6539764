import { MixRlnWireError } from './errors.ts'

/** The few protobuf primitives the two messages need: varints and length-delimited fields (proto3 wire type 2). */

export function writeVarint (out: number[], value: number): void {
  let v = value
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
}

/** Appends field `field` (wire type 2) holding `bytes`. */
export function writeBytesField (out: number[], field: number, bytes: Uint8Array): void {
  writeVarint(out, (field << 3) | 2)
  writeVarint(out, bytes.length)
  for (const b of bytes) out.push(b)
}

export interface RawField { field: number, value: Uint8Array }

/** Splits a message into its length-delimited fields; any other wire type or a truncated field is an error. */
export function readFields (bytes: Uint8Array, maxFields: number): RawField[] {
  const fields: RawField[] = []
  let o = 0
  const varint = (): number => {
    let result = 0
    let shift = 0
    for (;;) {
      if (o >= bytes.length) throw new MixRlnWireError('truncated varint')
      const b = bytes[o++] as number
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
      if (shift > 35) throw new MixRlnWireError('varint too long')
    }
  }
  while (o < bytes.length) {
    const key = varint()
    if ((key & 7) !== 2) throw new MixRlnWireError(`unexpected wire type ${key & 7}`)
    const len = varint()
    if (o + len > bytes.length) throw new MixRlnWireError('truncated field')
    if (fields.length >= maxFields) throw new MixRlnWireError(`more than ${maxFields} fields`)
    fields.push({ field: key >>> 3, value: bytes.subarray(o, o + len) })
    o += len
  }
  return fields
}
