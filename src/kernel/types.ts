import type { ErrorWire } from '../common/index.ts'

/** The lifecycle of one module; see lifecycle.ts for the allowed transitions. */
export type ModuleState =
  | 'resolved' // loaded and its manifest valid; not started
  | 'starting'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'restarting' // its host is bringing it back after a crash; calls wait
  | 'reloading' // its code is being replaced; calls wait
  | 'failed'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

/** What module.json holds (see manifest.ts for the rules). */
export interface ModuleManifest {
  name: string
  version: string
  description?: string
  /** The module's code, relative to the manifest's folder (absolute once loaded). */
  entry?: string
  /** The named export of the entry that holds the definition; defaults to the camelCase module name. */
  export?: string
  /** name -> semver range */
  dependencies: Record<string, string>
  /** The host it prefers ("in-process", "child-process"); the user's configuration can override it. */
  host?: string
  /** Privileged modules get `ctx.system` (kernel control); only trusted sources may load them. */
  privileged?: boolean
  /** Host-specific settings (restart policy, memory ceiling, ...), read by the host. */
  hostOptions?: Record<string, unknown>
}

export interface CallOptions {
  signal?: AbortSignal
  /** Milliseconds; overrides the kernel's default deadline for this call. */
  timeout?: number
}

/** What every method handler receives about the call it serves; `call` makes a child call linked to this one. */
export interface CallContext {
  readonly id: number
  readonly parentId: number | undefined
  readonly depth: number
  /** The calling module's name, or "external" for calls from outside the kernel. */
  readonly caller: string
  readonly signal: AbortSignal | undefined
  /** Absolute deadline (ms since the epoch) when the call has one; `signal` fires when it passes. */
  readonly deadline?: number | undefined
  call: <R = unknown>(target: string, method: string, params?: unknown, options?: CallOptions) => Promise<R>
}

/** The part of a call that crosses a process boundary. */
export interface CallMeta {
  id: number
  parentId: number | undefined
  depth: number
  caller: string
  /** Absolute deadline (ms since the epoch), when there is one. */
  deadline?: number
}

export type MethodHandler<P = never, R = unknown> = (params: P, call: CallContext) => R | Promise<R>

/** JSON Schema, loosely typed: it is data for documentation and validation. */
export type JsonSchema = Record<string, unknown>

export interface MethodSpec<P = never, R = unknown> {
  handler: MethodHandler<P, R>
  description?: string
  params?: JsonSchema
  result?: JsonSchema
}

// Handlers take different parameter types; `never` is the bottom type that makes every handler assignable here.
export type MethodTable = Record<string, MethodHandler<never, unknown> | MethodSpec<never, unknown>>

export interface EventSpec {
  description?: string
  payload?: JsonSchema
}

/** What a module's start returns: its methods and how to stop it. */
export interface ModuleRuntime {
  methods?: MethodTable
  stop?: (options: { signal: AbortSignal }) => void | Promise<void>
}

export interface ModuleDefinition {
  /** Optional when a module.json gives it; must agree with it when both do. */
  name?: string
  version?: string
  description?: string
  dependencies?: Record<string, string>
  host?: string
  privileged?: boolean
  hostOptions?: Record<string, unknown>
  /** The events it emits, for the directory. */
  events?: Record<string, EventSpec>
  start: (ctx: ModuleContext) => ModuleRuntime | Promise<ModuleRuntime>
}

export interface EventMeta {
  source: string
  event: string
  /** The call during which it was emitted, if any. */
  callId?: number
  at: number
}

export type EventHandler = (payload: unknown, meta: EventMeta) => void

export interface Logger {
  trace: (message: string, fields?: Record<string, unknown>) => void
  debug: (message: string, fields?: Record<string, unknown>) => void
  info: (message: string, fields?: Record<string, unknown>) => void
  warn: (message: string, fields?: Record<string, unknown>) => void
  error: (message: string, fields?: Record<string, unknown>) => void
}

