/** Pure formatting helpers (no DOM): what the tables and panes print. */
import type { LogLevel, TraceRecord } from './types.ts'

export function formatBytes (bytes: number | undefined): string {
  if (bytes === undefined) return '—'
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = bytes / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i] as string}`
}

export function formatPercent (percent: number | undefined): string {
  return percent === undefined ? '—' : `${percent.toFixed(1)} %`
}

/** 850 ms, 12.3 s, 4 m 05 s, 3 h 02 m, 2 d 04 h. */
export function formatDuration (ms: number | undefined): string {
  if (ms === undefined) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, '0')} s`
  const h = Math.floor(m / 60)
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} m`
  return `${Math.floor(h / 24)} d ${String(h % 24).padStart(2, '0')} h`
}

/** A call's duration from nanoseconds: 42 µs, 3.21 ms, 1.20 s. */
export function formatNanos (ns: number): string {
  if (ns < 1_000_000) return `${Math.round(ns / 1000)} µs`
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`
  return `${(ns / 1_000_000_000).toFixed(2)} s`
}

/** Local wall-clock time with milliseconds: 14:03:07.123. */
export function formatClock (at: number): string {
  const d = new Date(at)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

/** Pretty JSON of a result; undefined (a method that returns nothing) reads as such. */
export function formatJson (value: unknown): string {
  if (value === undefined) return '(no value)'
  return JSON.stringify(value, null, 2)
}

const RANK: Readonly<Record<LogLevel, number>> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 }

/** Whether an entry at `level` passes a minimum level. */
export function atLeast (level: LogLevel, min: LogLevel): boolean {
  return RANK[level] >= RANK[min]
}

/** One line that says what a trace record is. */
export function describeRecord (r: TraceRecord): string {
  switch (r.type) {
    case 'call': return `${r.caller} → ${r.target}.${r.method}  ${formatNanos(r.durationNs)}  ${r.ok ? 'ok' : `${r.error?.code ?? 'failed'}: ${r.error?.message ?? ''}`}`
    case 'event': return `${r.source} emitted ${r.event} (${r.subscribers} subscriber${r.subscribers === 1 ? '' : 's'})`
    case 'lifecycle': return `${r.module}: ${r.from} → ${r.to}${r.cause === undefined ? '' : ` (${r.cause.code}: ${r.cause.message})`}`
    case 'supervision': return `${r.module} ${r.action}${Object.keys(r.detail).length === 0 ? '' : ` ${JSON.stringify(r.detail)}`}`
  }
}

/** Whether a trace record is a failure: a failed call, a change to failed, a crash, a give-up or a rollback. */
export function isFailure (r: TraceRecord): boolean {
  switch (r.type) {
    case 'call': return !r.ok
    case 'lifecycle': return r.to === 'failed'
    case 'supervision': return r.action === 'crashed' || r.action === 'gave-up' || r.action === 'rolled-back'
    case 'event': return false
  }
}

/**
 * A starting value for a method's params from its JSON Schema: `{}` with its required properties set to a value of
 * their type for an object, nothing ('') for a method that declares no params.
 */
export function paramsTemplate (schema: Record<string, unknown> | undefined): string {
  if (schema === undefined) return ''
  const sample = sampleOf(schema, 0)
  return sample === undefined ? '' : JSON.stringify(sample, null, 2)
}

function sampleOf (schema: Record<string, unknown>, depth: number): unknown {
  if (depth > 4) return null
  if ('default' in schema) return schema.default
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {}
      const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>
      const required = Array.isArray(schema.required) ? schema.required as string[] : []
      for (const name of required) out[name] = sampleOf(properties[name] ?? {}, depth + 1)
      return out
    }
    case 'array': return []
    case 'string': return ''
    case 'number':
    case 'integer': return 0
    case 'boolean': return false
    case 'null': return null
    default: return depth === 0 ? undefined : null
  }
}

/** Parses the params a user typed: empty means none; otherwise JSON, or an Error saying where it is not. */
export function parseParams (text: string): { ok: true, value: unknown } | { ok: false, error: string } {
  if (text.trim() === '') return { ok: true, value: undefined }
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
}
