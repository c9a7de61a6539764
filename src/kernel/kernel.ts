import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { combineSignals, errorToWire, raceSignal, toLogosError } from '../common/index.ts'
import {
  DEADLINE_TICK_MS, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_CALL_WAIT_MS, DEFAULT_MAX_CALL_DEPTH, DEFAULT_MAX_WAITING_CALLS,
  DEFAULT_START_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS, DIRECTORY_MODULE, EXTERNAL_CALLER, KERNEL_VERSION
} from './constants.ts'
import { directDependents, startOrder, stopOrder } from './dependency-graph.ts'
import {
  CallAbortedError, CallDepthExceededError, CallTimeoutError, DependencyFailedError, HasDependentsError,
  HostNotFoundError, HostUnsupportedError, KernelStoppedError, MethodNotFoundError, ModuleAlreadyLoadedError,
  ModuleNotFoundError, ModuleNotRunningError, ModuleProtectedError, ModuleStartFailedError, ModuleStopFailedError,
  NotPrivilegedError, QueueFullError, ReloadFailedError
} from './errors.ts'
import { IN_PROCESS_HOST, inProcessHost } from './in-process-host.ts'
import { UNLOADABLE_STATES, WAITING_STATES, assertTransition } from './lifecycle.ts'
import { checkDefinitionAgrees, manifestFromDefinition, readModuleFolder } from './loader.ts'
import { LogHub } from './log-hub.ts'
import { TraceBus } from './trace-bus.ts'
import type {
  CallContext, CallMeta, CallOptions, DirectoryEntry, EventHandler, EventMeta, Host, InstanceReporter, KeptCode,
  KernelPort, LaunchSpec, LoadOptions, LogEntry, LogLevel, MethodEntry, ModuleDefinition, ModuleInstance, ModuleManifest, ModuleSource,
  ModuleState, StopOptions, SupervisionTrace, SystemAccess, TraceFilter, TraceListener
} from './types.ts'

export interface KernelOptions {
  /** The node's data directory; each module gets `modules/<name>/` inside it. */
  dataDir: string
  maxCallDepth?: number
  /** Deadline of a call that names none; 0 turns default deadlines off. */
  defaultCallTimeoutMs?: number
  callWaitMs?: number
  maxWaitingCalls?: number
  startTimeoutMs?: number
  stopTimeoutMs?: number
  /** Configuration per module name, handed to the module as `ctx.config`. */
  config?: Record<string, Record<string, unknown>>
  logLevel?: LogLevel
}

export interface StartResult {
  name: string
  state: ModuleState
  error?: Error
}

interface Waiter {
  ready: () => void
  fail: (err: Error) => void
}

interface Subscription {
  subscriber: string
  source: string
  event: string
  handler: EventHandler
}

const NO_METHODS: ReadonlyMap<string, MethodEntry> = new Map()

/** Call records between two readings of the wall clock (see Kernel.wallClockMs). */
const CLOCK_RESYNC_RECORDS = 1024

/** One loaded module, whatever its state. */
class ModuleRecord {
  manifest: ModuleManifest
  source: string
  entryPath: string | undefined
  definition: ModuleDefinition | undefined
  hostName: string
  config: Record<string, unknown>
  trusted: boolean
  state: ModuleState = 'resolved'
  cause: Error | undefined
  instance: ModuleInstance | undefined
  methods: ReadonlyMap<string, MethodEntry> = NO_METHODS
  startedAt: number | undefined
  restarts = 0
  inFlight = 0
  onDrained: (() => void) | undefined
  waiters: Waiter[] = []
  starting: Promise<void> | undefined
  reloading: Promise<void> | undefined

  constructor (init: Pick<ModuleRecord, 'manifest' | 'source' | 'entryPath' | 'definition' | 'hostName' | 'config' | 'trusted'>) {
    this.manifest = init.manifest
    this.source = init.source
    this.entryPath = init.entryPath
    this.definition = init.definition
    this.hostName = init.hostName
    this.config = init.config
    this.trusted = init.trusted
  }
}

/**
 * The per-call context a handler receives; `call` links child calls to this one. Its `signal` is made on first use
 * (most handlers never look at it): it fires when the caller aborts, when the parent call is cancelled, or when the
 * kernel gives up on this call (deadline), so the handler and every call it made can stop working.
 */
class KernelCallContext implements CallContext, CallMeta {
  readonly id: number
  readonly parentId: number | undefined
  readonly depth: number
  readonly caller: string
  private readonly kernel: Kernel
  private readonly callee: string
  /** The caller's signal and the parent call's, when there are any. */
  private readonly upstream: AbortSignal | undefined
  private controller: AbortController | undefined
  private onUpstreamAbort: (() => void) | undefined
  /** The call's deadline in ms (0: none), made absolute on first use, during the dispatch, so reading it costs nothing otherwise. */
  private readonly timeoutMs: number
  private absoluteDeadline: number | undefined

  constructor (kernel: Kernel, id: number, parentId: number | undefined, depth: number, caller: string, callee: string, upstream: AbortSignal | undefined, timeoutMs: number) {
    this.kernel = kernel
    this.id = id
    this.parentId = parentId
    this.depth = depth
    this.caller = caller
    this.callee = callee
    this.upstream = upstream
    this.timeoutMs = timeoutMs
  }

  /**
   * Absolute deadline (ms since the epoch), or undefined for a call without one. Fixed when first read: by the handler
   * (during the dispatch, for a synchronous one) or by the kernel as soon as the handler returned a promise.
   */
  get deadline (): number | undefined {
    if (this.timeoutMs <= 0) return undefined
    this.absoluteDeadline ??= Date.now() + this.timeoutMs
    return this.absoluteDeadline
  }

