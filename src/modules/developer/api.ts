import { isAbsolute } from 'node:path'
import { LOG_LEVELS, levelEnabled } from '../../sdk/index.ts'
import type { DirectoryEntry, JsonSchema, LogEntry, LogLevel, SystemAccess, TraceRecord } from '../../sdk/index.ts'
import type { ActivityLog } from './activity.ts'
import type { ClientQueue } from './client-queue.ts'
import { MAX_FILTER_MODULES, MAX_LOG_TAIL, RECENT_CALLS, WATCH_DEBOUNCE_MS } from './constants.ts'
import type { Endpoint } from './endpoint.ts'
import { DevInvalidParamsError, DevNeedsWebSocketError, DevNotWatchableError, DevSelfControlError } from './errors.ts'
import { RpcMethodNotFound } from './json-rpc.ts'
import type { RpcDispatch, RpcRequest } from './json-rpc.ts'
import type { Reloader } from './reloader.ts'
import { ref } from './schemas.ts'
import { isPlainObject, validate } from './schema.ts'
import type { FolderWatcher } from './watcher.ts'
import { decodeValue } from './wire-values.ts'

/** The connection a request arrived on. */
export interface Session {
  transport: 'http' | 'ws'
  /** Aborted when the client goes away: calls it made are abandoned. */
  signal: AbortSignal
  /** WebSocket connections only: where subscriptions send their notifications. */
  queue?: ClientQueue
}

export interface RpcParam {
  name: string
  schema: JsonSchema
  required?: boolean
  description?: string
}

/** One method of the interface: its documentation (published by rpc.discover), its params' schema and its handler. */
export interface RpcMethod {
  name: string
  summary: string
  description?: string
  params: RpcParam[]
  result: { name: string, schema: JsonSchema }
  /** Streams notifications: needs a WebSocket. */
  websocketOnly?: boolean
  /** The ERR_ codes it reports (in error.data.code) besides invalid params. */
  errors?: string[]
  handler: (params: Record<string, unknown>, session: Session) => unknown
}

export interface ApiDeps {
  system: SystemAccess
  /** The developer module's own name: it does not stop, unload or reload itself. */
  self: string
  version: string
  startedAt: number
  activity: ActivityLog
  watcher: FolderWatcher
  reloader: Reloader
  endpoint: () => Endpoint | undefined
  /** The OpenRPC document (built from this very table). */
  discover: () => unknown
}

