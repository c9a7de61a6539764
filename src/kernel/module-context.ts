import { levelEnabled } from './log-hub.ts'
import type {
  CallOptions, EventHandler, KernelPort, LogLevel, Logger, MethodEntry, MethodSpec, MethodTable, ModuleContext,
  ModuleManifest, ModuleRuntime, RemoteApi, SystemAccess
} from './types.ts'

export interface ModuleContextInit {
  manifest: Readonly<ModuleManifest>
  dataDir: string
  config: Record<string, unknown>
  port: KernelPort
  system?: SystemAccess
}

/** A module context plus what its host needs to end it. */
export interface ContextHandle {
  ctx: ModuleContext
  /** Aborts `ctx.signal` and drops the module's event subscriptions. */
  dispose: () => void
}

/**
 * The context a module's start receives, over any KernelPort: the kernel itself in-process, or an IPC port in a
 * child process. The module cannot tell which.
 */
export function createModuleContext (init: ModuleContextInit): ContextHandle {
  const { manifest, port } = init
  const name = manifest.name
  const controller = new AbortController()
  const unsubscribers = new Set<() => void>()
  const proxies = new Map<string, unknown>()

  const log = createLogger(name, port)
  const ctx: ModuleContext = {
    name,
    version: manifest.version,
    dataDir: init.dataDir,
    config: Object.freeze({ ...init.config }),
    log,
    signal: controller.signal,
    system: init.system,
    call: async <R>(target: string, method: string, params?: unknown, options?: CallOptions): Promise<R> => {
      return await (port.dispatch(name, undefined, target, method, params, options) as Promise<R>)
    },
    use: <T>(target: string): RemoteApi<T> => {
      let proxy = proxies.get(target)
      if (proxy === undefined) {
        proxy = createProxy(target, (method, params, options) => port.dispatch(name, undefined, target, method, params, options))
        proxies.set(target, proxy)
      }
      return proxy as RemoteApi<T>
    },
    emit: (event: string, payload?: unknown): void => {
      port.emit(name, event, payload)
    },
    on: (source: string, event: string, handler: EventHandler): (() => void) => {
      const off = port.subscribe(name, source, event, handler)
      unsubscribers.add(off)
      return () => {
        unsubscribers.delete(off)
        off()
      }
    }
  }
  return {
    ctx,
    dispose: () => {
      controller.abort()
      for (const off of unsubscribers) off()
      unsubscribers.clear()
    }
  }
}

/** A typed proxy: `proxy.put(bytes, opts)` is `call(target, 'put', bytes, opts)`. Methods are made once per name. */
export function createProxy (target: string, call: (method: string, params: unknown, options?: CallOptions) => Promise<unknown>): unknown {
  const cache = new Map<string, (params: unknown, options?: CallOptions) => Promise<unknown>>()
  return new Proxy({}, {
    get (_obj, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined // not a thenable
      let fn = cache.get(prop)
      if (fn === undefined) {
        fn = async (params: unknown, options?: CallOptions) => await call(prop, params, options)
        cache.set(prop, fn)
      }
      return fn
    }
  })
}

function createLogger (module: string, port: KernelPort): Logger {
  const write = (level: LogLevel) => (message: string, fields?: Record<string, unknown>): void => {
    if (!levelEnabled(port.logLevel(module), level)) return
    const entry = fields === undefined ? { at: Date.now(), module, level, message } : { at: Date.now(), module, level, message, fields }
    port.log(entry)
  }
  return { trace: write('trace'), debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') }
}

/** The method table a module returned, as entries the kernel routes to. */
export function methodEntries (runtime: ModuleRuntime): Map<string, MethodEntry> {
  const entries = new Map<string, MethodEntry>()
  const table: MethodTable = runtime.methods ?? {}
  for (const [name, value] of Object.entries(table)) {
    if (typeof value === 'function') {
      entries.set(name, { name, invoke: value as MethodEntry['invoke'] })
    } else if (value !== null && typeof value === 'object' && typeof (value as MethodSpec).handler === 'function') {
      const spec = value as MethodSpec<never, unknown>
      const entry: MethodEntry = { name, invoke: spec.handler as MethodEntry['invoke'] }
      if (spec.description !== undefined) entry.description = spec.description
      if (spec.params !== undefined) entry.params = spec.params
      if (spec.result !== undefined) entry.result = spec.result
      entries.set(name, entry)
    } else {
      throw new TypeError(`method "${name}" must be a function or { handler }`)
    }
  }
  return entries
}
