import { HostUnsupportedError, ModuleStartFailedError } from '../../sdk/index.ts'
import type { Host, KeptCode, LaunchSpec, ModuleInstance, SystemAccess } from '../../sdk/index.ts'
import { CHILD_PROCESS_HOST, DEFAULT_SPARES, DEFAULT_START_TIMEOUT_MS, KILL_WAIT_MS } from './constants.ts'
import { ModuleProcess } from './module-process.ts'
import { resolvePolicy } from './options.ts'
import type { HostPolicy } from './options.ts'
import { Supervisor } from './supervisor.ts'
import type { SupervisedProcess } from './supervisor.ts'

export interface ChildProcessHostInit {
  /** Host options for every module (the user's), applied below each manifest's `hostOptions`. */
  defaults?: Record<string, unknown>
  /** Host options per module name (the user's), applied above its manifest's. */
  modules?: Record<string, Record<string, unknown>>
  /** Idle pre-booted processes to keep (DEFAULT_SPARES). */
  spares?: number
  /** To name a crashed module's dependents in its crash report. */
  system?: Pick<SystemAccess, 'describe'>
  /** Randomness of the backoff jitter (tests pin it). */
  random?: () => number
}

export interface ChildProcessHost extends Host {
  /** Every module this host runs, with its process figures and last crash. */
  processes: () => SupervisedProcess[]
  /** The policy a module runs under here; for one not running here, what the user's settings (and `hostOptions`) give. */
  policyOf: (name: string, hostOptions?: Record<string, unknown>) => HostPolicy
  /** Pids of the idle spare processes. */
  spares: () => number[]
  close: () => Promise<void>
}

/**
 * The child-process host: each module it launches runs in an OS process of its own (runner.ts), supervised. It
 * keeps a small pool of pre-booted spares so that a restart does not wait for Node to boot.
 */
export function childProcessHost (init: ChildProcessHostInit = {}): ChildProcessHost {
  const supervisors = new Map<string, Supervisor>()
  const pool = new SparePool(init.spares ?? DEFAULT_SPARES)
  /** Processes holding a reloaded module's previous code, until the reload is over. */
  const held = new Set<ModuleProcess>()
  let closed = false

  const acquire = async (execArgv: readonly string[], signal: AbortSignal): Promise<ModuleProcess> => {
    if (execArgv.length === 0) {
      const spare = await pool.take(signal)
      if (spare !== undefined) return spare
    }
    const process = new ModuleProcess(execArgv)
    try {
      await process.ready(signal)
    } catch (err) {
      process.kill('SIGKILL')
      throw err
    }
    return process
  }

  const resolve = (name: string, hostOptions?: Record<string, unknown>): HostPolicy =>
    resolvePolicy(name, init.defaults, hostOptions, init.modules?.[name])
  const policyOf = (name: string, hostOptions?: Record<string, unknown>): HostPolicy =>
    hostOptions === undefined ? structuredClone(supervisors.get(name)?.policy ?? resolve(name)) : resolve(name, hostOptions)

  /**
   * A reload stopped a module and its process kept the code (see Supervisor.stopAndKeep): the kernel relaunches it there
   * if the new code fails (a rollback), or releases it (the process ends) once the new code runs.
   */
  const keep = (process: ModuleProcess): KeptCode => {
    held.add(process)
    let done = false
    return {
      relaunch: async (spec) => {
        if (done || !held.delete(process)) throw new ModuleStartFailedError(spec.manifest.name, { cause: new Error('its kept code is gone') })
        done = true
        return await launch(spec, process)
      },
      release: async () => {
        if (done) return
        done = true
        held.delete(process)
        process.kill('SIGKILL')
        await process.finished
      }
    }
  }

  const launch = async (spec: LaunchSpec, heldProcess?: ModuleProcess): Promise<ModuleInstance> => {
    const name = spec.manifest.name
    if (closed) {
      heldProcess?.kill('SIGKILL')
      throw new ModuleStartFailedError(name, { cause: new Error('the child-process host is closed') })
    }
    if (spec.entryPath === undefined) throw new HostUnsupportedError(CHILD_PROCESS_HOST, name, 'a module defined in code has no entry file another process could load')
    const policy = resolve(name, spec.manifest.hostOptions)
    const supervisor: Supervisor = new Supervisor({
      spec,
      policy,
      acquire,
      keep,
      held: heldProcess,
      launched: () => { if (!closed) pool.refill() },
      dependents: () => {
        try {
          return init.system?.describe(name).dependents ?? []
        } catch {
          return []
        }
      },
      ended: (s) => { if (supervisors.get(name) === s) supervisors.delete(name) },
      random: init.random
    })
    supervisors.set(name, supervisor)
    try {
      return await supervisor.launch(spec.signal)
    } catch (err) {
      if (supervisors.get(name) === supervisor) supervisors.delete(name)
      throw err
    }
  }

  return {
    name: CHILD_PROCESS_HOST,
    launch: async (spec: LaunchSpec): Promise<ModuleInstance> => await launch(spec),
    processes: () => [...supervisors.values()].map(s => s.summary()).sort((a, b) => a.name.localeCompare(b.name)),
    policyOf,
    spares: () => pool.pids(),
    async close (): Promise<void> {
      closed = true
      pool.close()
      for (const process of held) process.kill('SIGKILL')
      held.clear()
      // Normally the kernel has stopped every module first; whatever still runs goes now, within a bounded time.
      await Promise.all([...supervisors.values()].map(async (s) => {
        await s.stop(AbortSignal.timeout(s.policy.stopGraceMs + s.policy.killGraceMs + KILL_WAIT_MS)).catch(() => {})
      }))
      supervisors.clear()
    }
  }
}

