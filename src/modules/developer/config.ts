import { CLIENT_HIGH_WATER_BYTES, CLIENT_QUEUE_RECORDS, DEFAULT_HOST, DEFAULT_PORT, LOOPBACK_HOSTS, WATCH_DEBOUNCE_MS } from './constants.ts'
import { DevBadConfigError } from './errors.ts'

/** The developer module's configuration (`modules.developer.config` in the node's config.json). */
export interface DeveloperConfig {
  /** A loopback address: 127.0.0.1 (default), ::1 or localhost. */
  host: string
  /** 0 (default): any free port, published in the endpoint file. */
  port: number
  /** Browser origins besides the server's own that may call it (e.g. a local UI on another port). */
  allowedOrigins: string[]
  /** Modules whose folders are watched for hot reload from the start. */
  watch: string[]
  watchDebounceMs: number
  /** Records waiting per WebSocket client before new ones are dropped (CLIENT_QUEUE_RECORDS). */
  clientQueueRecords: number
  /** Unsent bytes per WebSocket client before the server stops writing to it (CLIENT_HIGH_WATER_BYTES). */
  clientHighWaterBytes: number
}

export function parseConfig (raw: Readonly<Record<string, unknown>>): DeveloperConfig {
  const config: DeveloperConfig = { host: DEFAULT_HOST, port: DEFAULT_PORT, allowedOrigins: [], watch: [], watchDebounceMs: WATCH_DEBOUNCE_MS, clientQueueRecords: CLIENT_QUEUE_RECORDS, clientHighWaterBytes: CLIENT_HIGH_WATER_BYTES }
  if (raw.host !== undefined) {
    if (typeof raw.host !== 'string' || !LOOPBACK_HOSTS.includes(raw.host)) throw new DevBadConfigError('host', `a loopback address (${LOOPBACK_HOSTS.join(', ')})`)
    config.host = raw.host
  }
  if (raw.port !== undefined) {
    if (typeof raw.port !== 'number' || !Number.isInteger(raw.port) || raw.port < 0 || raw.port > 65535) throw new DevBadConfigError('port', 'an integer from 0 to 65535')
    config.port = raw.port
  }
  if (raw.allowedOrigins !== undefined) {
    if (!Array.isArray(raw.allowedOrigins) || !raw.allowedOrigins.every(o => typeof o === 'string' && /^https?:\/\/[^/]+$/.test(o))) {
      throw new DevBadConfigError('allowedOrigins', 'an array of origins like "http://127.0.0.1:5173"')
    }
    config.allowedOrigins = raw.allowedOrigins as string[]
  }
  if (raw.watch !== undefined) {
    if (!Array.isArray(raw.watch) || !raw.watch.every(n => typeof n === 'string')) throw new DevBadConfigError('watch', 'an array of module names')
    config.watch = raw.watch as string[]
  }
  if (raw.watchDebounceMs !== undefined) {
    if (typeof raw.watchDebounceMs !== 'number' || !Number.isInteger(raw.watchDebounceMs) || raw.watchDebounceMs < 10) throw new DevBadConfigError('watchDebounceMs', 'an integer of at least 10')
    config.watchDebounceMs = raw.watchDebounceMs
  }
  config.clientQueueRecords = positiveInteger(raw, 'clientQueueRecords', config.clientQueueRecords)
  config.clientHighWaterBytes = positiveInteger(raw, 'clientHighWaterBytes', config.clientHighWaterBytes)
  return config
}

function positiveInteger (raw: Readonly<Record<string, unknown>>, field: string, fallback: number): number {
  const v = raw[field]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new DevBadConfigError(field, 'a positive integer')
  return v
}
