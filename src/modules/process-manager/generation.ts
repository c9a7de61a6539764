import {
  CallAbortedError, LogosError, ModuleCrashedError, ModuleNotRunningError, ModuleStartFailedError, QueueFullError,
  errorFromWire, errorToWire, isLogLevel
} from '../../sdk/index.ts'
import type {
  CallContext, CallMeta, CallOptions, ErrorWire, EventMeta, KernelPort, LogLevel, MethodEntry, MethodInfo
} from '../../sdk/index.ts'
import { CHANNEL_LOST_EXIT_WAIT_MS, EXIT_CODE_CHANNEL_LOST, KILL_WAIT_MS, MAX_IN_FLIGHT, MAX_SUBSCRIPTIONS } from './constants.ts'
import { PmNotSerializableError, PmProtocolError, PmSpawnFailedError } from './errors.ts'
import type { Message } from './framing.ts'
import type { ModuleProcess } from './module-process.ts'
import type { HostPolicy } from './options.ts'
import {
  C_CALL, C_CANCEL, C_EMIT, C_ERROR, C_FATAL, C_LOG, C_PONG, C_READY, C_RESULT, C_START_FAILED, C_STOPPED, C_SUBSCRIBE,
  C_UNSUBSCRIBE, P_CALL, P_CANCEL, P_ERROR, P_EVENT, P_INIT, P_PING, P_RESULT, P_STOP
} from './protocol.ts'
import type { InitMessage } from './protocol.ts'

/** Why a process stopped serving. */
export type DownReason =
  | 'exit' // it exited by itself with a code
  | 'signal' // something else killed it
  | 'uncaught-exception'
  | 'channel-lost' // its channel ended while it lived on
  | 'hung' // it answered no heartbeat within the timeout
  | 'memory-limit' // its resident memory went over the ceiling
  | 'protocol-error'

/** What the host reports about a crash (the kernel puts it on the trace stream and in the log). */
export interface CrashDetail {
  [key: string]: unknown
  pid: number
  reason: DownReason
  exitCode: number | null
  signal: string | null
  uptimeMs: number
  stderrTail: string[]
  error?: ErrorWire
}

interface RemoteCall {
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
  /** The kernel's context of the call: calls the handler makes are made as its children. */
  ctx: CallContext
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  /** Once cancelled: the end of its grace period, when the host stops waiting for the handler's answer. */
  grace: ReturnType<typeof setTimeout> | undefined
}

export interface GenerationInit {
  name: string
  process: ModuleProcess
  port: KernelPort
  policy: HostPolicy
  /** Called once, when a process that was serving stops doing so (not during a stop the host asked for). */
  onDown: (generation: Generation) => void
}

/**
 * The host's side of one module process, from INIT until it ends: forwards calls and their cancellation, replies,
 * events, subscriptions and logs; watches heartbeats, CPU and memory. A module that restarts gets a new Generation.
 */
export class Generation {
  readonly name: string
  readonly process: ModuleProcess
  readonly methods = new Map<string, MethodEntry>()
  readonly events: Array<{ name: string, description?: string }> = []
  startedAt = 0
  cpuPercent: number | undefined
  rssBytes: number | undefined
  /** Set at the first sign that it stopped serving. */
  down: DownReason | undefined
  fatal: ErrorWire | undefined
  stopError: ErrorWire | undefined
  /** Its stop hook overstayed the grace period and was cut short. */
  stopTimedOut = false
  /** Stopped for a reload with its code kept loaded: the process lives on, held (see stop). */
  held = false
  private onStopped: (() => void) | undefined
  private stopping = false
  private serving = false
  private readonly port: KernelPort
  private readonly policy: HostPolicy
  private readonly onDown: (generation: Generation) => void
  private readonly pending = new Map<number, RemoteCall>()
  private readonly nested = new Map<number, AbortController>()
  private readonly subscriptions = new Map<number, () => void>()
  private nextId = 0
  private startWaiter: { resolve: () => void, reject: (err: Error) => void } | undefined
  private heartbeat: ReturnType<typeof setInterval> | undefined
  private pingSeq = 0
  private lastPongAt = 0
  /** Time the node's own event loop was stalled since the last answer (see startHeartbeat). */
  private stalledMs = 0
  /** When the module last answered a heartbeat. */
  heartbeatAt: number | undefined
  private lastCpu: { micros: number, at: number } | undefined
  private killedFor: DownReason | undefined

