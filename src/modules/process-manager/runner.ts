/**
 * The entry of a module process. The host spawns it with a Unix socket pair on fd 3; it boots, says HELLO, and waits
 * for INIT, which names the module to become (a spare process waits here until a module needs it). Then it imports
 * the module's entry, gives it a context whose KernelPort forwards over the socket, and serves calls.
 *
 * It never outlives the node: when the socket ends it exits, and a watchdog thread, which keeps running when the
 * module blocks the main thread, kills the process once its parent has died. It ignores the terminal's SIGINT and
 * SIGHUP, which reach the node's whole process group: the node stops its modules itself, in order.
 */
import { Socket } from 'node:net'
import { Worker } from 'node:worker_threads'
import {
  CallAbortedError, CallTimeoutError, MethodNotFoundError, ModuleNotRunningError, QueueFullError, checkDefinitionAgrees,
  createModuleContext, errorFromWire, errorToWire, importDefinition, methodEntries
} from '../../sdk/index.ts'
import type {
  CallContext, CallMeta, CallOptions, EventHandler, EventMeta, KernelPort, LogEntry, LogLevel, MethodEntry, MethodInfo,
  ModuleDefinition, ModuleRuntime
} from '../../sdk/index.ts'
import { Channel } from './channel.ts'
import {
  CHANNEL_FD, EXIT_CODE_CHANNEL_LOST, EXIT_FLUSH_MS, MAX_IN_FLIGHT, ORPHAN_CHECK_INTERVAL_MS, PARENT_DEATH_CHECK_MS
} from './constants.ts'
import { PmNotSerializableError } from './errors.ts'
import type { Message } from './framing.ts'
import {
  C_CALL, C_CANCEL, C_EMIT, C_ERROR, C_FATAL, C_HELLO, C_LOG, C_PONG, C_READY, C_RESULT, C_START_FAILED, C_STOPPED,
  C_SUBSCRIBE, C_UNSUBSCRIBE, P_CALL, P_CANCEL, P_ERROR, P_EVENT, P_INIT, P_PING, P_RESULT, P_STOP
} from './protocol.ts'
import type { InitMessage } from './protocol.ts'

const parentPid = process.ppid

process.on('SIGINT', () => {})
process.on('SIGHUP', () => {})

// The watchdog runs in a thread of its own so that a module stuck in a synchronous loop still dies with its node.
const WATCHDOG = `
const { workerData } = require('node:worker_threads')
setInterval(() => {
  if (process.ppid !== workerData.parentPid) process.kill(workerData.pid, 'SIGKILL')
}, workerData.intervalMs)
`
const watchdog = new Worker(WATCHDOG, { eval: true, workerData: { parentPid, pid: process.pid, intervalMs: ORPHAN_CHECK_INTERVAL_MS } })
watchdog.unref()

interface OutgoingCall {
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

let moduleName = '(spare)'
let logLevel: LogLevel = 'info'
/** `held`: its module stopped for a reload, its code still loaded, in case the new code fails and this one runs again. */
let state: 'waiting' | 'starting' | 'running' | 'stopping' | 'held' = 'waiting'
let definition: ModuleDefinition | undefined
let methods: Map<string, MethodEntry> = new Map()
let runtime: ModuleRuntime | undefined
let dispose: (() => void) | undefined
const serving = new Map<number, ChildCall>()
const outgoing = new Map<number, OutgoingCall>()
const subscriptions = new Map<number, EventHandler>()
let nextCallId = 0
let nextSubscriptionId = 0

/**
 * The context of a call the module serves. Its signal is made on first use (most handlers never look at it); it fires
 * when the host cancels the call (with the kernel's reason) or, on this side, when the call's deadline passes.
 */
class ChildCall implements CallContext, CallMeta {
  readonly id: number
  readonly parentId: number | undefined
  readonly depth: number
  readonly caller: string
  readonly deadline: number | undefined
  readonly method: string
  /** The id of this call on the channel (the host's CALL), which the calls it makes name as their parent. */
  readonly channelId: number
  private controller: AbortController | undefined
  /** Why the call was cancelled (the host's reason, or its deadline here): once it is, that is the call's outcome. */
  cancelledWith: Error | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the handler first looked at its signal (the clock is read then, not at every call: that would cost more than the rest of a call here). */
  private watchedFrom: number | undefined