  get signal (): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController()
      this.controller = controller
      const upstream = this.upstream
      if (upstream !== undefined) {
        if (upstream.aborted) {
          controller.abort(upstream.reason)
        } else {
          this.onUpstreamAbort = () => { controller.abort(upstream.reason) }
          upstream.addEventListener('abort', this.onUpstreamAbort, { once: true })
        }
      }
    }
    return this.controller.signal
  }

  /** The kernel stopped waiting for this call: tell the handler, if it listens. */
  cancel (reason: Error): void {
    this.controller?.abort(reason)
  }

  /** The handler finished: drop the link to the upstream signal so long-lived signals do not collect listeners. */
  release (): void {
    if (this.onUpstreamAbort !== undefined) this.upstream?.removeEventListener('abort', this.onUpstreamAbort)
    this.onUpstreamAbort = undefined
  }

  // Not async: dispatch never throws (it returns rejected promises), and an async wrapper costs a promise per call.
  call<R = unknown> (target: string, method: string, params?: unknown, options?: CallOptions): Promise<R> {
    return this.kernel.dispatch(this.callee, this, target, method, params, options) as Promise<R>
  }
}

/**
 * A call in flight. `answered` once its caller has the result (or a timeout or abort error); `finished` once the
 * handler itself has returned, which is what drain waits for: a call the caller gave up on still occupies the module.
 */
class PendingCall {
  answered = false
  finished = false
  readonly deadline: number
  readonly rec: ModuleRecord
  readonly ctx: KernelCallContext
  readonly method: string
  readonly timeoutMs: number
  readonly startNs: bigint
  readonly resolve: (value: unknown) => void
  readonly reject: (err: unknown) => void
  readonly callerSignal: AbortSignal | undefined
  onAbort: (() => void) | undefined

  constructor (rec: ModuleRecord, ctx: KernelCallContext, method: string, timeoutMs: number, startNs: bigint,
    callerSignal: AbortSignal | undefined, resolve: (value: unknown) => void, reject: (err: unknown) => void) {
    this.rec = rec
    this.ctx = ctx
    this.method = method
    this.timeoutMs = timeoutMs
    this.deadline = ctx.deadline ?? Infinity
    this.startNs = startNs
    this.callerSignal = callerSignal
    this.resolve = resolve
    this.reject = reject
  }
}

/**
 * The microkernel: loads and unloads modules, drives each one's lifecycle, keeps the directory, and routes calls and
 * events between modules. It knows nothing of processes, networks or packages; hosts run modules somewhere.
 */
export class Kernel implements KernelPort {
  readonly dataDir: string
  readonly trace = new TraceBus()
  readonly logs: LogHub
  private readonly modules = new Map<string, ModuleRecord>()
  private readonly hostsByName = new Map<string, Host>()
  private readonly subscriptions = new Map<string, Subscription[]>()
  private readonly subscriptionsBySubscriber = new Map<string, Set<Subscription>>()
  private readonly pending = new Set<PendingCall>()
  private ticker: ReturnType<typeof setInterval> | undefined
  private nextCallId = 0
  private clockOffsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6
  private clockReads = 0
  private shuttingDown = false
  /** Aborted when shutdown begins: starts still in progress give up at once. */
  private readonly lifetime = new AbortController()
  private readonly maxCallDepth: number
  private readonly defaultCallTimeoutMs: number
  private readonly callWaitMs: number
  private readonly maxWaitingCalls: number
  private readonly startTimeoutMs: number
  private readonly stopTimeoutMs: number
  private readonly moduleConfig: Record<string, Record<string, unknown>>
  readonly system: SystemAccess

  constructor (options: KernelOptions) {
    this.dataDir = resolve(options.dataDir)
    this.maxCallDepth = options.maxCallDepth ?? DEFAULT_MAX_CALL_DEPTH
    this.defaultCallTimeoutMs = options.defaultCallTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS
    this.callWaitMs = options.callWaitMs ?? DEFAULT_CALL_WAIT_MS
    this.maxWaitingCalls = options.maxWaitingCalls ?? DEFAULT_MAX_WAITING_CALLS
    this.startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS
    this.stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS
    this.moduleConfig = options.config ?? {}
    this.logs = new LogHub(options.logLevel ?? 'info')
    this.registerHost(inProcessHost())
    this.system = this.makeSystemAccess()
    this.installDirectory()
  }

  // ---- hosts --------------------------------------------------------------------------------------------------------

  registerHost (host: Host): () => void {
    if (this.hostsByName.has(host.name)) throw new HostUnsupportedError(host.name, '*', 'a host with this name is already registered')
    this.hostsByName.set(host.name, host)
    return () => {
      if (this.hostsByName.get(host.name) === host) this.hostsByName.delete(host.name)
    }
  }

  hosts (): string[] {
    return [...this.hostsByName.keys()].sort()
  }

  // ---- loading ------------------------------------------------------------------------------------------------------