  constructor (init: GenerationInit) {
    this.name = init.name
    this.process = init.process
    this.port = init.port
    this.policy = init.policy
    this.onDown = init.onDown
    this.process.adopt({
      onMessage: (m) => { this.handle(m) },
      onChannelClose: (err) => { this.channelClosed(err) },
      onExit: () => { this.markDown(this.classify()) },
      onOutput: (stream, line) => {
        this.port.log({ at: Date.now(), module: this.name, level: stream === 'stderr' ? 'warn' : 'info', message: line, fields: { stream } })
      }
    })
  }

  get pid (): number {
    return this.process.pid
  }

  /** Calls in flight to the process, cancelled ones whose handler has not answered yet included. */
  get inFlight (): number {
    return this.pending.size
  }

  /** Sends INIT and resolves once the module serves; rejects with ModuleStartFailedError or PmSpawnFailedError. */
  async start (init: InitMessage, signal: AbortSignal): Promise<void> {
    if (this.down !== undefined || !this.process.alive) throw this.diedEarly()
    this.process.channel.send([P_INIT, init])
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.startWaiter = undefined
        reject(new ModuleStartFailedError(this.name, { cause: signal.reason }))
      }
      this.startWaiter = {
        resolve: () => { signal.removeEventListener('abort', onAbort); this.startWaiter = undefined; resolve() },
        reject: (err) => { signal.removeEventListener('abort', onAbort); this.startWaiter = undefined; reject(err) }
      }
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
    })
    this.serving = true
    this.startedAt = Date.now()
    this.startHeartbeat()
  }

  /**
   * A call to the module: it crosses the channel with its call meta (so nested calls link to it in traces) and its
   * absolute deadline. When the kernel gives up on it (the call's signal fires: deadline, the caller's abort, its
   * parent's cancellation), the module's process is told to abort the handler's signal; the call stays in flight
   * until the handler answers or the grace period ends (see cancel).
   */
  call (method: string, params: unknown, ctx: CallContext): Promise<unknown> {
    if (this.down !== undefined) return Promise.reject(this.crashError())
    if (this.stopping) return Promise.reject(new ModuleNotRunningError(this.name, 'stopping'))
    if (this.pending.size >= MAX_IN_FLIGHT) return Promise.reject(new QueueFullError(`calls in flight to "${this.name}"`, MAX_IN_FLIGHT))
    const id = ++this.nextId
    try {
      this.process.channel.send([P_CALL, id, method, params, ctx.id, ctx.parentId, ctx.depth, ctx.caller, ctx.deadline])
    } catch (err) {
      return Promise.reject(this.sendFailure(err, `the parameters of ${this.name}.${method}`))
    }
    const signal = ctx.signal
    return new Promise((resolve, reject) => {
      const call: RemoteCall = { resolve, reject, ctx, signal, onAbort: undefined, grace: undefined }
      this.pending.set(id, call)
      if (signal !== undefined) {
        call.onAbort = () => { this.cancel(id, call, method) }
        if (signal.aborted) call.onAbort()
        else signal.addEventListener('abort', call.onAbort, { once: true })
      }
    })
  }

  /**
   * The kernel gave up on a call: the handler's signal is aborted in the module's process, with the same reason. The
   * handler's answer (ignored by then: the caller has its error) is the acknowledgement that frees its place; one that
   * does not come within cancelGraceMs is not waited for any longer, so a stubborn handler, or one that never answers,
   * cannot hold places in flight forever.
   */
  private cancel (id: number, call: RemoteCall, method: string): void {
    if (call.grace !== undefined || this.pending.get(id) !== call) return
    const reason: unknown = call.signal?.reason
    const error = reason instanceof LogosError ? reason : new CallAbortedError(this.name, method, { cause: reason })
    this.trySend([P_CANCEL, id, errorToWire(error)])
    call.grace = setTimeout(() => {
      if (this.pending.get(id) !== call) return
      this.pending.delete(id)
      call.reject(error)
    }, this.policy.cancelGraceMs)
    call.grace.unref()
  }

  /**
   * Stops the process: its stop hook within the grace period, then SIGTERM, then SIGKILL (at once when `signal`
   * fires). Resolves once it has exited; the stop hook's failure is in `stopError`. With `keep` (a reload), a module
   * whose hook ended cleanly keeps its code loaded and the process lives on: `held`, resolved without an exit.
   */
  async stop (signal: AbortSignal, keep = false): Promise<{ escalated: 'none' | 'SIGTERM' | 'SIGKILL' }> {
    this.stopping = true
    this.stopHeartbeat()
    let escalated: 'none' | 'SIGTERM' | 'SIGKILL' = 'none'
    if (this.process.alive) {
      const stopped = new Promise<void>((resolve) => { this.onStopped = resolve })
      this.trySend([P_STOP, this.policy.stopGraceMs, keep])
      // A margin over the grace: the child itself gives up on its hook at stopGraceMs and then exits (or, kept, answers).
      let exitWaitMs = this.policy.stopGraceMs + 500
      if (keep) {
        const answered = await this.within(Promise.race([stopped, this.process.finished]), exitWaitMs, signal)
        if (this.held && this.process.alive) return { escalated }
        this.held = false
        // It answered that it could not keep its code (its hook failed or overstayed): it exits now. Else it is stuck.
        exitWaitMs = answered ? exitWaitMs : 0
      }
      if (!await this.waitExit(exitWaitMs, signal)) {
        escalated = 'SIGTERM'
        this.process.kill('SIGTERM')
        if (!await this.waitExit(this.policy.killGraceMs, signal)) {
          escalated = 'SIGKILL'
          this.process.kill('SIGKILL')
          await this.waitExit(KILL_WAIT_MS)
        }
      }
    }
    await this.process.finished
    this.markDown(this.classify())
    return { escalated }
  }

  /** Kills it now (a hang, the memory ceiling, a broken protocol); the exit then reports the crash. */
  kill (reason: DownReason): void {
    this.killedFor ??= reason
    this.markDown(reason)
    this.process.kill('SIGKILL')
  }

  /** What a crash report says about this process; call once it has finished. */
  crashDetail (): CrashDetail {
    const exit = this.process.exit ?? { code: null, signal: null }
    const detail: CrashDetail = {
      pid: this.pid,
      reason: this.classify(),
      exitCode: exit.code,
      signal: exit.signal,
      uptimeMs: this.startedAt === 0 ? 0 : Date.now() - this.startedAt,
      stderrTail: this.process.stderrTail()
    }
    if (this.fatal !== undefined) detail.error = this.fatal
    return detail
  }

  private classify (): DownReason {
    if (this.killedFor !== undefined) return this.killedFor
    const exit = this.process.exit
    if (exit === undefined) return this.down ?? 'channel-lost'
    if (this.fatal !== undefined && exit.code !== 0) return 'uncaught-exception'
    if (exit.signal !== null) return 'signal'
    if (exit.code === EXIT_CODE_CHANNEL_LOST) return 'channel-lost'
    return 'exit'
  }

  private crashError (): Error {
    const exit = this.process.exit
    return new ModuleCrashedError(this.name, { data: { pid: this.pid, reason: this.down, exitCode: exit?.code ?? null, signal: exit?.signal ?? null } })
  }

  private diedEarly (): Error {
    const exit = this.process.exit
    const how = this.process.spawnError !== undefined
      ? this.process.spawnError.message
      : exit === undefined ? 'its channel closed' : exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${String(exit.code)}`
    return new PmSpawnFailedError(this.name, `the process ended before it was serving (${how})`, {
      pid: this.pid, exitCode: exit?.code ?? null, signal: exit?.signal ?? null, stderrTail: this.process.stderrTail()
    })
  }

  /** The first sign of an end: every call in flight fails now, with ModuleCrashedError (or not-running when stopped). */
  private markDown (reason: DownReason): void {
    if (this.down !== undefined) return
    this.down = reason
    this.stopHeartbeat()
    const error = this.stopping ? new ModuleNotRunningError(this.name, 'stopped') : this.crashError()
    for (const call of this.pending.values()) {
      if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort)
      clearTimeout(call.grace)
      call.reject(error)
    }
    this.pending.clear()
    for (const controller of this.nested.values()) controller.abort(error)
    this.nested.clear()
    for (const off of this.subscriptions.values()) off()
    this.subscriptions.clear()
    if (this.startWaiter !== undefined) {
      // Died during its start: after its exit status is known, say how.
      const waiter = this.startWaiter
      void this.process.finished.then(() => { waiter.reject(this.diedEarly()) })
    }
    if (this.serving && !this.stopping) this.onDown(this)
  }

  private channelClosed (err?: Error): void {
    if (err instanceof PmProtocolError) {
      this.kill('protocol-error')
      return
    }
    if (this.process.exit !== undefined) return
    this.markDown('channel-lost')
    if (this.stopping) return
    // The process normally exits right after its channel ends; one that lives on is killed.
    setTimeout(() => {
      if (this.process.alive) {
        this.killedFor ??= 'channel-lost'
        this.process.kill('SIGKILL')
      }
    }, CHANNEL_LOST_EXIT_WAIT_MS).unref()
  }

  private async waitExit (ms: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.process.alive) return true
    return await this.within(this.process.finished, ms, signal)
  }

  /** Whether `event` happened within `ms` (false at once when `signal` fires). */
  private async within (event: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) return false
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const happened = await Promise.race([
      event.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => { resolve(false) }, ms)
        onAbort = () => { resolve(false) }
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    ])
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    return happened
  }

  /**
   * Pings every intervalMs; a module silent for longer than timeoutMs is hung. Silent means silent while the node
   * listened: when the node's own event loop stalls (a long synchronous task in another module, a GC pause), the
   * module's answers wait unread in the socket and this check runs before they are read. So the time a check comes late
   * is credited (the node was not listening), and a module that still looks silent is judged once more after the
   * socket has been read (setImmediate runs after the event loop's poll phase), before it is killed.
   */
  private startHeartbeat (): void {
    const { intervalMs, timeoutMs } = this.policy.heartbeat
    if (intervalMs <= 0) return
    this.lastPongAt = Date.now()
    let due = this.lastPongAt + intervalMs
    const silent = (): boolean => this.down === undefined && !this.stopping && Date.now() - this.lastPongAt - this.stalledMs > timeoutMs
    this.heartbeat = setInterval(() => {
      if (this.down !== undefined) return
      const now = Date.now()
      if (now > due) this.stalledMs += now - due
      due = now + intervalMs
      if (silent()) {
        setImmediate(() => { if (silent()) this.kill('hung') })
      }
      this.trySend([P_PING, ++this.pingSeq, this.port.logLevel(this.name)])
    }, intervalMs)
    this.heartbeat.unref()
    // A first sample at once, so the directory shows figures from the start.
    this.trySend([P_PING, ++this.pingSeq, this.port.logLevel(this.name)])
  }

  private stopHeartbeat (): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat)
    this.heartbeat = undefined
  }

  private pong (cpuMicros: number, rssBytes: number): void {
    const now = performance.now()
    this.lastPongAt = Date.now()
    this.heartbeatAt = this.lastPongAt
    this.stalledMs = 0
    if (this.lastCpu !== undefined && now > this.lastCpu.at) {
      this.cpuPercent = Math.max(0, ((cpuMicros - this.lastCpu.micros) / 1000) / (now - this.lastCpu.at) * 100)
    }
    this.lastCpu = { micros: cpuMicros, at: now }
    this.rssBytes = rssBytes
    const limit = this.policy.memoryLimitBytes
    if (limit > 0 && rssBytes > limit && this.down === undefined) {
      this.port.log({ at: Date.now(), module: this.name, level: 'error', message: 'over its memory ceiling; restarting it', fields: { pid: this.pid, rssBytes, limitBytes: limit } })
      this.kill('memory-limit')
    }
  }

  private handle (m: Message): void {
    switch (m[0]) {
      case C_RESULT:
        this.settle(m[1] as number, true, m[2])
        return
      case C_ERROR:
        this.settle(m[1] as number, false, m[2])
        return
      case C_CALL:
        this.nestedCall(m[1] as number, m[2] as string, m[3] as string, m[4], m[5] as CallMeta | undefined, m[6] as number | undefined, m[7] as number | undefined)
        return
      case C_CANCEL:
        this.nested.get(m[1] as number)?.abort()
        return
      case C_EMIT:
        this.port.emit(this.name, m[1] as string, m[2])
        return
      case C_SUBSCRIBE:
        this.subscribe(m[1] as number, m[2] as string, m[3] as string)
        return
      case C_UNSUBSCRIBE: {
        const off = this.subscriptions.get(m[1] as number)
        this.subscriptions.delete(m[1] as number)
        off?.()
        return
      }
      case C_LOG: {
        const level: LogLevel = isLogLevel(m[1]) ? m[1] : 'info'
        const entry = { at: typeof m[4] === 'number' ? m[4] : Date.now(), module: this.name, level, message: String(m[2]) }
        this.port.log(m[3] === undefined ? entry : { ...entry, fields: m[3] as Record<string, unknown> })
        return
      }
      case C_PONG:
        this.pong(m[2] as number, m[3] as number)
        return
      case C_READY:
        this.ready(m[1] as MethodInfo[], m[2] as Array<{ name: string, description?: string }>, m[3] as number)
        return
      case C_START_FAILED:
        this.startWaiter?.reject(new ModuleStartFailedError(this.name, { cause: errorFromWire(m[1] as ErrorWire) }))
        return
      case C_STOPPED:
        if (m[1] !== undefined) this.stopError = m[1] as ErrorWire
        this.stopTimedOut = m[2] === true
        this.held = m[3] === true
        this.onStopped?.()
        return
      case C_FATAL:
        this.fatal = m[1] as ErrorWire
        this.port.log({ at: Date.now(), module: this.name, level: 'error', message: `uncaught exception: ${this.fatal.message}`, fields: { pid: this.pid, code: this.fatal.code } })
        return
      default:
        this.kill('protocol-error')
    }
  }

  private ready (methods: MethodInfo[], events: Array<{ name: string, description?: string }>, rssBytes: number): void {
    for (const info of methods) {
      const method = info.name
      this.methods.set(method, { ...info, invoke: (params, ctx) => this.call(method, params, ctx) })
    }
    this.events.push(...events)
    this.rssBytes = rssBytes
    this.startWaiter?.resolve()
  }

  private settle (id: number, ok: boolean, value: unknown): void {
    const call = this.pending.get(id)
    if (call === undefined) return
    this.pending.delete(id)
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort)
    clearTimeout(call.grace)
    if (ok) call.resolve(value)
    else call.reject(errorFromWire(value as ErrorWire))
  }

  /**
   * A call the module makes: through the kernel, cancellable from the child. Made within a call still in flight here, it
   * is made as that call's child (the kernel cancels it with its parent); else with the parent's meta, for the trace.
   */
  private nestedCall (id: number, target: string, method: string, params: unknown, parent: CallMeta | undefined, timeout: number | undefined, parentChannel: number | undefined): void {
    if (this.nested.size >= MAX_IN_FLIGHT) {
      this.trySend([P_ERROR, id, errorToWire(new QueueFullError(`calls in flight from "${this.name}"`, MAX_IN_FLIGHT))])
      return
    }
    const controller = new AbortController()
    this.nested.set(id, controller)
    const options: CallOptions = timeout === undefined ? { signal: controller.signal } : { signal: controller.signal, timeout }
    const within = parentChannel === undefined ? undefined : this.pending.get(parentChannel)
    const meta: CallMeta | undefined = within !== undefined && within.ctx.id === parent?.id
      ? within.ctx
      : parent === undefined ? undefined : { id: parent.id, parentId: parent.parentId, depth: Math.max(0, parent.depth), caller: parent.caller }
    this.port.dispatch(this.name, meta, target, method, params, options).then(
      (value) => {
        if (!this.nested.delete(id)) return
        try {
          this.process.channel.send([P_RESULT, id, value])
        } catch (err) {
          this.trySend([P_ERROR, id, errorToWire(this.sendFailure(err, `the result of ${target}.${method}`))])
        }
      },
      (err: unknown) => {
        if (!this.nested.delete(id)) return
        this.trySend([P_ERROR, id, errorToWire(err)])
      }
    )
  }

  private subscribe (id: number, source: string, event: string): void {
    if (this.subscriptions.size >= MAX_SUBSCRIPTIONS) {
      this.port.log({ at: Date.now(), module: this.name, level: 'error', message: `subscription to ${source}/${event} refused: more than ${MAX_SUBSCRIPTIONS}` })
      return
    }
    let warned = false
    const off = this.port.subscribe(this.name, source, event, (payload: unknown, meta: EventMeta) => {
      if (this.down !== undefined) return
      try {
        this.process.channel.send([P_EVENT, id, payload, meta.source, meta.event, meta.at, meta.callId])
      } catch (err) {
        if (warned) return
        warned = true
        this.port.log({ at: Date.now(), module: this.name, level: 'warn', message: `event ${meta.source}/${meta.event} not delivered: ${(err as Error).message}` })
      }
    })
    this.subscriptions.set(id, off)
  }

  private sendFailure (err: unknown, what: string): Error {
    if (err instanceof PmNotSerializableError) return new PmNotSerializableError(what, { cause: err.cause })
    if (err instanceof PmProtocolError && this.process.channel.isClosed) return this.crashError()
    return err as Error
  }

  private trySend (message: Message): boolean {
    try {
      this.process.channel.send(message)
      return true
    } catch {
      return false
    }
  }
}
