import { raceSignal } from '../common/index.ts'
import { ModuleStartFailedError } from './errors.ts'
import { checkDefinitionAgrees, importDefinition } from './loader.ts'
import { createModuleContext, methodEntries } from './module-context.ts'
import type { Host, LaunchSpec, ModuleDefinition, ModuleInstance, ProcessInfo } from './types.ts'

export const IN_PROCESS_HOST = 'in-process'

/** How long the stop of a start that finished too late may take. */
const LATE_START_STOP_MS = 5_000

/** Runs modules in the kernel's own process: calls are plain function calls. */
export function inProcessHost (): Host {
  return {
    name: IN_PROCESS_HOST,
    async launch (spec: LaunchSpec): Promise<ModuleInstance> {
      const definition = await resolveDefinition(spec)
      const { ctx, dispose } = createModuleContext({
        manifest: spec.manifest,
        dataDir: spec.dataDir,
        config: spec.config,
        port: spec.port,
        system: spec.system
      })
      let runtime
      const starting = Promise.resolve().then(async () => await definition.start(ctx))
      try {
        runtime = await raceSignal(starting, spec.signal)
      } catch (err) {
        dispose()
        // A start given up on (timeout, shutdown) may still finish later: stop what it made, so nothing lingers.
        starting.then(async (late) => { await late?.stop?.({ signal: AbortSignal.timeout(LATE_START_STOP_MS) }) }).catch(() => {})
        throw new ModuleStartFailedError(spec.manifest.name, { cause: err })
      }
      const methods = methodEntries(runtime ?? {})
      const events = Object.entries(definition.events ?? {}).map(([name, e]) => e.description === undefined ? { name } : { name, description: e.description })
      const startedAt = Date.now()
      const info: ProcessInfo = { pid: process.pid, restarts: 0, startedAt }
      return {
        methods,
        definition,
        events,
        info: () => info,
        async stop ({ signal }) {
          try {
            if (runtime?.stop !== undefined) await raceSignal(Promise.resolve(runtime.stop({ signal })), signal)
          } finally {
            dispose()
          }
        }
      }
    }
  }
}

async function resolveDefinition (spec: LaunchSpec): Promise<ModuleDefinition> {
  if (spec.definition !== undefined) return spec.definition
  if (spec.entryPath === undefined) throw new ModuleStartFailedError(spec.manifest.name, { cause: new Error('neither a definition nor an entry file') })
  const definition = await importDefinition(spec.entryPath, spec.manifest, { fresh: true })
  checkDefinitionAgrees(definition, spec.manifest, spec.entryPath)
  return definition
}