  /** Loads a module from a folder with a module.json, or from a definition in code. It is `resolved`, not started. */
  async load (source: ModuleSource, options: LoadOptions = {}): Promise<DirectoryEntry> {
    this.assertOpen()
    const parsed = await this.parseSource(source)
    const { manifest } = parsed
    if (this.modules.has(manifest.name)) throw new ModuleAlreadyLoadedError(manifest.name, (this.modules.get(manifest.name) as ModuleRecord).manifest.version)
    if (manifest.privileged === true && options.trusted !== true) throw new NotPrivilegedError(manifest.name, 'be loaded from an untrusted source')
    const rec = new ModuleRecord({
      ...parsed,
      hostName: options.host ?? manifest.host ?? IN_PROCESS_HOST,
      config: { ...(this.moduleConfig[manifest.name] ?? {}), ...(options.config ?? {}) },
      trusted: options.trusted === true
    })
    this.modules.set(manifest.name, rec)
    this.publishLifecycle(manifest.name, 'unloaded', 'resolved')
    this.emit(DIRECTORY_MODULE, 'module:loaded', { name: manifest.name, version: manifest.version })
    return this.describe(manifest.name)
  }

  /** Unloads a module (stopping it first). Refused while others depend on it, unless `cascade` unloads them too. */
  async unload (name: string, options: StopOptions = {}): Promise<void> {
    this.record(name)
    this.assertNotProtected(name, 'be unloaded')
    const dependents = stopOrder(name, this.manifests()).slice(0, -1)
    if (dependents.length > 0 && options.cascade !== true) throw new HasDependentsError(name, dependents, 'unload')
    await this.stop(name, { ...options, cascade: true })
    for (const n of [...dependents, name]) {
      const r = this.modules.get(n)
      if (r === undefined) continue
      if (!UNLOADABLE_STATES.has(r.state)) await this.stopOne(r, options.signal)
      this.modules.delete(n)
      this.dropSubscriptions(n)
      this.logs.forget(n)
      this.publishLifecycle(n, r.state, 'unloaded')
      this.emit(DIRECTORY_MODULE, 'module:unloaded', { name: n })
    }
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------------------

  /** Starts a module, its dependencies first (in topological order). Resolves once it runs. */
  async start (name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.assertOpen()
    const rec = this.record(name)
    if (rec.state === 'running') return
    if (rec.starting !== undefined) return await rec.starting
    const starting = this.startWithDependencies(rec, options.signal)
    rec.starting = starting
    try {
      await starting
    } finally {
      rec.starting = undefined
    }
  }

  /**
   * Starts every loaded module; one that fails ends `failed` and the others go on. Privileged (system) modules start
   * first: they may register the hosts the others run on.
   */
  async startAll (options: { signal?: AbortSignal } = {}): Promise<StartResult[]> {
    const results: StartResult[] = []
    for (const name of this.systemModulesFirst()) {
      try {
        await this.start(name, options)
        results.push({ name, state: this.record(name).state })
      } catch (err) {
        results.push({ name, state: this.modules.get(name)?.state ?? 'failed', error: err as Error })
      }
    }
    return results
  }

  /** Stops a module. Refused while running modules depend on it, unless `cascade` stops them first. */
  async stop (name: string, options: StopOptions = {}): Promise<void> {
    const rec = this.record(name)
    this.assertNotProtected(name, 'be stopped')
    const active = stopOrder(name, this.manifests()).slice(0, -1).filter(n => isActive(this.record(n).state))
    if (active.length > 0 && options.cascade !== true) throw new HasDependentsError(name, active, 'stop')
    for (const n of active) await this.stopOne(this.record(n), options.signal)
    await this.stopOne(rec, options.signal)
  }

  /**
   * Replaces a module's code while every other module keeps running: calls wait while it swaps. When the new code
   * fails to start, the previous code runs again (still in `reloading`, so waiting calls go to it rather than fail), a
   * `rolled-back` supervision record says so, and a ReloadFailedError is thrown. Reloads of one module run one at a time.
   */
  async reload (name: string, options: { source?: ModuleSource, signal?: AbortSignal } = {}): Promise<void> {
    const rec = this.record(name)
    this.assertNotProtected(name, 'be reloaded')
    const before = rec.reloading
    const current = (async () => {
      if (before !== undefined) await before.catch(() => {})
      if (this.modules.get(name) !== rec) throw new ModuleNotFoundError(name)
      await this.reloadNow(rec, options)
    })()
    rec.reloading = current
    try {
      await current
    } finally {
      if (rec.reloading === current) rec.reloading = undefined
    }
  }

  private async reloadNow (rec: ModuleRecord, options: { source?: ModuleSource, signal?: AbortSignal }): Promise<void> {
    const name = rec.manifest.name
    const previous = { manifest: rec.manifest, entryPath: rec.entryPath, definition: rec.definition, source: rec.source }
    const next = options.source !== undefined
      ? await this.parseSource(options.source)
      : rec.entryPath !== undefined ? await this.parseSource({ dir: rec.source }) : previous
    if (next.manifest.name !== name) throw new ModuleStartFailedError(name, { cause: new Error(`the new code is module "${next.manifest.name}"`) })
    // The new version must still fit its dependents and its own dependencies, before anything is stopped.
    const manifests = new Map(this.manifests())
    manifests.set(name, next.manifest)
    startOrder(name, manifests)
    for (const dependent of stopOrder(name, manifests).slice(0, -1)) startOrder(dependent, manifests)

    const wasRunning = rec.state === 'running'
    // The code that runs now, kept in memory: for a module from a folder, the files on disk already hold the new code.
    // In the kernel's process that is the instance's definition; a host that runs it elsewhere keeps it there (kept).
    const running = rec.definition ?? rec.instance?.definition
    let kept: KeptCode | undefined
    if (wasRunning) {
      this.setState(rec, 'reloading')
      await this.drain(rec)
      try {
        kept = await this.stopInstance(rec, undefined, running === undefined)
      } catch (err) {
        // The old code's stop hook failed: its instance is gone all the same, so the new code goes in (and a failure
        // of that rolls back as usual); the module never stays in `reloading`.
        this.logs.write({ at: Date.now(), module: name, level: 'warn', message: 'the old code failed to stop cleanly during a reload', fields: { error: (err as Error).message } })
      }
    }
    Object.assign(rec, next)
    let failure: unknown
    try {
      if (wasRunning) await this.launch(rec, options.signal, true)
      else await this.start(name, options)
      await this.release(kept)
      return
    } catch (err) {
      failure = err
    }
    Object.assign(rec, previous)
    this.logs.write({ at: Date.now(), module: name, level: 'error', message: 'reload failed; rolling back', fields: { error: (failure as Error).message } })
    let rolledBack = false
    if (wasRunning) {
      rec.definition = running ?? previous.definition
      try {
        await this.launch(rec, options.signal, true, kept)
        rolledBack = true
      } catch (err) {
        this.fail(rec, err as Error)
      } finally {
        rec.definition = previous.definition
        await this.release(kept)
      }
    }
    this.publishSupervision(name, 'rolled-back', {
      error: errorToWire(failure), rolledBack, version: previous.manifest.version, rejectedVersion: next.manifest.version
    })
    throw new ReloadFailedError(name, rolledBack, { cause: failure })
  }

  /** Lets the host drop code it kept for a rollback; its failure changes nothing for the module. */
  private async release (kept: KeptCode | undefined): Promise<void> {
    try {
      await kept?.release()
    } catch {
      // The host reports its own trouble; the reload's outcome stands.
    }
  }

  /** Stops every module, dependents before their dependencies, then closes the hosts. */
  async shutdown (options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.shuttingDown) return
    this.shuttingDown = true
    this.lifetime.abort(new KernelStoppedError())
    const order: string[] = []
    const seen = new Set<string>()
    // System modules stop last: the modules on the hosts they provide go first.
    const names = this.systemModulesFirst()
    const system = names.filter(n => this.modules.get(n)?.manifest.privileged === true)
    for (const name of [...names.slice(system.length), ...system]) {
      for (const n of stopOrder(name, this.manifests())) {
        if (!seen.has(n)) {
          seen.add(n)
          order.push(n)
        }
      }
    }
    for (const name of order) {
      if (name === DIRECTORY_MODULE) continue
      const rec = this.modules.get(name)
      if (rec === undefined) continue
      try {
        await this.stopOne(rec, options.signal)
      } catch {
        // Shutting down goes on; the failure is on the trace stream and in the module's state.
      }
    }
    for (const host of this.hostsByName.values()) {
      try {
        await host.close?.()
      } catch {
        // as above
      }
    }
    if (this.ticker !== undefined) clearInterval(this.ticker)
    this.ticker = undefined
  }