export interface LogEntry {
  at: number
  module: string
  level: LogLevel
  message: string
  fields?: Record<string, unknown>
}

/** Turns a module's method table type into the typed proxy `ctx.use<T>()` returns. */
export type RemoteApi<T> = {
  [K in keyof T]: T[K] extends (params: infer P, ...rest: infer _Rest) => infer R
    ? (params: P, options?: CallOptions) => Promise<Awaited<R>>
    : never
}

/** What a module sees of the node; the SDK's only runtime object. */
export interface ModuleContext {
  readonly name: string
  readonly version: string
  /** A folder of its own under the node's data directory. */
  readonly dataDir: string
  readonly config: Readonly<Record<string, unknown>>
  readonly log: Logger
  /** Aborted when the module is being stopped. */
  readonly signal: AbortSignal
  call: <R = unknown>(target: string, method: string, params?: unknown, options?: CallOptions) => Promise<R>
  use: <T>(target: string) => RemoteApi<T>
  emit: (event: string, payload?: unknown) => void
  on: (source: string, event: string, handler: EventHandler) => () => void
  /** Kernel control, only for privileged modules running in the kernel's process. */
  readonly system: SystemAccess | undefined
}

export interface MethodInfo {
  name: string
  description?: string
  params?: JsonSchema
  result?: JsonSchema
}

export interface ProcessInfo {
  pid: number
  /** CPU use over the last sampling period, percent of one core. */
  cpuPercent?: number
  rssBytes?: number
  restarts: number
  startedAt: number
}

/** One row of the directory. */
export interface DirectoryEntry {
  name: string
  version: string
  description?: string
  state: ModuleState
  host: string
  dependencies: Record<string, string>
  dependents: string[]
  methods: MethodInfo[]
  events: Array<{ name: string, description?: string }>
  /** Since the last start, ms. */
  uptimeMs?: number
  process?: ProcessInfo
  cause?: ErrorWire
  source?: string
}

export type TraceRecord =
  | CallTrace
  | EventTrace
  | LifecycleTrace
  | SupervisionTrace

export interface CallTrace {
  type: 'call'
  id: number
  parentId: number | undefined
  depth: number
  caller: string
  target: string
  method: string
  /** ms since the epoch */
  at: number
  durationNs: number
  ok: boolean
  error?: { code: string, message: string }
}

export interface EventTrace {
  type: 'event'
  source: string
  event: string
  callId?: number
  at: number
  subscribers: number
}

export interface LifecycleTrace {
  type: 'lifecycle'
  module: string
  from: ModuleState | 'unloaded'
  to: ModuleState | 'unloaded'
  at: number
  cause?: ErrorWire
}

/** Reported by hosts that supervise modules: crashes, restarts, giving up. */
export interface SupervisionTrace {
  type: 'supervision'
  module: string
  action: 'crashed' | 'restarting' | 'restarted' | 'gave-up' | 'exited' | 'rolled-back'
  at: number
  detail: Record<string, unknown>
}

export interface TraceFilter {
  types?: Array<TraceRecord['type']>
  modules?: string[]
}

export type TraceListener = (record: TraceRecord) => void

// ---- hosts ------------------------------------------------------------------------------------------------------

/** A method as a host exposes it to the kernel. */
export interface MethodEntry extends MethodInfo {
  invoke: (params: unknown, call: CallContext) => unknown
}

/** A module running somewhere; made by a Host. */
export interface ModuleInstance {
  readonly methods: ReadonlyMap<string, MethodEntry>
  /** The code this instance runs, when the host holds it in the kernel's process: a failed reload rolls back to it. */
  readonly definition?: ModuleDefinition
  readonly events: ReadonlyArray<{ name: string, description?: string }>
  stop: (options: { signal: AbortSignal }) => Promise<void>
  /**
   * Optional, for hosts that run a module's code outside the kernel's process (so it has no `definition`): stops the
   * module as `stop` does, but keeps its code loaded where it ran. A reload calls it instead of `stop`, so that when the
   * new code fails the code that ran before can start again (its folder already holds the new code by then).
   */
  stopAndKeep?: (options: { signal: AbortSignal }) => Promise<KeptCode | undefined>
  info: () => ProcessInfo | undefined
}

