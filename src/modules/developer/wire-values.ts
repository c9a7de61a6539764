import { errorToWire } from '../../sdk/index.ts'

/**
 * Module methods take and return values that JSON lacks (bytes, big integers). On this interface they travel as
 * one-key objects: `{ "$bytes": "<base64>" }` for a Uint8Array (or any typed array's bytes) and `{ "$bigint": "123" }`
 * for a bigint. Results are encoded that way, and `modules.call` params are decoded that way. An Error in a result
 * travels as its wire form ({ code, message, ... }); Maps and Sets as arrays of entries and values.
 */
export const BYTES_KEY = '$bytes'
export const BIGINT_KEY = '$bigint'

/** JSON text of a value, with the encodings above. Throws TypeError for what JSON cannot hold (cycles). */
export function encodeJson (value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    // `this[key]` is the value before toJSON ran (Buffer.toJSON would otherwise turn bytes into an array of numbers).
    return encodeValue(this[key], v)
  })
}

function encodeValue (raw: unknown, converted: unknown): unknown {
  if (typeof raw === 'bigint') return { [BIGINT_KEY]: raw.toString() }
  if (ArrayBuffer.isView(raw)) return { [BYTES_KEY]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') }
  if (raw instanceof ArrayBuffer) return { [BYTES_KEY]: Buffer.from(raw).toString('base64') }
  if (raw instanceof Error) return errorToWire(raw)
  if (raw instanceof Map) return [...raw.entries()]
  if (raw instanceof Set) return [...raw.values()]
  return converted
}

/** The inverse for params: `{ "$bytes" }` becomes a Uint8Array, `{ "$bigint" }` a bigint, recursively. */
export function decodeValue (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue)
  if (value === null || typeof value !== 'object') return value
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
  if (keys.length === 1) {
    if (keys[0] === BYTES_KEY && typeof obj[BYTES_KEY] === 'string') return new Uint8Array(Buffer.from(obj[BYTES_KEY], 'base64'))
    if (keys[0] === BIGINT_KEY && typeof obj[BIGINT_KEY] === 'string' && /^-?\d+$/.test(obj[BIGINT_KEY])) return BigInt(obj[BIGINT_KEY])
  }
  const out: Record<string, unknown> = {}
  for (const key of keys) out[key] = decodeValue(obj[key])
  return out
}
