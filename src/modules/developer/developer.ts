import { isAbsolute } from 'node:path'
import { defineModule } from '../../sdk/index.ts'
import { ActivityLog } from './activity.ts'
import { createApi } from './api.ts'
import { ensureToken } from './access.ts'
import { parseConfig } from './config.ts'
import { removeEndpoint, writeEndpoint } from './endpoint.ts'
import type { Endpoint } from './endpoint.ts'
import { DevNotPrivilegedError } from './errors.ts'
import { installFreshImports } from './fresh-imports.ts'
import { openRpcDocument } from './openrpc.ts'
import { Reloader } from './reloader.ts'
import type { ReloadOutcome } from './reloader.ts'
import { DevServer } from './server.ts'
import { FolderWatcher } from './watcher.ts'

/** The developer module's version (module.json says the same; the kernel checks they agree). */
export const DEVELOPER_VERSION = '0.1.0'

/**
 * The developer module: the node's live view, tracing, hot reload and debugging, served as JSON-RPC 2.0 over HTTP
 * and WebSocket on a loopback port. It needs kernel access (ctx.system), so it is privileged and runs in-process.
 */
export const developer = defineModule({
  name: 'developer',
  version: DEVELOPER_VERSION,
  events: {
    reloaded: { description: 'ReloadOutcome: { module, ok, trigger, previousVersion, version, durationMs, rolledBack?, error? } after every reload it makes' }
  },
  async start (ctx) {
    const system = ctx.system
    if (system === undefined) throw new DevNotPrivilegedError()
    const config = parseConfig(ctx.config)
    const startedAt = Date.now()

    // Recent calls and errors: fed from the trace stream only while this module runs.
    const activity = new ActivityLog()
    const offTrace = system.subscribeTrace(activity.listener)
    const removeHook = installFreshImports()
    let watcher: FolderWatcher | undefined
    let server: DevServer | undefined
    let endpoint: Endpoint | undefined
    const offUnloaded = ctx.on('directory', 'module:unloaded', (payload) => {
      watcher?.unwatch((payload as { name: string }).name)
    })
    /**
     * A module the configuration names is watched whenever it is loaded: at the start, or when it is loaded later
     * (one that is not loaded yet must not keep the developer interface from starting). A module that cannot be
     * watched is logged and skipped.
     */
    const watchConfigured = (name: string): void => {
      if (watcher === undefined || watcher.get(name) !== undefined) return
      let source: string | undefined
      try {
        source = system.describe(name).source
      } catch {
        ctx.log.info(`will watch ${name} once it is loaded`)
        return
      }
      if (source === undefined || !isAbsolute(source)) {
        ctx.log.warn(`cannot watch ${name}: it was not loaded from a folder`)
        return
      }
      try {
        watcher.watch(name, source, config.watchDebounceMs)
      } catch (err) {
        ctx.log.warn(`cannot watch ${name}: ${(err as Error).message}`)
      }
    }
    const offLoaded = ctx.on('directory', 'module:loaded', (payload) => {
      const name = (payload as { name: string }).name
      if (config.watch.includes(name)) watchConfigured(name)
    })
    const cleanup = async (): Promise<void> => {
      offLoaded()
      offUnloaded()
      watcher?.close()
      if (server !== undefined) await server.close()
      if (endpoint !== undefined) await removeEndpoint(ctx.dataDir, endpoint).catch(() => {})
      removeHook()
      offTrace()
    }

    try {
      const reloader = new Reloader(system, (outcome: ReloadOutcome) => {
        watcher?.record(outcome)
        if (outcome.ok) ctx.log.info(`reloaded ${outcome.module} ${outcome.previousVersion} -> ${outcome.version}`, { ...outcome })
        else ctx.log.error(`reload of ${outcome.module} failed${outcome.rolledBack === true ? '; the previous code runs again' : ''}`, { ...outcome })
        ctx.emit('reloaded', outcome)
      })
      watcher = new FolderWatcher(
        async (name) => await reloader.reload(name, { trigger: 'watch' }),
        (name, err) => { ctx.log.warn(`stopped watching ${name}: ${err.message}`) }
      )
      const token = await ensureToken(ctx.dataDir)
      let discover: () => unknown = () => ({})
      const api = createApi({
        system,
        self: ctx.name,
        version: ctx.version,
        startedAt,
        activity,
        watcher,
        reloader,
        endpoint: () => endpoint,
        discover: () => discover()
      })
      discover = () => openRpcDocument(api.values(), { version: ctx.version, url: endpoint?.url, ws: endpoint?.ws })
      server = new DevServer({
        host: config.host,
        port: config.port,
        token,
        allowedOrigins: config.allowedOrigins,
        api,
        log: ctx.log,
        queue: { queueLimit: config.clientQueueRecords, highWaterBytes: config.clientHighWaterBytes }
      })
      const bound = await server.listen()
      endpoint = { url: bound.url, ws: bound.ws, pid: process.pid, startedAt }
      await writeEndpoint(ctx.dataDir, endpoint)
      for (const name of config.watch) watchConfigured(name)
      ctx.log.info(`developer interface at ${endpoint.url} (token in ${ctx.dataDir}/token)`)
    } catch (err) {
      await cleanup()
      throw err
    }

    const ready = endpoint
    return {
      methods: {
        endpoint: { handler: () => ({ url: ready.url, ws: ready.ws }), description: 'Where the developer interface answers (the token stays in its file)' },
        recent: {
          handler: (p: { name: string, limit?: number }) => activity.recent(p.name, p.limit),
          description: 'A module\'s recent calls and errors',
          params: { type: 'object', properties: { name: { type: 'string' }, limit: { type: 'integer' } }, required: ['name'] }
        }
      },
      stop: cleanup
    }
  }
})
