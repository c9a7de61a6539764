import { ModuleStartFailedError, combineSignals, delay, errorFromWire, errorToWire } from '../../sdk/index.ts'
import type { KeptCode, LaunchSpec, ModuleInstance, ProcessInfo } from '../../sdk/index.ts'
import { RestartWindow, backoffDelay } from './backoff.ts'
import { PmNotRestartedError, PmRestartIntensityError } from './errors.ts'
import { Generation } from './generation.ts'
import type { CrashDetail } from './generation.ts'
import type { ModuleProcess } from './module-process.ts'
import type { HostPolicy } from './options.ts'
import type { InitMessage } from './protocol.ts'

export type SupervisorState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'down'

export interface SupervisorInit {
  spec: LaunchSpec
  policy: HostPolicy
  /** A process ready for INIT: a spare when one fits, else a new one. */
  acquire: (execArgv: readonly string[], signal: AbortSignal) => Promise<ModuleProcess>
  /** After a process is serving (or failed to): the host may boot a new spare now without slowing this start. */
  launched: () => void
  /** The modules that depend on this one, named in crash reports. */
  dependents: () => string[]
  /** The supervisor is done (stopped, or left the module down). */
  ended: (supervisor: Supervisor) => void
  /** A process whose module stopped for a reload with its code kept: made into what the kernel may relaunch. */
  keep: (process: ModuleProcess) => KeptCode
  /** A held process (see Generation.stop) to start the module in, once, with the code it holds (a rollback). */
  held?: ModuleProcess
  random?: () => number
}

/** A summary of one supervised module, for the process manager's `processes` method. */
export interface SupervisedProcess {
  name: string
  state: SupervisorState
  pid: number
  restart: HostPolicy['restart']
  restarts: number
  startedAt: number
  cpuPercent?: number
  rssBytes?: number
  memoryLimitBytes?: number
  /** Calls in flight to its process, cancelled ones whose handler has not answered yet (within the grace) included. */
  inFlight: number
  /** When its process last answered a heartbeat (ms since the epoch). */
  heartbeatAt?: number
  lastCrash?: CrashDetail & { at: number }
}

/**
 * Keeps one module running in processes of its own: launches it, and after a crash reports it, waits the backoff,
 * starts a new process, and hands the kernel the new instance; or leaves the module down when its policy or the
 * restart intensity says so.
 */
export class Supervisor {
  readonly name: string
  readonly policy: HostPolicy
  state: SupervisorState = 'starting'
  generation: Generation | undefined
  restarts = 0
  lastCrash: (CrashDetail & { at: number }) | undefined
  private readonly init: SupervisorInit
  private readonly window: RestartWindow
  private consecutive = 0
  private readonly halt = new AbortController()
  private recovery: Promise<void> | undefined

  constructor (init: SupervisorInit) {
    this.init = init
    this.name = init.spec.manifest.name
    this.policy = init.policy
    this.window = new RestartWindow(init.policy.intensity.maxRestarts, init.policy.intensity.withinMs)
  }

  /** The first start; rejects (and leaves nothing running) when the module cannot start. */
  async launch (signal: AbortSignal): Promise<ModuleInstance> {
    const generation = await this.startGeneration(combineSignals([signal, this.halt.signal]))
    if (this.state !== 'starting') throw new ModuleStartFailedError(this.name, { cause: new Error('its host closed during the start') })
    this.state = 'running'
    return this.instance(generation)
  }

  /** Stops the module for good: cancels a pending restart, then stops its process gracefully (see Generation.stop). */
  async stop (signal: AbortSignal): Promise<void> {
    await this.end(signal, false)
  }

  /**
   * Stops the module for a reload: as `stop`, but a module that stops cleanly keeps its code loaded in its process, so
   * that the kernel can start it again if the new code fails (undefined when it could not be kept).
   */
  async stopAndKeep (signal: AbortSignal): Promise<KeptCode | undefined> {
    return await this.end(signal, true)
  }

  private async end (signal: AbortSignal, keep: boolean): Promise<KeptCode | undefined> {
    if (this.state === 'stopped' || this.state === 'down') return undefined
    this.state = 'stopping'
    this.halt.abort()
    await this.recovery
    const generation = this.generation
    let stopError: Error | undefined
    let kept: KeptCode | undefined
    if (generation !== undefined && generation.process.alive) {
      const { escalated } = await generation.stop(signal, keep)
      if (generation.held) kept = this.init.keep(generation.process)
      if (escalated !== 'none' || generation.stopTimedOut) {
        const what = escalated === 'none' ? 'its stop hook was cut short' : `${escalated} sent`
        this.init.spec.port.log({ at: Date.now(), module: this.name, level: 'warn', message: `its stop took longer than ${this.policy.stopGraceMs} ms: ${what}`, fields: { pid: generation.pid, escalated } })
      }
      if (generation.stopError !== undefined) stopError = errorFromWire(generation.stopError)
    }
    this.state = 'stopped'
    this.init.ended(this)
    if (stopError !== undefined) throw stopError
    return kept
  }

  info (): ProcessInfo {
    const g = this.generation
    const info: ProcessInfo = { pid: g?.pid ?? -1, restarts: this.restarts, startedAt: g?.startedAt ?? 0 }
    if (g?.cpuPercent !== undefined) info.cpuPercent = Math.round(g.cpuPercent * 10) / 10
    if (g?.rssBytes !== undefined) info.rssBytes = g.rssBytes
    return info
  }