/** One row of `modules.list`. */
export interface ModuleRow {
  name: string
  version: string
  state: DirectoryEntry['state']
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

const NAME: JsonSchema = { type: 'string', minLength: 1, maxLength: 64, description: 'a module name' }
const TRACE_TYPES = ['call', 'event', 'lifecycle', 'supervision']
const MODULE_LIST: JsonSchema = { type: 'array', items: NAME, maxItems: MAX_FILTER_MODULES }
const SUBSCRIPTION: JsonSchema = { type: 'string', minLength: 1, maxLength: 64 }

/** The method table. Names are `area.verb`; params are one object (by name) or an array in the order listed. */
export function createApi (deps: ApiDeps): Map<string, RpcMethod> {
  const { system, self, activity, watcher, reloader } = deps
  const notSelf = (name: string, action: string): void => {
    if (name === self) throw new DevSelfControlError(name, action)
  }
  const describe = (name: string): Record<string, unknown> => {
    const entry = system.describe(name)
    const out: Record<string, unknown> = { ...entry, logLevel: system.logs.level(name), activity: activity.totals(name) }
    const watch = watcher.get(name)
    if (watch !== undefined) out.watch = watch
    return out
  }
  const subscribeQueue = (session: Session, method: string): ClientQueue => {
    if (session.queue === undefined) throw new DevNeedsWebSocketError(method)
    return session.queue
  }

  const methods: RpcMethod[] = [
    {
      name: 'rpc.discover',
      summary: 'This interface as an OpenRPC 1.2.6 document',
      params: [],
      result: { name: 'openrpc', schema: { type: 'object' } },
      handler: () => deps.discover()
    },
    {
      name: 'node.info',
      summary: 'The node: process, data directory, hosts, uptime, endpoint',
      params: [],
      result: { name: 'info', schema: ref('NodeInfo') },
      handler: () => {
        const out: Record<string, unknown> = {
          pid: process.pid,
          node: process.version,
          platform: `${process.platform}-${process.arch}`,
          dataDir: system.dataDir,
          startedAt: deps.startedAt,
          uptimeMs: Date.now() - deps.startedAt,
          version: deps.version,
          hosts: system.hosts(),
          modules: system.list().length,
          rssBytes: process.memoryUsage.rss()
        }
        const endpoint = deps.endpoint()
        if (endpoint !== undefined) out.endpoint = { url: endpoint.url, ws: endpoint.ws }
        return out
      }
    },
    {
      name: 'modules.list',
      summary: 'Every loaded module: version, state, host, pid, uptime, restarts, CPU, memory, calls and failures',
      params: [],
      result: { name: 'modules', schema: { type: 'array', items: ref('ModuleRow') } },
      handler: () => system.list().map(e => moduleRow(e, activity.totals(e.name), watcher.get(e.name) !== undefined, system.logs.level(e.name)))
    },
    {
      name: 'modules.describe',
      summary: 'One module: its methods (with schemas), events, dependencies, state, log level, activity and watch',
      params: [{ name: 'name', schema: NAME, required: true }],
      result: { name: 'module', schema: ref('DirectoryEntry') },
      errors: ['ERR_MODULE_NOT_FOUND'],
      handler: (p) => describe(p.name as string)
    },
    {
      name: 'modules.call',
      summary: 'Calls a method of any module (as the caller "external") and returns its result',
      description: 'Bytes and big integers travel as { "$bytes": "<base64>" } and { "$bigint": "<decimal>" }, both ways.',
      params: [
        { name: 'module', schema: NAME, required: true },
        { name: 'method', schema: { type: 'string', minLength: 1, maxLength: 128 }, required: true },
        { name: 'params', schema: {}, description: 'the one parameter value the method takes (any JSON)' },
        { name: 'timeoutMs', schema: { type: 'integer', minimum: 1, maximum: 3_600_000 } }
      ],
      result: { name: 'result', schema: { description: 'whatever the method returns' } },
      errors: ['ERR_MODULE_NOT_FOUND', 'ERR_METHOD_NOT_FOUND', 'ERR_MODULE_NOT_RUNNING', 'ERR_CALL_TIMEOUT', 'ERR_CALL_ABORTED', 'any code the method throws'],
      handler: async (p, session) => {
        const options: { signal: AbortSignal, timeout?: number } = { signal: session.signal }
        if (p.timeoutMs !== undefined) options.timeout = p.timeoutMs as number
        return await system.call(p.module as string, p.method as string, decodeValue(p.params), options)
      }
    },
    {
      name: 'modules.recent',
      summary: 'A module\'s recent calls and errors (bounded rings fed from the trace stream while this module runs)',
      params: [{ name: 'name', schema: NAME, required: true }, { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: RECENT_CALLS } }],
      result: { name: 'activity', schema: ref('RecentActivity') },
      errors: ['ERR_MODULE_NOT_FOUND'],
      handler: (p) => {
        system.describe(p.name as string)
        return activity.recent(p.name as string, (p.limit as number | undefined) ?? RECENT_CALLS)
      }
    },
    {
      name: 'modules.load',
      summary: 'Loads a module from a folder (untrusted: it cannot be privileged) and, unless start is false, starts it',
      params: [
        { name: 'dir', schema: { type: 'string', minLength: 1, maxLength: 4096 }, required: true, description: 'an absolute path on the node\'s machine' },
        { name: 'host', schema: NAME },
        { name: 'config', schema: { type: 'object' } },
        { name: 'start', schema: { type: 'boolean' } }
      ],
      result: { name: 'module', schema: ref('DirectoryEntry') },
      errors: ['ERR_BAD_MANIFEST', 'ERR_MODULE_LOAD_FAILED', 'ERR_MODULE_ALREADY_LOADED', 'ERR_NOT_PRIVILEGED', 'ERR_MODULE_START_FAILED'],
      handler: async (p, session) => {
        const options: { config?: Record<string, unknown>, host?: string, trusted: false } = { trusted: false }
        if (p.config !== undefined) options.config = p.config as Record<string, unknown>
        if (p.host !== undefined) options.host = p.host as string
        const entry = await system.load({ dir: p.dir as string }, options)
        if (p.start !== false) await system.start(entry.name, { signal: session.signal })
        return describe(entry.name)
      }
    },
    {
      name: 'modules.unload',
      summary: 'Stops and unloads a module (cascade: its dependents too)',
      params: [{ name: 'name', schema: NAME, required: true }, { name: 'cascade', schema: { type: 'boolean' } }],
      result: { name: 'unloaded', schema: { type: 'object', properties: { name: { type: 'string' }, unloaded: { type: 'boolean' } } } },
      errors: ['ERR_MODULE_NOT_FOUND', 'ERR_HAS_DEPENDENTS', 'ERR_MODULE_PROTECTED', 'ERR_DEV_SELF_CONTROL'],
      handler: async (p) => {
        notSelf(p.name as string, 'unload')
        watcher.unwatch(p.name as string)
        await system.unload(p.name as string, { cascade: p.cascade === true })
        return { name: p.name, unloaded: true }
      }
    },
    {
      name: 'modules.start',
      summary: 'Starts a module (its dependencies first)',
      params: [{ name: 'name', schema: NAME, required: true }],
      result: { name: 'module', schema: ref('DirectoryEntry') },
      errors: ['ERR_MODULE_NOT_FOUND', 'ERR_MODULE_START_FAILED', 'ERR_DEPENDENCY_FAILED'],
      handler: async (p, session) => {
        await system.start(p.name as string, { signal: session.signal })
        return describe(p.name as string)
      }
    },
    {
      name: 'modules.stop',
      summary: 'Stops a module (cascade: its running dependents first)',
      params: [{ name: 'name', schema: NAME, required: true }, { name: 'cascade', schema: { type: 'boolean' } }],
      result: { name: 'module', schema: ref('DirectoryEntry') },
      errors: ['ERR_MODULE_NOT_FOUND', 'ERR_HAS_DEPENDENTS', 'ERR_MODULE_PROTECTED', 'ERR_DEV_SELF_CONTROL'],
      handler: async (p) => {
        notSelf(p.name as string, 'stop')
        await system.stop(p.name as string, { cascade: p.cascade === true })
        return describe(p.name as string)
      }
    },
    {
      name: 'modules.reload',
      summary: 'Replaces a module\'s code while the others keep running; calls to it wait during the swap',
      description: 'From its own folder (read again), or from `dir`. When the new code fails to start, the previous code runs again and the error (ERR_RELOAD_FAILED) has data.rolledBack = true.',
      params: [{ name: 'name', schema: NAME, required: true }, { name: 'dir', schema: { type: 'string', minLength: 1, maxLength: 4096 } }],
      result: { name: 'outcome', schema: ref('ReloadOutcome') },
      errors: ['ERR_MODULE_NOT_FOUND', 'ERR_RELOAD_FAILED', 'ERR_BAD_MANIFEST', 'ERR_MODULE_PROTECTED', 'ERR_DEV_SELF_CONTROL'],
      handler: async (p) => {
        notSelf(p.name as string, 'reload')
        const name = p.name as string
        const options: { trigger: 'request', dir?: string } = { trigger: 'request' }
        if (p.dir !== undefined) options.dir = p.dir as string
        const outcome = await reloader.reload(name, options)
        // A watched module that now comes from another folder is watched there.
        const watch = watcher.get(name)
        const source = system.describe(name).source
        if (watch !== undefined && source !== undefined && source !== watch.dir) watcher.watch(name, source, watch.debounceMs)
        return outcome
      }
    },
    {
      name: 'modules.watch',
      summary: 'Watches a module\'s folder and reloads it when files change (after a quiet period of debounceMs)',
      params: [{ name: 'name', schema: NAME, required: true }, { name: 'debounceMs', schema: { type: 'integer', minimum: 10, maximum: 60_000 } }],
      result: { name: 'watch', schema: ref('WatchInfo') },
      errors: ['ERR_MODULE_NOT_FOUND', 'ERR_DEV_NOT_WATCHABLE', 'ERR_DEV_SELF_CONTROL', 'ERR_DEV_LIMIT_REACHED'],
      handler: (p) => {
        const name = p.name as string
        notSelf(name, 'watch')
        const entry = system.describe(name)
        if (entry.source === undefined || !isAbsolute(entry.source)) throw new DevNotWatchableError(name, 'it was not loaded from a folder')
        return watcher.watch(name, entry.source, (p.debounceMs as number | undefined) ?? WATCH_DEBOUNCE_MS)
      }
    },
    {
      name: 'modules.unwatch',
      summary: 'Stops watching a module\'s folder; false if it was not watched',
      params: [{ name: 'name', schema: NAME, required: true }],
      result: { name: 'unwatched', schema: { type: 'boolean' } },
      handler: (p) => watcher.unwatch(p.name as string)
    },
    {
      name: 'modules.watches',
      summary: 'The watched folders, with the outcome of each one\'s last reload',
      params: [],
      result: { name: 'watches', schema: { type: 'array', items: ref('WatchInfo') } },
      handler: () => watcher.list()
    },
    {
      name: 'logs.tail',
      summary: 'Recent log entries of one module (or of all), oldest first',
      params: [
        { name: 'module', schema: NAME },
        { name: 'limit', schema: { type: 'integer', minimum: 1, maximum: MAX_LOG_TAIL } },
        { name: 'level', schema: { type: 'string', enum: [...LOG_LEVELS] }, description: 'only entries at this level or above' }
      ],
      result: { name: 'entries', schema: { type: 'array', items: ref('LogEntry') } },
      handler: (p) => {
        const entries = system.logs.tail(p.module as string | undefined, (p.limit as number | undefined) ?? 100)
        const min = p.level as LogLevel | undefined
        return min === undefined ? entries : entries.filter(e => levelEnabled(min, e.level))
      }
    },
    {
      name: 'logs.setLevel',
      summary: 'Sets a module\'s log level at run time; returns the previous one',
      params: [{ name: 'module', schema: NAME, required: true }, { name: 'level', schema: { type: 'string', enum: [...LOG_LEVELS] }, required: true }],
      result: { name: 'levels', schema: { type: 'object', properties: { module: { type: 'string' }, level: ref('LogLevel'), previous: ref('LogLevel') } } },
      errors: ['ERR_MODULE_NOT_FOUND'],
      handler: (p) => {
        // Only modules that are loaded: the kernel keeps a level per name it is given, and clients are not to grow that.
        system.describe(p.module as string)
        const previous = system.logs.level(p.module as string)
        system.logs.setLevel(p.module as string, p.level as LogLevel)
        return { module: p.module, level: p.level, previous }
      }
    },
    {
      name: 'logs.level',
      summary: 'A module\'s log level',
      params: [{ name: 'module', schema: NAME, required: true }],
      result: { name: 'level', schema: { type: 'object', properties: { module: { type: 'string' }, level: ref('LogLevel') } } },
      handler: (p) => ({ module: p.module, level: system.logs.level(p.module as string) })
    },
    {
      name: 'logs.subscribe',
      summary: 'Streams new log entries as `logs.entries` notifications (WebSocket only); returns the subscription id',
      params: [{ name: 'modules', schema: MODULE_LIST }, { name: 'level', schema: { type: 'string', enum: [...LOG_LEVELS] } }],
      result: { name: 'subscription', schema: { type: 'string' } },
      websocketOnly: true,
      errors: ['ERR_DEV_NEEDS_WEBSOCKET', 'ERR_DEV_LIMIT_REACHED'],
      handler: (p, session) => {
        const queue = subscribeQueue(session, 'logs.subscribe')
        const modules = p.modules === undefined || (p.modules as string[]).length === 0 ? undefined : new Set(p.modules as string[])
        const min = p.level as LogLevel | undefined
        return queue.subscribe('logs', (push) => system.logs.subscribe((entry: LogEntry) => {
          if (modules !== undefined && !modules.has(entry.module)) return
          if (min !== undefined && !levelEnabled(min, entry.level)) return
          push(entry)
        }))
      }
    },
    {
      name: 'logs.unsubscribe',
      summary: 'Ends a logs subscription of this connection',
      params: [{ name: 'subscription', schema: SUBSCRIPTION, required: true }],
      result: { name: 'unsubscribed', schema: { type: 'boolean' } },
      websocketOnly: true,
      errors: ['ERR_DEV_SUBSCRIPTION_NOT_FOUND'],
      handler: (p, session) => {
        subscribeQueue(session, 'logs.unsubscribe').unsubscribe(p.subscription as string)
        return true
      }
    },
    {
      name: 'trace.subscribe',
      summary: 'Streams the trace (calls with timing, parent links and outcome; events; lifecycle; supervision) as `trace.records` notifications (WebSocket only)',
      description: 'Filters: `types` (any of call, event, lifecycle, supervision), `modules` (a call matches on its caller or its target), `errorsOnly` (failed calls, changes to failed, crashes, give-ups and rollbacks).',
      params: [
        { name: 'types', schema: { type: 'array', items: { type: 'string', enum: TRACE_TYPES }, maxItems: TRACE_TYPES.length } },
        { name: 'modules', schema: MODULE_LIST },
        { name: 'errorsOnly', schema: { type: 'boolean' } }
      ],
      result: { name: 'subscription', schema: { type: 'string' } },
      websocketOnly: true,
      errors: ['ERR_DEV_NEEDS_WEBSOCKET', 'ERR_DEV_LIMIT_REACHED'],
      handler: (p, session) => {
        const queue = subscribeQueue(session, 'trace.subscribe')
        const filter: { types?: Array<TraceRecord['type']>, modules?: string[] } = {}
        if (p.types !== undefined) filter.types = p.types as Array<TraceRecord['type']>
        if (p.modules !== undefined) filter.modules = p.modules as string[]
        const errorsOnly = p.errorsOnly === true
        return queue.subscribe('trace', (push) => system.subscribeTrace(errorsOnly ? (r) => { if (isError(r)) push(r) } : push, filter))
      }
    },
    {
      name: 'trace.unsubscribe',
      summary: 'Ends a trace subscription of this connection',
      params: [{ name: 'subscription', schema: SUBSCRIPTION, required: true }],
      result: { name: 'unsubscribed', schema: { type: 'boolean' } },
      websocketOnly: true,
      errors: ['ERR_DEV_SUBSCRIPTION_NOT_FOUND'],
      handler: (p, session) => {
        subscribeQueue(session, 'trace.unsubscribe').unsubscribe(p.subscription as string)
        return true
      }
    }
  ]
  return new Map(methods.map(m => [m.name, m]))
}