  constructor (channelId: number, id: number, parentId: number | undefined, depth: number, caller: string, method: string, deadline: number | undefined) {
    this.channelId = channelId
    this.id = id
    this.parentId = parentId
    this.depth = depth
    this.caller = caller
    this.method = method
    this.deadline = deadline
  }

  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.cancelledWith !== undefined) {
        this.controller.abort(this.cancelledWith)
      } else if (this.deadline !== undefined) {
        // The deadline is enforced here too: the handler hears of it even if the host's CANCEL is late.
        this.watchedFrom = Date.now()
        const left = this.deadline - this.watchedFrom
        if (left <= 0) {
          this.cancel(this.timeoutError())
        } else {
          this.timer = setTimeout(() => { this.cancel(this.timeoutError()) }, left)
          this.timer.unref()
        }
      }
    }
    return this.controller.signal
  }

  cancel (reason: Error): void {
    if (this.cancelledWith !== undefined) return
    this.cancelledWith = reason
    this.release()
    this.controller?.abort(reason)
  }

  /** The handler answered: no deadline to watch any more. */
  release (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** A call made while serving this one is cancelled with it (the kernel does the same on its side). */
  async call<R = unknown> (target: string, method: string, params?: unknown, options?: CallOptions): Promise<R> {
    const signal = options?.signal === undefined ? this.signal : AbortSignal.any([options.signal, this.signal])
    return await (port.dispatch(moduleName, this, target, method, params, { ...options, signal }) as Promise<R>)
  }

  /** Its timeout as far as this process knows: the time the call had left when the handler first looked (a lower bound). */
  private timeoutError (): CallTimeoutError {
    return new CallTimeoutError(moduleName, this.method, Math.max(0, Math.round((this.deadline ?? 0) - (this.watchedFrom ?? Date.now()))))
  }
}

const port: KernelPort = {
  dispatch (_caller: string, parent: CallMeta | undefined, target: string, method: string, params: unknown, options?: CallOptions): Promise<unknown> {
    if (outgoing.size >= MAX_IN_FLIGHT) return Promise.reject(new QueueFullError(`calls in flight from "${moduleName}"`, MAX_IN_FLIGHT))
    const signal = options?.signal
    if (signal?.aborted === true) return Promise.reject(new CallAbortedError(target, method, { cause: signal.reason }))
    const id = ++nextCallId
    const meta = parent === undefined ? undefined : { id: parent.id, parentId: parent.parentId, depth: parent.depth, caller: parent.caller }
    try {
      channel.send([C_CALL, id, target, method, params, meta, options?.timeout, parent instanceof ChildCall ? parent.channelId : undefined])
    } catch (err) {
      return Promise.reject(err instanceof PmNotSerializableError ? new PmNotSerializableError(`the parameters of ${target}.${method}`, { cause: err.cause }) : err)
    }
    return new Promise((resolve, reject) => {
      const call: OutgoingCall = { resolve, reject }
      if (signal !== undefined) {
        call.signal = signal
        call.onAbort = () => {
          if (!outgoing.delete(id)) return
          trySend([C_CANCEL, id])
          reject(new CallAbortedError(target, method, { cause: signal.reason }))
        }
        signal.addEventListener('abort', call.onAbort, { once: true })
      }
      outgoing.set(id, call)
    })
  },
  emit (_source: string, event: string, payload: unknown): void {
    try {
      channel.send([C_EMIT, event, payload])
    } catch (err) {
      if (err instanceof PmNotSerializableError) throw new PmNotSerializableError(`the payload of event "${event}"`, { cause: err.cause })
      throw err
    }
  },
  subscribe (_subscriber: string, source: string, event: string, handler: EventHandler): () => void {
    const id = ++nextSubscriptionId
    subscriptions.set(id, handler)
    trySend([C_SUBSCRIBE, id, source, event])
    return () => {
      if (subscriptions.delete(id)) trySend([C_UNSUBSCRIBE, id])
    }
  },
  log (entry: LogEntry): void {
    if (!trySend([C_LOG, entry.level, entry.message, entry.fields, entry.at])) {
      trySend([C_LOG, entry.level, entry.message, { note: 'fields could not cross the process boundary' }, entry.at])
    }
  },
  logLevel (): LogLevel {
    return logLevel
  }
}

function trySend (message: Message): boolean {
  try {
    channel.send(message)
    return true
  } catch {
    return false
  }
}

function reply (id: number, method: string, value: unknown): void {
  try {
    channel.send([C_RESULT, id, value])
  } catch (err) {
    replyError(id, err instanceof PmNotSerializableError ? new PmNotSerializableError(`the result of ${moduleName}.${method}`, { cause: err.cause }) : err)
  }
}