  // ---- calls --------------------------------------------------------------------------------------------------------

  /** A call from outside any module (tests, CLI, developer interface). */
  // Not async: dispatch never throws (it returns rejected promises), and an async wrapper costs a promise per call.
  call<R = unknown> (target: string, method: string, params?: unknown, options?: CallOptions): Promise<R> {
    return this.dispatch(EXTERNAL_CALLER, undefined, target, method, params, options) as Promise<R>
  }

  /** KernelPort: a call made by a module (in this process or another). */
  dispatch (caller: string, parent: CallMeta | undefined, target: string, method: string, params: unknown, options?: CallOptions): Promise<unknown> {
    const rec = this.modules.get(target)
    if (rec === undefined) return Promise.reject(new ModuleNotFoundError(target))
    const signal = options?.signal
    if (signal?.aborted === true) return Promise.reject(new CallAbortedError(target, method, { cause: signal.reason }))
    if (rec.state !== 'running') return this.dispatchWhenReady(rec, caller, parent, method, params, options)
    const entry = rec.methods.get(method)
    if (entry === undefined) return Promise.reject(new MethodNotFoundError(target, method, [...rec.methods.keys()]))
    const depth = parent === undefined ? 0 : parent.depth + 1
    if (depth > this.maxCallDepth) return Promise.reject(new CallDepthExceededError(target, method, this.maxCallDepth))
    // A child call is cancelled with its parent: the parent's signal joins the caller's.
    const parentSignal = parent instanceof KernelCallContext ? parent.signal : undefined
    const upstream = parentSignal === undefined ? signal : signal === undefined ? parentSignal : AbortSignal.any([signal, parentSignal])
    if (parentSignal?.aborted === true) return Promise.reject(new CallAbortedError(target, method, { cause: parentSignal.reason }))
    const timeoutMs = options?.timeout ?? this.defaultCallTimeoutMs
    const ctx = new KernelCallContext(this, ++this.nextCallId, parent?.id, depth, caller, target, upstream, timeoutMs)
    const traced = this.trace.active
    const startNs = traced ? process.hrtime.bigint() : 0n
    let result: unknown
    try {
      result = entry.invoke(params, ctx)
    } catch (err) {
      ctx.release()
      if (traced) this.publishCall(ctx, target, method, startNs, false, err)
      return Promise.reject(err)
    }
    if (!(result instanceof Promise)) {
      // A synchronous handler: nothing can time out or be aborted any more.
      ctx.release()
      if (traced) this.publishCall(ctx, target, method, startNs, true, undefined)
      return Promise.resolve(result)
    }
    rec.inFlight++
    return new Promise((resolve, reject) => {
      const pending = new PendingCall(rec, ctx, method, timeoutMs, startNs, upstream, resolve, reject)
      if (timeoutMs > 0) this.track(pending)
      if (upstream !== undefined) {
        pending.onAbort = () => { this.giveUp(pending, new CallAbortedError(target, method, { cause: upstream.reason })) }
        upstream.addEventListener('abort', pending.onAbort, { once: true })
      }
      result.then(
        (value) => { this.finish(pending, true, value) },
        (err) => { this.finish(pending, false, err) }
      )
    })
  }

