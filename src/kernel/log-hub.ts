import { RingBuffer } from '../common/index.ts'
import type { LogAccess, LogEntry, LogLevel } from './types.ts'

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error']
const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 }

/** How many recent log entries the node keeps per module for `tail`. */
export const LOG_RING_SIZE = 1000

export function isLogLevel (value: unknown): value is LogLevel {
  return typeof value === 'string' && Object.hasOwn(RANK, value)
}

export function levelEnabled (threshold: LogLevel, level: LogLevel): boolean {
  return RANK[level] >= RANK[threshold]
}

/** Per-module log levels (changeable at run time), recent entries per module, and live subscribers. */
export class LogHub implements LogAccess {
  private readonly levels = new Map<string, LogLevel>()
  private readonly rings = new Map<string, RingBuffer<LogEntry>>()
  private listeners: Array<(entry: LogEntry) => void> = []
  private readonly defaultLevel: LogLevel

  constructor (defaultLevel: LogLevel = 'info') {
    this.defaultLevel = defaultLevel
  }

  level (module: string): LogLevel {
    return this.levels.get(module) ?? this.defaultLevel
  }

  setLevel (module: string, level: LogLevel): void {
    this.levels.set(module, level)
  }

  write (entry: LogEntry): void {
    if (!levelEnabled(this.level(entry.module), entry.level)) return
    let ring = this.rings.get(entry.module)
    if (ring === undefined) {
      ring = new RingBuffer<LogEntry>(LOG_RING_SIZE)
      this.rings.set(entry.module, ring)
    }
    ring.push(entry)
    for (const listener of this.listeners) {
      try {
        listener(entry)
      } catch {
        // A broken sink must not break the module that logs.
      }
    }
  }

  /** Drops what the hub keeps of a module that is gone (its level stays: configuration outlives a reload). */
  forget (module: string): void {
    this.rings.delete(module)
  }

  tail (module: string | undefined, limit = 100): LogEntry[] {
    if (module !== undefined) return this.rings.get(module)?.toArray(limit) ?? []
    const all: LogEntry[] = []
    for (const ring of this.rings.values()) all.push(...ring.toArray(limit))
    return all.sort((a, b) => a.at - b.at).slice(-limit)
  }

  subscribe (listener: (entry: LogEntry) => void): () => void {
    this.listeners = [...this.listeners, listener]
    return () => { this.listeners = this.listeners.filter(l => l !== listener) }
  }
}
