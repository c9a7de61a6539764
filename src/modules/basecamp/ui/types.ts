/**
 * The shapes the developer interface answers with (docs/developer-api.md), as the page sees them. The page cannot
 * import the server's types (it is served on its own, and modules do not import each other), so they are written here
 * from the interface's documentation.
 */

export type ModuleState = 'resolved' | 'starting' | 'running' | 'stopping' | 'stopped' | 'restarting' | 'reloading' | 'failed'
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error']

export interface ErrorWire {
  name?: string
  code: string
  message: string
  retryable?: boolean
  data?: Record<string, unknown>
  stack?: string
  cause?: ErrorWire
}

/** One row of `modules.list`. */
export interface ModuleRow {
  name: string
  version: string
  state: ModuleState
  host: string
  description?: string
  pid?: number
  uptimeMs?: number
  restarts: number
  cpuPercent?: number
  rssBytes?: number
  calls: number
  failed: number
  watching: boolean
  logLevel: LogLevel
  cause?: { code: string, message: string }
}

export interface MethodInfo {
  name: string
  description?: string
  params?: Record<string, unknown>
  result?: Record<string, unknown>
}

/** `modules.describe`. */
export interface ModuleDescription {
  name: string
  version: string
  description?: string
  state: ModuleState
  host: string
  dependencies: Record<string, string>
  dependents: string[]
  methods: MethodInfo[]
  events: Array<{ name: string, description?: string }>
  uptimeMs?: number
  process?: { pid: number, cpuPercent?: number, rssBytes?: number, restarts: number, startedAt: number }
  cause?: ErrorWire
  source?: string
  logLevel: LogLevel
  activity: { calls: number, failed: number }
}

export interface CallRecord {
  type: 'call'
  id: number
  parentId?: number
  depth: number
  caller: string
  target: string
  method: string
  at: number
  durationNs: number
  ok: boolean
  error?: { code: string, message: string }
}

export interface EventRecord {
  type: 'event'
  source: string
  event: string
  callId?: number
  at: number
  subscribers: number
}

export interface LifecycleRecord {
  type: 'lifecycle'
  module: string
  from: ModuleState | 'unloaded'
  to: ModuleState | 'unloaded'
  at: number
  cause?: ErrorWire
}

export interface SupervisionRecord {
  type: 'supervision'
  module: string
  action: 'crashed' | 'restarting' | 'restarted' | 'gave-up' | 'rolled-back'
  at: number
  detail: Record<string, unknown>
}

export type TraceRecord = CallRecord | EventRecord | LifecycleRecord | SupervisionRecord
export type TraceType = TraceRecord['type']
export const TRACE_TYPES: readonly TraceType[] = ['call', 'event', 'lifecycle', 'supervision']

export interface LogEntry {
  at: number
  module: string
  level: LogLevel
  message: string
  fields?: Record<string, unknown>
}

/** `modules.recent`. */
export interface RecentActivity {
  module: string
  calls: number
  failed: number
  recentCalls: CallRecord[]
  recentErrors: TraceRecord[]
}

/** `node.info`. */
export interface NodeInfo {
  pid: number
  node: string
  platform: string
  dataDir: string
  startedAt: number
  uptimeMs: number
  version: string
  hosts: string[]
  modules: number
  rssBytes: number
}

/** `basecamp.node`, answered by Basecamp itself. */
export interface NodeFigures {
  pid: number
  cpuPercent: number
  rssBytes: number
  heapUsedBytes: number
  uptimeMs: number
  at: number
}

/** `basecamp.session`, answered by Basecamp itself. */
export interface SessionInfo {
  module: string
  version: string
  via: string
  pid: number
}

/** `modules.reload`. */
export interface ReloadOutcome {
  module: string
  ok: boolean
  previousVersion: string
  version: string
  durationMs: number
}