/** A dispatcher over the table for one connection: params by name or position, validated against the schema. */
export function dispatcher (api: ReadonlyMap<string, RpcMethod>, session: Session): RpcDispatch {
  return async (request: RpcRequest) => {
    const method = api.get(request.method)
    if (method === undefined) throw new RpcMethodNotFound(request.method)
    if (method.websocketOnly === true && session.queue === undefined) throw new DevNeedsWebSocketError(method.name)
    return await method.handler(paramsOf(method, request.params), session)
  }
}

/** Named params from an object or an array (in the listed order), checked against the method's schema. */
export function paramsOf (method: RpcMethod, raw: unknown): Record<string, unknown> {
  let named: Record<string, unknown>
  if (raw === undefined) {
    named = {}
  } else if (Array.isArray(raw)) {
    if (raw.length > method.params.length) throw new DevInvalidParamsError(method.name, `at most ${method.params.length} positional params (${method.params.map(p => p.name).join(', ') || 'none'}), got ${raw.length}`)
    named = {}
    raw.forEach((value, i) => { named[(method.params[i] as RpcParam).name] = value })
  } else if (isPlainObject(raw)) {
    named = raw
  } else {
    throw new DevInvalidParamsError(method.name, 'params must be an object or an array')
  }
  const problem = validate(paramsSchema(method), named)
  if (problem !== undefined) throw new DevInvalidParamsError(method.name, problem)
  return named
}