  /** The handler returned: the module is free of this call, and the caller gets the outcome unless it already has one. */
  private finish (pending: PendingCall, ok: boolean, value: unknown): void {
    pending.finished = true
    pending.ctx.release()
    const rec = pending.rec
    if (--rec.inFlight === 0 && rec.onDrained !== undefined) rec.onDrained()
    this.answer(pending, ok, value)
  }

  /** The kernel stops waiting (deadline, abort): the caller gets the error now and the handler is told to stop. */
  private giveUp (pending: PendingCall, err: Error): void {
    if (pending.answered) return
    this.answer(pending, false, err)
    pending.ctx.cancel(err)
  }

  private answer (pending: PendingCall, ok: boolean, value: unknown): void {
    if (pending.answered) return
    pending.answered = true
    if (pending.timeoutMs > 0) this.pending.delete(pending)
    if (pending.onAbort !== undefined) pending.callerSignal?.removeEventListener('abort', pending.onAbort)
    if (pending.startNs !== 0n && this.trace.active) this.publishCall(pending.ctx, pending.rec.manifest.name, pending.method, pending.startNs, ok, ok ? undefined : value)
    if (ok) pending.resolve(value)
    else pending.reject(value)
  }

  private track (pending: PendingCall): void {
    this.pending.add(pending)
    if (this.ticker === undefined) {
      this.ticker = setInterval(() => { this.expireCalls() }, DEADLINE_TICK_MS)
      this.ticker.unref()
    }
  }

  private expireCalls (): void {
    const now = Date.now()
    for (const pending of this.pending) {
      if (pending.deadline <= now) this.giveUp(pending, new CallTimeoutError(pending.rec.manifest.name, pending.method, pending.timeoutMs))
    }
    if (this.pending.size === 0 && this.ticker !== undefined) {
      clearInterval(this.ticker)
      this.ticker = undefined
    }
  }

  private dispatchWhenReady (rec: ModuleRecord, caller: string, parent: CallMeta | undefined, method: string, params: unknown, options?: CallOptions): Promise<unknown> {
    const name = rec.manifest.name
    if (!WAITING_STATES.has(rec.state)) return Promise.reject(new ModuleNotRunningError(name, rec.state, rec.cause === undefined ? {} : { cause: rec.cause }))
    if (rec.waiters.length >= this.maxWaitingCalls) return Promise.reject(new QueueFullError(`the queue of calls waiting for "${name}"`, this.maxWaitingCalls))
    const timeout = options?.timeout
    // A zero timeout means "no deadline" (as in dispatch), not "do not wait".
    const waitMs = timeout !== undefined && timeout > 0 ? Math.min(this.callWaitMs, timeout) : this.callWaitMs
    const signal = options?.signal
    const startedWaiting = Date.now()
    return new Promise((resolve, reject) => {
      const onAbort = (): void => { done(); reject(new CallAbortedError(name, method, { cause: signal?.reason })) }
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const i = rec.waiters.indexOf(waiter)
        if (i !== -1) rec.waiters.splice(i, 1)
      }
      const waiter: Waiter = {
        ready: () => {
          done()
          // The time spent waiting counts against the call's own deadline.
          const remaining = timeout === undefined || timeout <= 0 ? undefined : Math.max(1, timeout - (Date.now() - startedWaiting))
          resolve(this.dispatch(caller, parent, name, method, params, remaining === undefined ? options : { ...options, timeout: remaining }))
        },
        fail: (err) => { done(); reject(err) }
      }
      const timer = setTimeout(() => { done(); reject(new ModuleNotRunningError(name, rec.state, { data: { waitedMs: waitMs } })) }, waitMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      rec.waiters.push(waiter)
    })
  }

  // ---- events -------------------------------------------------------------------------------------------------------

  /** KernelPort: a module emits an event; subscribers of (source, event) and of (source, "*") get it synchronously. */
  emit (source: string, event: string, payload: unknown, callId?: number): void {
    const exact = this.subscriptions.get(source + '\u0000' + event)
    const wildcard = this.subscriptions.get(source + '\u0000*')
    const count = (exact?.length ?? 0) + (wildcard?.length ?? 0)
    if (this.trace.active) {
      this.trace.publish(callId === undefined
        ? { type: 'event', source, event, at: Date.now(), subscribers: count }
        : { type: 'event', source, event, callId, at: Date.now(), subscribers: count })
    }
    if (count === 0) return
    const meta: EventMeta = callId === undefined ? { source, event, at: Date.now() } : { source, event, callId, at: Date.now() }
    if (exact !== undefined) this.deliver(exact, payload, meta)
    if (wildcard !== undefined) this.deliver(wildcard, payload, meta)
  }

  private deliver (subs: Subscription[], payload: unknown, meta: EventMeta): void {
    for (const sub of subs) {
      try {
        const r: unknown = sub.handler(payload, meta)
        if (r instanceof Promise) r.catch((err: unknown) => { this.handlerFailed(sub, err) })
      } catch (err) {
        this.handlerFailed(sub, err)
      }
    }
  }

  private handlerFailed (sub: Subscription, err: unknown): void {
    this.logs.write({ at: Date.now(), module: sub.subscriber, level: 'error', message: `handler for ${sub.source}/${sub.event} failed: ${(err as Error)?.message ?? String(err)}` })
  }

