import type { TraceRecord } from '../../sdk/index.ts'
import { encodeJson } from './wire-values.ts'

/** Distinct strings whose JSON form is remembered (module and method names repeat endlessly in a trace). */
const QUOTED_CACHE_SIZE = 4096
const quoted = new Map<string, string>()

function quote (s: string): string {
  let q = quoted.get(s)
  if (q === undefined) {
    if (quoted.size >= QUOTED_CACHE_SIZE) quoted.clear()
    q = JSON.stringify(s)
    quoted.set(s, q)
  }
  return q
}

/**
 * JSON text of one trace record. Call records, nearly all of a busy trace, are written field by field, which costs
 * about half of JSON.stringify; the rest go through JSON.stringify (and the bytes/bigint encoding if that fails).
 * Same output shape either way (a test parses both against each other).
 */
export function traceRecordJson (r: TraceRecord): string {
  if (r.type === 'call' && r.error === undefined) {
    return '{"type":"call","id":' + r.id + (r.parentId === undefined ? '' : ',"parentId":' + r.parentId) +
      ',"depth":' + r.depth + ',"caller":' + quote(r.caller) + ',"target":' + quote(r.target) + ',"method":' + quote(r.method) +
      ',"at":' + r.at + ',"durationNs":' + r.durationNs + ',"ok":' + (r.ok ? 'true' : 'false') + '}'
  }
  return anyJson(r)
}

/** JSON text of any item, with the interface's encoding of bytes and big integers when plain JSON cannot hold it. */
export function anyJson (value: unknown): string {
  try {
    return JSON.stringify(value)
  } catch {
    return encodeJson(value)
  }
}