  summary (): SupervisedProcess {
    const info = this.info()
    const out: SupervisedProcess = { name: this.name, state: this.state, pid: info.pid, restart: this.policy.restart, restarts: this.restarts, startedAt: info.startedAt, inFlight: this.generation?.inFlight ?? 0 }
    if (info.cpuPercent !== undefined) out.cpuPercent = info.cpuPercent
    if (info.rssBytes !== undefined) out.rssBytes = info.rssBytes
    if (this.policy.memoryLimitBytes > 0) out.memoryLimitBytes = this.policy.memoryLimitBytes
    if (this.generation?.heartbeatAt !== undefined) out.heartbeatAt = this.generation.heartbeatAt
    if (this.lastCrash !== undefined) out.lastCrash = this.lastCrash
    return out
  }

  private instance (generation: Generation): ModuleInstance {
    return {
      methods: generation.methods,
      events: generation.events,
      info: () => this.info(),
      stop: async ({ signal }) => { await this.stop(signal) },
      stopAndKeep: async ({ signal }) => await this.stopAndKeep(signal)
    }
  }

  private async startGeneration (signal: AbortSignal): Promise<Generation> {
    const { spec } = this.init
    // A rollback's first process is the held one, which starts the code it kept; every later one reads the folder.
    const held = this.init.held
    this.init.held = undefined
    let process: ModuleProcess
    try {
      process = held ?? await this.init.acquire(this.policy.execArgv, signal)
    } catch (err) {
      this.init.launched()
      throw err instanceof ModuleStartFailedError ? err : new ModuleStartFailedError(this.name, { cause: err })
    }
    process.setRef(true)
    const generation = new Generation({
      name: this.name,
      process,
      port: spec.port,
      policy: this.policy,
      onDown: (g) => { this.onDown(g) }
    })
    this.generation = generation
    const init: InitMessage = {
      manifest: { ...spec.manifest },
      entryPath: spec.entryPath as string,
      dataDir: spec.dataDir,
      config: spec.config,
      logLevel: spec.port.logLevel(this.name)
    }
    if (held !== undefined) init.reuse = true
    try {
      await generation.start(init, signal)
    } catch (err) {
      generation.process.kill('SIGKILL')
      await generation.process.finished
      throw err
    } finally {
      this.init.launched()
    }
    return generation
  }

  private onDown (generation: Generation): void {
    if (generation !== this.generation || this.state !== 'running') return
    this.state = 'restarting'
    this.recovery = this.recover(generation)
  }

  private async recover (crashed: Generation): Promise<void> {
    const { reporter } = this.init.spec
    // Wait (briefly) for the exit status and the last stderr lines, so the report says what happened.
    await crashed.process.finished
    if (this.state !== 'restarting') return
    const detail = { ...crashed.crashDetail(), dependents: this.init.dependents() }
    this.lastCrash = { ...detail, at: Date.now() }
    const normalExit = detail.reason === 'exit' && detail.exitCode === 0
    if (normalExit && this.policy.restart !== 'permanent') {
      // It finished its work: a clean end, not a failure.
      this.state = 'down'
      reporter.exited({ ...detail, restarts: this.restarts })
      this.init.ended(this)
      return
    }
    if (this.policy.restart === 'temporary') {
      reporter.crashed(detail)
      this.giveUp(new PmNotRestartedError(this.name, this.policy.restart, describe(detail)), detail)
      return
    }
    reporter.crashed(detail)
    // A process that served long enough was healthy: the backoff starts over.
    if (detail.uptimeMs >= this.policy.resetAfterMs) this.consecutive = 0
    while (this.state === 'restarting') {
      if (!this.window.admit(Date.now())) {
        this.giveUp(new PmRestartIntensityError(this.name, this.window.count(Date.now()), this.policy.intensity.withinMs, { cause: new Error(describe(detail)) }), detail)
        return
      }
      const attempt = ++this.consecutive
      const delayMs = Math.round(backoffDelay(attempt - 1, this.policy.backoff, this.init.random))
      reporter.restarting({ attempt, delayMs, restarts: this.restarts, policy: this.policy.restart })
      try {
        await delay(delayMs, { signal: this.halt.signal })
      } catch {
        return
      }
      const t0 = Date.now()
      try {
        const generation = await this.startGeneration(combineSignals([this.halt.signal], this.policy.startTimeoutMs))
        if (this.state !== 'restarting') return // stopped meanwhile: stop() stops this generation
        this.restarts++
        this.state = 'running'
        reporter.restarted(this.instance(generation), { pid: generation.pid, attempt, startMs: Date.now() - t0, restarts: this.restarts })
        return
      } catch (err) {
        if (this.state !== 'restarting') return
        const failed = this.generation
        reporter.crashed({
          pid: failed?.pid ?? -1,
          reason: 'start-failed',
          error: errorToWire(err),
          stderrTail: failed?.process.stderrTail() ?? [],
          dependents: this.init.dependents()
        })
      }
    }
  }

  private giveUp (cause: Error, detail: Record<string, unknown>): void {
    this.state = 'down'
    this.init.spec.reporter.gaveUp(cause, { ...detail, restarts: this.restarts })
    this.init.ended(this)
  }
}

function describe (detail: CrashDetail): string {
  switch (detail.reason) {
    case 'exit': return `exit code ${String(detail.exitCode)}`
    case 'signal': return `killed by ${String(detail.signal)}`
    case 'uncaught-exception': return `uncaught exception${detail.error === undefined ? '' : `: ${detail.error.message}`}`
    case 'hung': return 'no answer to heartbeats'
    case 'memory-limit': return 'over its memory ceiling'
    case 'channel-lost': return 'its channel was lost'
    case 'protocol-error': return 'it broke the wire protocol'
  }
}