  /** KernelPort: `subscriber` listens to `event` (or "*") from `source`. */
  subscribe (subscriber: string, source: string, event: string, handler: EventHandler): () => void {
    const key = source + '\u0000' + event
    const sub: Subscription = { subscriber, source, event, handler }
    this.subscriptions.set(key, [...(this.subscriptions.get(key) ?? []), sub])
    let mine = this.subscriptionsBySubscriber.get(subscriber)
    if (mine === undefined) {
      mine = new Set()
      this.subscriptionsBySubscriber.set(subscriber, mine)
    }
    mine.add(sub)
    return () => { this.removeSubscription(sub) }
  }

  private removeSubscription (sub: Subscription): void {
    const key = sub.source + '\u0000' + sub.event
    const list = this.subscriptions.get(key)
    if (list !== undefined) {
      const rest = list.filter(s => s !== sub)
      if (rest.length === 0) this.subscriptions.delete(key)
      else this.subscriptions.set(key, rest)
    }
    this.subscriptionsBySubscriber.get(sub.subscriber)?.delete(sub)
  }

  private dropSubscriptions (subscriber: string): void {
    for (const sub of [...(this.subscriptionsBySubscriber.get(subscriber) ?? [])]) this.removeSubscription(sub)
    this.subscriptionsBySubscriber.delete(subscriber)
  }

  // ---- logs ---------------------------------------------------------------------------------------------------------

  log (entry: LogEntry): void {
    this.logs.write(entry)
  }

  logLevel (module: string): LogLevel {
    return this.logs.level(module)
  }

  // ---- directory ----------------------------------------------------------------------------------------------------

  list (): DirectoryEntry[] {
    return [...this.modules.keys()].sort().map(name => this.describe(name))
  }

  describe (name: string): DirectoryEntry {
    const rec = this.record(name)
    const manifests = this.manifests()
    const entry: DirectoryEntry = {
      name,
      version: rec.manifest.version,
      state: rec.state,
      host: rec.hostName,
      dependencies: { ...rec.manifest.dependencies },
      dependents: directDependents(name, manifests),
      methods: [...rec.methods.values()].map(({ invoke: _invoke, ...info }) => info),
      events: [...(rec.instance?.events ?? [])],
      source: rec.source
    }
    if (rec.manifest.description !== undefined) entry.description = rec.manifest.description
    if (rec.state === 'running' && rec.startedAt !== undefined) entry.uptimeMs = Date.now() - rec.startedAt
    const info = rec.instance?.info()
    if (info !== undefined) entry.process = { ...info, restarts: Math.max(info.restarts, rec.restarts) }
    if (rec.cause !== undefined) entry.cause = errorToWire(rec.cause)
    return entry
  }

  has (name: string): boolean {
    return this.modules.has(name)
  }

  state (name: string): ModuleState {
    return this.record(name).state
  }

  subscribeTrace (listener: TraceListener, filter?: TraceFilter): () => void {
    return this.trace.subscribe(listener, filter)
  }

  // ---- internals ----------------------------------------------------------------------------------------------------

  private async startWithDependencies (rec: ModuleRecord, signal?: AbortSignal): Promise<void> {
    const name = rec.manifest.name
    let order: string[]
    try {
      order = startOrder(name, this.manifests())
    } catch (err) {
      this.fail(rec, err as Error)
      throw err
    }
    for (const dep of order.slice(0, -1)) {
      const depRec = this.record(dep)
      if (depRec.state === 'running') continue
      try {
        await this.start(dep, { signal })
      } catch (err) {
        const failure = new DependencyFailedError(name, dep, { cause: err })
        this.fail(rec, failure)
        throw failure
      }
    }
    await this.launch(rec, signal, false)
  }

  /**
   * Asks the module's host to run it; `inPlace` keeps the current transitional state (reloading) instead of `starting`,
   * and on failure leaves the state to the caller (a reload rolls back).
   */
  private async launch (rec: ModuleRecord, signal: AbortSignal | undefined, inPlace: boolean, kept?: KeptCode): Promise<void> {
    const name = rec.manifest.name
    if (!inPlace) this.setState(rec, 'starting')
    try {
      const host = this.hostsByName.get(rec.hostName)
      if (host === undefined) throw new HostNotFoundError(rec.hostName, this.hosts())
      if (rec.manifest.privileged === true && host.name !== IN_PROCESS_HOST) {
        throw new HostUnsupportedError(host.name, name, 'privileged modules run only in the kernel\'s process')
      }
      const dataDir = join(this.dataDir, 'modules', name)
      await mkdir(dataDir, { recursive: true })
      const spec: LaunchSpec = {
        manifest: Object.freeze({ ...rec.manifest }),
        entryPath: rec.entryPath,
        definition: rec.definition,
        dataDir,
        config: rec.config,
        port: this,
        reporter: this.reporterFor(rec),
        system: rec.manifest.privileged === true && rec.trusted ? this.system : undefined,
        signal: combineSignals([signal, this.lifetime.signal], this.startTimeoutMs)
      }
      // A rollback starts the code its host kept; anything else, the code the record names.
      const instance = await (kept !== undefined ? kept.relaunch(spec) : host.launch(spec))
      rec.instance = instance
      rec.methods = instance.methods
      rec.startedAt = Date.now()
      rec.cause = undefined
      this.setState(rec, 'running')
    } catch (err) {
      const failure = err instanceof ModuleStartFailedError ? err : new ModuleStartFailedError(name, { cause: err })
      this.dropSubscriptions(name)
      if (!inPlace) this.fail(rec, failure)
      throw failure
    }
  }

