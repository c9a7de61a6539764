import { resolve } from 'node:path'
import { errorToWire } from '../../sdk/index.ts'
import type { SystemAccess } from '../../sdk/index.ts'

/** The outcome of one reload, as `modules.reload` returns it and the `reloaded` event carries it. */
export interface ReloadOutcome {
  module: string
  ok: boolean
  /** What asked for it: a client, or a change in a watched folder. */
  trigger: 'request' | 'watch'
  at: number
  durationMs: number
  previousVersion: string
  /** The version running afterwards (the previous one after a rollback). */
  version: string
  /** Only when it failed: whether the previous code runs again. */
  rolledBack?: boolean
  error?: { code: string, message: string }
}

/**
 * Reloads modules through the kernel and reports each outcome. The kernel serialises reloads of one module; this
 * adds the outcome record and the event, and resolves folders given by clients.
 */
export class Reloader {
  private readonly system: SystemAccess
  private readonly report: (outcome: ReloadOutcome) => void

  constructor (system: SystemAccess, report: (outcome: ReloadOutcome) => void) {
    this.system = system
    this.report = report
  }

  /** Reloads; resolves with the outcome when the new code runs, rejects (after reporting) when it does not. */
  async reload (name: string, options: { dir?: string, trigger: ReloadOutcome['trigger'], signal?: AbortSignal }): Promise<ReloadOutcome> {
    const previousVersion = this.system.describe(name).version
    const t0 = performance.now()
    const at = Date.now()
    let failure: unknown
    try {
      await this.system.reload(name, options.dir === undefined ? { signal: options.signal } : { source: { dir: resolve(options.dir) }, signal: options.signal })
    } catch (err) {
      failure = err
    }
    const outcome: ReloadOutcome = {
      module: name,
      ok: failure === undefined,
      trigger: options.trigger,
      at,
      durationMs: performance.now() - t0,
      previousVersion,
      version: this.currentVersion(name) ?? previousVersion
    }
    if (failure !== undefined) {
      const wire = errorToWire(failure)
      outcome.error = { code: wire.code, message: wire.message }
      if (typeof wire.data?.rolledBack === 'boolean') outcome.rolledBack = wire.data.rolledBack
    }
    this.report(outcome)
    if (failure !== undefined) throw failure
    return outcome
  }

  private currentVersion (name: string): string | undefined {
    try {
      return this.system.describe(name).version
    } catch {
      return undefined
    }
  }
}