function replyError (id: number, err: unknown): void {
  const wire = errorToWire(err)
  if (trySend([C_ERROR, id, wire])) return
  // Its data did not survive serialization: send the rest.
  trySend([C_ERROR, id, { name: wire.name, code: wire.code, message: wire.message, retryable: wire.retryable, stack: wire.stack }])
}

function serve (id: number, method: string, params: unknown, callId: number, parentId: number | undefined, depth: number, caller: string, deadline: number | undefined): void {
  if (state !== 'running') {
    replyError(id, new ModuleNotRunningError(moduleName, state))
    return
  }
  const entry = methods.get(method)
  if (entry === undefined) {
    replyError(id, new MethodNotFoundError(moduleName, method, [...methods.keys()]))
    return
  }
  const ctx = new ChildCall(id, callId, parentId, depth, caller, method, deadline)
  let result: unknown
  try {
    result = entry.invoke(params, ctx)
  } catch (err) {
    ctx.release()
    replyError(id, ctx.cancelledWith ?? err)
    return
  }
  if (result instanceof Promise) {
    serving.set(id, ctx)
    result.then(
      (value: unknown) => { done(id, ctx, true, value) },
      (err: unknown) => { done(id, ctx, false, err) }
    )
  } else {
    done(id, ctx, true, result)
  }
}

/**
 * The handler answered. A call cancelled meanwhile (by the host, or by its deadline here) ends with the reason, as
 * in the kernel's process, where the caller has the timeout or abort error by then: a handler that stops early on its
 * signal cannot turn a timed-out call into a success.
 */
function done (id: number, ctx: ChildCall, ok: boolean, value: unknown): void {
  if (serving.get(id) === ctx) serving.delete(id)
  ctx.release()
  if (ctx.cancelledWith !== undefined) replyError(id, ctx.cancelledWith)
  else if (ok) reply(id, ctx.method, value)
  else replyError(id, value)
}

/**
 * The host gave up on a call: its handler's signal fires with the kernel's reason. Its entry goes now (a cancel is
 * told once), so a handler that never answers holds nothing here; its answer, if it comes, still goes to the host,
 * which counts the call in flight until then (or its grace period).
 */
function cancel (id: number, reason: unknown): void {
  const ctx = serving.get(id)
  if (ctx === undefined) return
  serving.delete(id)
  const error = reason === undefined ? new CallAbortedError(moduleName, ctx.method) : errorFromWire(reason as Parameters<typeof errorFromWire>[0])
  ctx.cancel(error)
}

function settle (id: number, ok: boolean, value: unknown): void {
  const call = outgoing.get(id)
  if (call === undefined) return
  outgoing.delete(id)
  if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort)
  if (ok) call.resolve(value)
  else call.reject(errorFromWire(value as Parameters<typeof errorFromWire>[0]))
}

function deliver (subscriptionId: number, payload: unknown, source: string, event: string, at: number, callId: number | undefined): void {
  const handler = subscriptions.get(subscriptionId)
  if (handler === undefined) return
  const meta: EventMeta = callId === undefined ? { source, event, at } : { source, event, callId, at }
  const failed = (err: unknown): void => {
    port.log({ at: Date.now(), module: moduleName, level: 'error', message: `handler for ${source}/${event} failed: ${(err as Error)?.message ?? String(err)}` })
  }
  try {
    const r: unknown = handler(payload, meta)
    if (r instanceof Promise) r.catch(failed)
  } catch (err) {
    failed(err)
  }
}

/** Becomes the module: imports its entry and starts it; or, with `reuse`, starts again the code this process holds. */
async function init (message: InitMessage): Promise<void> {
  state = 'starting'
  moduleName = message.manifest.name
  logLevel = message.logLevel
  process.title = `logos-module ${moduleName}`
  try {
    if (message.reuse !== true || definition === undefined) {
      definition = await importDefinition(message.entryPath, message.manifest)
      checkDefinitionAgrees(definition, message.manifest, message.entryPath)
    }
    const handle = createModuleContext({ manifest: message.manifest, dataDir: message.dataDir, config: message.config, port })
    dispose = handle.dispose
    runtime = await definition.start(handle.ctx)
    // The kernel's own method table builder, so a method table means the same thing in both hosts.
    methods = methodEntries(runtime ?? {})
  } catch (err) {
    dispose?.()
    const wire = errorToWire(err)
    if (!trySend([C_START_FAILED, wire])) trySend([C_START_FAILED, { name: wire.name, code: wire.code, message: wire.message, retryable: wire.retryable, stack: wire.stack }])
    exitAfterFlush(1)
    return
  }
  const infos: MethodInfo[] = [...methods.values()].map(({ invoke: _invoke, ...info }) => info)
  const events = Object.entries(definition?.events ?? {}).map(([name, e]) => e.description === undefined ? { name } : { name, description: e.description })
  state = 'running'
  channel.send([C_READY, infos, events, process.memoryUsage.rss()])
}