  private async stopOne (rec: ModuleRecord, signal?: AbortSignal): Promise<void> {
    if (rec.starting !== undefined) await rec.starting.catch(() => {})
    // A reload in progress finishes first (or rolls back): stopping cuts into neither.
    if (rec.reloading !== undefined) await rec.reloading.catch(() => {})
    if (rec.state === 'failed' && rec.instance === undefined) return
    if (rec.state === 'resolved' || rec.state === 'stopped' || rec.state === 'stopping') return
    if (rec.state === 'failed') {
      await this.stopInstance(rec, signal)
      return
    }
    this.setState(rec, 'stopping')
    await this.drain(rec, signal)
    try {
      await this.stopInstance(rec, signal)
      this.setState(rec, 'stopped')
    } catch (err) {
      this.fail(rec, new ModuleStopFailedError(rec.manifest.name, { cause: err }))
      throw rec.cause
    }
  }

  /** Waits (bounded) for the calls a module is serving to finish. */
  private async drain (rec: ModuleRecord, signal?: AbortSignal): Promise<void> {
    if (rec.inFlight === 0) return
    const drained = new Promise<void>((resolve) => { rec.onDrained = resolve })
    try {
      await raceSignal(drained, combineSignals([signal], this.stopTimeoutMs))
    } catch {
      // Calls still running after the grace period fail when the instance goes away.
    } finally {
      rec.onDrained = undefined
    }
  }

  /** Stops the instance; with `keep`, through `stopAndKeep` when its host offers it, and returns what it kept. */
  private async stopInstance (rec: ModuleRecord, signal?: AbortSignal, keep = false): Promise<KeptCode | undefined> {
    const instance = rec.instance
    rec.instance = undefined
    rec.methods = NO_METHODS
    rec.startedAt = undefined
    try {
      if (instance === undefined) return undefined
      const options = { signal: combineSignals([signal], this.stopTimeoutMs) }
      if (keep && instance.stopAndKeep !== undefined) return await instance.stopAndKeep(options)
      await instance.stop(options)
      return undefined
    } finally {
      this.dropSubscriptions(rec.manifest.name)
    }
  }

  private reporterFor (rec: ModuleRecord): InstanceReporter {
    const name = rec.manifest.name
    const current = (): boolean => this.modules.get(name) === rec
    return {
      crashed: (detail) => {
        if (!current()) return
        this.publishSupervision(name, 'crashed', detail)
        this.logs.write({ at: Date.now(), module: name, level: 'error', message: 'module crashed', fields: detail })
        this.emit(DIRECTORY_MODULE, 'module:crashed', { name, ...detail })
        this.dropSubscriptions(name)
        rec.methods = NO_METHODS
        if (rec.state === 'running') this.setState(rec, 'restarting', undefined, detail)
      },
      restarting: (detail) => {
        if (!current()) return
        this.publishSupervision(name, 'restarting', detail)
      },
      restarted: (instance, detail) => {
        if (!current() || rec.state !== 'restarting') return
        rec.instance = instance
        rec.methods = instance.methods
        rec.startedAt = Date.now()
        rec.restarts++
        this.publishSupervision(name, 'restarted', detail)
        this.setState(rec, 'running')
      },
      gaveUp: (cause, detail) => {
        if (!current()) return
        this.publishSupervision(name, 'gave-up', { ...detail, error: errorToWire(cause) })
        this.logs.write({ at: Date.now(), module: name, level: 'error', message: `module left down: ${cause.message}`, fields: detail })
        rec.instance = undefined
        rec.methods = NO_METHODS
        this.fail(rec, cause)
      },
      exited: (detail) => {
        if (!current()) return
        this.publishSupervision(name, 'exited', detail)
        this.logs.write({ at: Date.now(), module: name, level: 'info', message: 'module exited by itself', fields: detail })
        rec.instance = undefined
        rec.methods = NO_METHODS
        rec.startedAt = undefined
        this.dropSubscriptions(name)
        if (rec.state === 'running' || rec.state === 'restarting') {
          this.setState(rec, 'stopping')
          this.setState(rec, 'stopped')
        }
      }
    }
  }

  private setState (rec: ModuleRecord, to: ModuleState, cause?: Error, detail?: Record<string, unknown>): void {
    const from = rec.state
    const name = rec.manifest.name
    assertTransition(name, from, to)
    rec.state = to
    if (cause !== undefined) rec.cause = cause
    this.publishLifecycle(name, from, to, cause)
    this.emit(DIRECTORY_MODULE, 'module:state', cause === undefined ? { name, from, to, ...detail } : { name, from, to, cause: errorToWire(cause), ...detail })
    if (to === 'running') {
      for (const waiter of rec.waiters.slice()) waiter.ready()
    } else if (!WAITING_STATES.has(to)) {
      for (const waiter of rec.waiters.slice()) waiter.fail(new ModuleNotRunningError(name, to, cause === undefined ? {} : { cause }))
    }
  }

  private fail (rec: ModuleRecord, cause: Error): void {
    rec.cause = cause
    if (rec.state === 'failed') {
      this.publishLifecycle(rec.manifest.name, 'failed', 'failed', cause)
      return
    }
    this.setState(rec, 'failed', cause)
  }

  private publishLifecycle (module: string, from: ModuleState | 'unloaded', to: ModuleState | 'unloaded', cause?: Error): void {
    if (!this.trace.active) return
    this.trace.publish(cause === undefined
      ? { type: 'lifecycle', module, from, to, at: Date.now() }
      : { type: 'lifecycle', module, from, to, at: Date.now(), cause: errorToWire(cause) })
  }