export function paramsSchema (method: RpcMethod): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(method.params.map(p => [p.name, p.schema])),
    required: method.params.filter(p => p.required === true).map(p => p.name),
    additionalProperties: false
  }
}

export function moduleRow (e: DirectoryEntry, totals: { calls: number, failed: number }, watching: boolean, logLevel: LogLevel): ModuleRow {
  const row: ModuleRow = {
    name: e.name,
    version: e.version,
    state: e.state,
    host: e.host,
    restarts: e.process?.restarts ?? 0,
    calls: totals.calls,
    failed: totals.failed,
    watching,
    logLevel
  }
  if (e.description !== undefined) row.description = e.description
  if (e.process !== undefined) row.pid = e.process.pid
  if (e.uptimeMs !== undefined) row.uptimeMs = e.uptimeMs
  if (e.process?.cpuPercent !== undefined) row.cpuPercent = e.process.cpuPercent
  if (e.process?.rssBytes !== undefined) row.rssBytes = e.process.rssBytes
  if (e.cause !== undefined) row.cause = { code: e.cause.code, message: e.cause.message }
  return row
}

/** What `errorsOnly` keeps. */
export function isError (r: TraceRecord): boolean {
  switch (r.type) {
    case 'call': return !r.ok
    case 'lifecycle': return r.to === 'failed'
    case 'supervision': return r.action === 'crashed' || r.action === 'gave-up' || r.action === 'rolled-back'
    case 'event': return false
  }
}