/** Idle processes booted in advance; they never keep the node alive and die with it like any module process. */
class SparePool {
  private readonly size: number
  private ready: ModuleProcess[] = []
  private booting = 0
  private closed = false
  /** Restarts waiting for a spare that is booting. */
  private waiting: Array<(spare: ModuleProcess | undefined) => void> = []

  constructor (size: number) {
    this.size = size
  }

  /**
   * A ready spare; else, when one is booting, that one as soon as it is ready (it is further along than a process
   * booted now, which would also take CPU from it: a crash soon after a restart would otherwise pay two boots at once);
   * else undefined.
   */
  async take (signal: AbortSignal): Promise<ModuleProcess | undefined> {
    while (this.ready.length > 0) {
      const spare = this.ready.shift() as ModuleProcess
      if (usable(spare)) return spare
    }
    if (this.closed || this.booting <= this.waiting.length || signal.aborted) return undefined
    return await new Promise((resolve) => {
      const onAbort = (): void => { settle(undefined) }
      const settle = (spare: ModuleProcess | undefined): void => {
        signal.removeEventListener('abort', onAbort)
        this.waiting = this.waiting.filter(w => w !== settle)
        resolve(spare)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(settle)
    })
  }

  refill (): void {
    while (!this.closed && this.ready.length + this.booting < this.size) {
      this.booting++
      let spare: ModuleProcess
      try {
        spare = new ModuleProcess()
      } catch {
        this.booting--
        return
      }
      spare.setRef(false)
      spare.ready(AbortSignal.timeout(DEFAULT_START_TIMEOUT_MS)).then(() => {
        this.booting--
        const waiter = this.waiting[0]
        if (this.closed) spare.kill('SIGKILL')
        else if (waiter !== undefined && usable(spare)) waiter(spare)
        else this.ready.push(spare)
      }, () => {
        this.booting--
        spare.kill('SIGKILL')
        // The one waiting for it boots a process of its own.
        this.waiting[0]?.(undefined)
      })
    }
  }

  pids (): number[] {
    return this.ready.filter(p => p.alive).map(p => p.pid)
  }

  close (): void {
    this.closed = true
    for (const spare of this.ready) spare.kill('SIGKILL')
    this.ready = []
    for (const waiter of [...this.waiting]) waiter(undefined)
  }
}

function usable (spare: ModuleProcess): boolean {
  return spare.alive && !spare.channel.isClosed
}