  private publishSupervision (module: string, action: SupervisionTrace['action'], detail: Record<string, unknown>): void {
    if (!this.trace.active) return
    this.trace.publish({ type: 'supervision', module, action, at: Date.now(), detail })
  }

  private publishCall (ctx: KernelCallContext, target: string, method: string, startNs: bigint, ok: boolean, err: unknown): void {
    const durationNs = Number(process.hrtime.bigint() - startNs)
    const record = {
      type: 'call' as const,
      id: ctx.id,
      parentId: ctx.parentId,
      depth: ctx.depth,
      caller: ctx.caller,
      target,
      method,
      at: this.wallClockMs(startNs),
      durationNs,
      ok
    }
    if (ok) {
      this.trace.publish(record)
    } else {
      const e = toLogosError(err)
      this.trace.publish({ ...record, error: { code: e.code, message: e.message } })
    }
  }

  /**
   * Wall-clock ms of an hrtime reading. Date.now() costs about as much as the rest of a call record, so call records
   * use an offset between the two clocks, read again every CLOCK_RESYNC_RECORDS records to follow clock adjustments.
   */
  private wallClockMs (ns: bigint): number {
    if (++this.clockReads >= CLOCK_RESYNC_RECORDS) {
      this.clockReads = 0
      this.clockOffsetMs = Date.now() - Number(process.hrtime.bigint()) / 1e6
    }
    return this.clockOffsetMs + Number(ns) / 1e6
  }

  /** Module names, privileged ones first, each group in name order. */
  private systemModulesFirst (): string[] {
    const names = [...this.modules.keys()].sort()
    const privileged = (n: string): boolean => this.modules.get(n)?.manifest.privileged === true
    return [...names.filter(privileged), ...names.filter(n => !privileged(n))]
  }

  private record (name: string): ModuleRecord {
    const rec = this.modules.get(name)
    if (rec === undefined) throw new ModuleNotFoundError(name)
    return rec
  }

  private manifests (): Map<string, ModuleManifest> {
    const out = new Map<string, ModuleManifest>()
    for (const [name, rec] of this.modules) out.set(name, rec.manifest)
    return out
  }

  private async parseSource (source: ModuleSource): Promise<Pick<ModuleRecord, 'manifest' | 'source' | 'entryPath' | 'definition'>> {
    if ('dir' in source) {
      const folder = await readModuleFolder(source.dir)
      return { manifest: folder.manifest, source: folder.dir, entryPath: folder.entryPath, definition: undefined }
    }
    const manifest = manifestFromDefinition(source)
    checkDefinitionAgrees(source, manifest, 'definition')
    return { manifest, source: `definition:${manifest.name}`, entryPath: undefined, definition: source }
  }

  private assertOpen (): void {
    if (this.shuttingDown) throw new KernelStoppedError()
  }

  private assertNotProtected (name: string, action: string): void {
    if (name === DIRECTORY_MODULE) throw new ModuleProtectedError(name, action)
  }

  /** The built-in `directory` module: the directory, queryable by name like any module. */
  private installDirectory (): void {
    const rec = new ModuleRecord({
      manifest: { name: DIRECTORY_MODULE, version: KERNEL_VERSION, description: 'The modules of this node: versions, states, methods and events', dependencies: {} },
      source: 'kernel',
      entryPath: undefined,
      definition: undefined,
      hostName: IN_PROCESS_HOST,
      config: {},
      trusted: true
    })
    const methods = new Map<string, MethodEntry>([
      ['list', { name: 'list', description: 'Every loaded module with its state, methods and events', invoke: () => this.list() }],
      ['describe', {
        name: 'describe',
        description: 'One module by name',
        params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        invoke: (params) => this.describe(typeof params === 'string' ? params : (params as { name: string }).name)
      }],
      ['hosts', { name: 'hosts', description: 'The hosts modules can run on', invoke: () => this.hosts() }]
    ])
    rec.instance = {
      methods,
      events: [
        { name: 'module:loaded', description: '{ name, version }' },
        { name: 'module:unloaded', description: '{ name }' },
        { name: 'module:state', description: '{ name, from, to, cause? }: every lifecycle change' },
        { name: 'module:crashed', description: '{ name, pid?, exitCode?, signal?, uptimeMs?, stderrTail? }' }
      ],
      info: () => ({ pid: process.pid, restarts: 0, startedAt: rec.startedAt ?? Date.now() }),
      stop: async () => {}
    }
    rec.methods = methods
    rec.state = 'running'
    rec.startedAt = Date.now()
    this.modules.set(DIRECTORY_MODULE, rec)
  }

  private makeSystemAccess (): SystemAccess {
    return {
      registerHost: (host) => this.registerHost(host),
      hosts: () => this.hosts(),
      subscribeTrace: (listener, filter) => this.trace.subscribe(listener, filter),
      list: () => this.list(),
      describe: (name) => this.describe(name),
      load: async (source, options) => await this.load(source, options),
      unload: async (name, options) => { await this.unload(name, options) },
      start: async (name, options) => { await this.start(name, options) },
      stop: async (name, options) => { await this.stop(name, options) },
      reload: async (name, options) => { await this.reload(name, options) },
      call: async (target, method, params, options) => await this.call(target, method, params, options),
      logs: this.logs,
      dataDir: this.dataDir
    }
  }
}

function isActive (state: ModuleState): boolean {
  return state === 'running' || state === 'starting' || state === 'restarting' || state === 'reloading'
}