/** A stopped module's code, still loaded by its host (see ModuleInstance.stopAndKeep). */
export interface KeptCode {
  /** Starts the kept code again (a reload's rollback), as `Host.launch` starts a module. */
  relaunch: (spec: LaunchSpec) => Promise<ModuleInstance>
  /** The kept code is not needed any more (the new code runs); nothing once it was relaunched. */
  release: () => Promise<void>
}

/** What a module instance may ask of the kernel (and what a child process's port forwards). */
export interface KernelPort {
  dispatch: (caller: string, parent: CallMeta | undefined, target: string, method: string, params: unknown, options?: CallOptions) => Promise<unknown>
  emit: (source: string, event: string, payload: unknown, callId?: number) => void
  subscribe: (subscriber: string, source: string, event: string, handler: EventHandler) => () => void
  log: (entry: LogEntry) => void
  logLevel: (module: string) => LogLevel
}

/** How a host tells the kernel about an instance it supervises. */
export interface InstanceReporter {
  crashed: (detail: Record<string, unknown>) => void
  restarting: (detail: Record<string, unknown>) => void
  restarted: (instance: ModuleInstance, detail: Record<string, unknown>) => void
  gaveUp: (cause: Error, detail: Record<string, unknown>) => void
  /** The module ended by itself, cleanly, and its host leaves it down by policy: it is `stopped`, not `failed`. */
  exited: (detail: Record<string, unknown>) => void
}

export interface LaunchSpec {
  manifest: Readonly<ModuleManifest>
  /** Absolute path of the entry file, when the module comes from a folder. */
  entryPath?: string
  /** The definition itself, when the module was loaded from code. */
  definition?: ModuleDefinition
  dataDir: string
  config: Record<string, unknown>
  port: KernelPort
  reporter: InstanceReporter
  /** Only for privileged modules on a host that runs them in the kernel's process. */
  system?: SystemAccess
  signal: AbortSignal
}

/** "Run this module somewhere and give me a channel to it." */
export interface Host {
  readonly name: string
  launch: (spec: LaunchSpec) => Promise<ModuleInstance>
  close?: () => Promise<void>
}

// ---- privileged access --------------------------------------------------------------------------------------------

export type ModuleSource =
  | ModuleDefinition
  | { dir: string }

export interface LoadOptions {
  host?: string
  config?: Record<string, unknown>
  /** Sources the node trusts (its own distribution) may load privileged modules. */
  trusted?: boolean
}

export interface StopOptions {
  cascade?: boolean
  signal?: AbortSignal
}

export interface SystemAccess {
  registerHost: (host: Host) => () => void
  hosts: () => string[]
  subscribeTrace: (listener: TraceListener, filter?: TraceFilter) => () => void
  list: () => DirectoryEntry[]
  describe: (name: string) => DirectoryEntry
  load: (source: ModuleSource, options?: LoadOptions) => Promise<DirectoryEntry>
  unload: (name: string, options?: StopOptions) => Promise<void>
  start: (name: string, options?: { signal?: AbortSignal }) => Promise<void>
  stop: (name: string, options?: StopOptions) => Promise<void>
  reload: (name: string, options?: { source?: ModuleSource, signal?: AbortSignal }) => Promise<void>
  call: (target: string, method: string, params?: unknown, options?: CallOptions) => Promise<unknown>
  logs: LogAccess
  dataDir: string
}

export interface LogAccess {
  tail: (module: string | undefined, limit?: number) => LogEntry[]
  subscribe: (listener: (entry: LogEntry) => void) => () => void
  setLevel: (module: string, level: LogLevel) => void
  level: (module: string) => LogLevel
}