/**
 * Runs the module's stop hook within graceMs, answers STOPPED and exits; with `keep` (a reload), a module that stopped
 * cleanly leaves its code loaded and the process waits, held, for a reuse INIT (the reload failed) or its end.
 */
async function stop (graceMs: number, keep: boolean): Promise<void> {
  if (state === 'stopping' || state === 'held') return
  state = 'stopping'
  const signal = AbortSignal.timeout(graceMs)
  let failure: unknown
  // A hook that overstays its grace is cut short, not failed: the process ends either way.
  let timedOut = false
  const hook = runtime?.stop
  if (hook !== undefined) {
    const running = Promise.resolve().then(async () => { await hook({ signal }) })
    running.catch(() => {}) // a failure after the grace is nobody's business any more
    const grace = new Promise<void>((resolve) => { signal.addEventListener('abort', () => { timedOut = true; resolve() }, { once: true }) })
    try {
      await Promise.race([running, grace])
    } catch (err) {
      failure = err
    }
  }
  dispose?.()
  dispose = undefined
  // A hook cut short may still be releasing what the module held: only a clean stop leaves code fit to start again.
  if (keep && failure === undefined && !timedOut) {
    state = 'held'
    runtime = undefined
    methods = new Map()
    trySend([C_STOPPED, undefined, false, true])
    return
  }
  trySend([C_STOPPED, failure === undefined || timedOut ? undefined : errorToWire(failure), timedOut, false])
  exitAfterFlush(0)
}

/** Exits once the channel has delivered what is queued (or a moment later, whatever holds the process open). */
function exitAfterFlush (code: number): void {
  channel.end(() => process.exit(code))
  setTimeout(() => process.exit(code), EXIT_FLUSH_MS).unref()
}

function onMessage (m: Message): void {
  switch (m[0]) {
    case P_CALL:
      serve(m[1] as number, m[2] as string, m[3], m[4] as number, m[5] as number | undefined, m[6] as number, m[7] as string, m[8] as number | undefined)
      return
    case P_RESULT:
      settle(m[1] as number, true, m[2])
      return
    case P_ERROR:
      settle(m[1] as number, false, m[2])
      return
    case P_CANCEL:
      cancel(m[1] as number, m[2])
      return
    case P_EVENT:
      deliver(m[1] as number, m[2], m[3] as string, m[4] as string, m[5] as number, m[6] as number | undefined)
      return
    case P_PING: {
      logLevel = m[2] as LogLevel
      const cpu = process.cpuUsage()
      trySend([C_PONG, m[1], cpu.user + cpu.system, process.memoryUsage.rss()])
      return
    }
    case P_INIT:
      if (state === 'waiting' || (state === 'held' && (m[1] as InitMessage).reuse === true)) void init(m[1] as InitMessage)
      return
    case P_STOP:
      void stop(m[1] as number, m[2] === true)
  }
}

function onChannelClose (): void {
  if (state === 'stopping') return
  // Our parent closed the channel, or died: either way this process has no reason to live. Killed by a signal when
  // the parent is gone (nobody reads an exit code then); else an exit code that tells the parent what happened.
  setTimeout(() => {
    if (process.ppid !== parentPid) process.kill(process.pid, 'SIGKILL')
    process.exit(EXIT_CODE_CHANNEL_LOST)
  }, PARENT_DEATH_CHECK_MS)
}

const channel = new Channel(new Socket({ fd: CHANNEL_FD, readable: true, writable: true }), { onMessage, onClose: onChannelClose })

// An uncaught exception ends the process as Node always does (stack on stderr, exit code 1); the host hears why first.
process.on('uncaughtExceptionMonitor', (err) => {
  try {
    channel.send([C_FATAL, errorToWire(err)])
  } catch {
    // The report is best effort; stderr has the stack anyway.
  }
  channel.flushSync(CHANNEL_FD)
})

channel.send([C_HELLO, process.pid])
