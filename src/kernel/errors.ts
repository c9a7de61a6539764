import { LogosError, registerErrors } from '../common/index.ts'
import type { LogosErrorOptions } from '../common/index.ts'

/** Every failure the kernel reports; codes are stable and listed in docs/errors.md. */

/** No module of that name is loaded. */
export class ModuleNotFoundError extends LogosError {
  static readonly code = 'ERR_MODULE_NOT_FOUND'
  constructor (module: string, options: LogosErrorOptions = {}) {
    super(ModuleNotFoundError.code, `module "${module}" is not loaded`, { ...options, data: { module, ...options.data } })
  }
}

/** The module runs but has no method of that name. */
export class MethodNotFoundError extends LogosError {
  static readonly code = 'ERR_METHOD_NOT_FOUND'
  constructor (module: string, method: string, available: readonly string[] = []) {
    super(MethodNotFoundError.code, `module "${module}" has no method "${method}"${available.length > 0 ? ` (it has: ${available.join(', ')})` : ''}`, { data: { module, method } })
  }
}

/** The module is loaded but not running (or did not come back within the call wait). */
export class ModuleNotRunningError extends LogosError {
  static readonly code = 'ERR_MODULE_NOT_RUNNING'
  constructor (module: string, state: string, options: LogosErrorOptions = {}) {
    super(ModuleNotRunningError.code, `module "${module}" is ${state}, not running`, { retryable: state !== 'failed', ...options, data: { module, state } })
  }
}

/** The call passed its deadline (`timeout`, else the kernel default of 30 s). */
export class CallTimeoutError extends LogosError {
  static readonly code = 'ERR_CALL_TIMEOUT'
  constructor (module: string, method: string, timeoutMs: number) {
    super(CallTimeoutError.code, `call ${module}.${method} timed out after ${timeoutMs} ms`, { retryable: true, data: { module, method, timeoutMs } })
  }
}

/** The caller's AbortSignal fired. */
export class CallAbortedError extends LogosError {
  static readonly code = 'ERR_CALL_ABORTED'
  constructor (module: string, method: string, options: LogosErrorOptions = {}) {
    super(CallAbortedError.code, `call ${module}.${method} was aborted`, { ...options, data: { module, method } })
  }
}

/** A call chain went deeper than the bound (default 32): usually a call loop. */
export class CallDepthExceededError extends LogosError {
  static readonly code = 'ERR_CALL_DEPTH_EXCEEDED'
  constructor (module: string, method: string, maxDepth: number) {
    super(CallDepthExceededError.code, `call ${module}.${method} exceeds the maximum call depth of ${maxDepth} (a call loop?)`, { data: { module, method, maxDepth } })
  }
}

/** A manifest field is missing or wrong; the message names the field and what it expected. */
export class BadManifestError extends LogosError {
  static readonly code = 'ERR_BAD_MANIFEST'
  constructor (field: string, expected: string, got: unknown, source?: string) {
    super(BadManifestError.code, `bad module manifest${source === undefined ? '' : ` (${source})`}: field "${field}" must be ${expected}, got ${describeValue(got)}`, { data: { field, expected, source } })
  }
}

/** A module of that name is already loaded. */
export class ModuleAlreadyLoadedError extends LogosError {
  static readonly code = 'ERR_MODULE_ALREADY_LOADED'
  constructor (module: string, version: string) {
    super(ModuleAlreadyLoadedError.code, `module "${module}" is already loaded (version ${version})`, { data: { module, version } })
  }
}

/** Modules depend on each other in a cycle; `data.chain` names it. */
export class DependencyCycleError extends LogosError {
  static readonly code = 'ERR_DEPENDENCY_CYCLE'
  readonly chain: string[]
  constructor (chain: string[]) {
    super(DependencyCycleError.code, `dependency cycle: ${chain.join(' -> ')}`, { data: { chain } })
    this.chain = chain
  }
}

/** A required module is not loaded; the message names the chain of requirements. */
export class DependencyMissingError extends LogosError {
  static readonly code = 'ERR_DEPENDENCY_MISSING'
  constructor (chain: string[], missing: string, range: string) {
    super(DependencyMissingError.code, `${chain.join(' -> ')} requires ${missing}@${range}, which is not loaded`, { data: { chain, missing, range } })
  }
}

/** A loaded module's version is outside a dependent's range; the message names the chain. */
export class VersionConflictError extends LogosError {
  static readonly code = 'ERR_VERSION_CONFLICT'
  constructor (chain: string[], dependency: string, range: string, loaded: string) {
    super(VersionConflictError.code, `${chain.join(' -> ')} requires ${dependency}@${range}, but ${dependency}@${loaded} is loaded`, { data: { chain, dependency, range, loaded } })
  }
}

/** A module could not start because one of its dependencies failed. */
export class DependencyFailedError extends LogosError {
  static readonly code = 'ERR_DEPENDENCY_FAILED'
  constructor (module: string, dependency: string, options: LogosErrorOptions = {}) {
    super(DependencyFailedError.code, `module "${module}" cannot start: its dependency "${dependency}" failed`, { ...options, data: { module, dependency } })
  }
}

/** Stopping or unloading refused while others depend on the module (ask for a cascade). */
export class HasDependentsError extends LogosError {
  static readonly code = 'ERR_HAS_DEPENDENTS'
  constructor (module: string, dependents: string[], action: string) {
    super(HasDependentsError.code, `cannot ${action} "${module}": ${dependents.join(', ')} depend${dependents.length === 1 ? 's' : ''} on it (ask for a cascade)`, { data: { module, dependents, action } })
  }
}

/** The module's start threw or timed out; it is `failed` with this cause. */
export class ModuleStartFailedError extends LogosError {
  static readonly code = 'ERR_MODULE_START_FAILED'
  constructor (module: string, options: LogosErrorOptions = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(ModuleStartFailedError.code, `module "${module}" failed to start${reason}`, { ...options, data: { module, ...options.data } })
  }
}

/** The module's stop hook threw or timed out. */
export class ModuleStopFailedError extends LogosError {
  static readonly code = 'ERR_MODULE_STOP_FAILED'
  constructor (module: string, options: LogosErrorOptions = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(ModuleStopFailedError.code, `module "${module}" failed to stop cleanly${reason}`, { ...options, data: { module } })
  }
}

/** A lifecycle transition the state machine does not allow. */
export class InvalidStateError extends LogosError {
  static readonly code = 'ERR_INVALID_STATE'
  constructor (module: string, from: string, to: string) {
    super(InvalidStateError.code, `module "${module}" cannot go from ${from} to ${to}`, { data: { module, from, to } })
  }
}

/** The module asks for a host that no module has registered. */
export class HostNotFoundError extends LogosError {
  static readonly code = 'ERR_HOST_NOT_FOUND'
  constructor (host: string, available: readonly string[]) {
    super(HostNotFoundError.code, `no host named "${host}" is registered (registered: ${available.join(', ')})`, { data: { host, available } })
  }
}

/** The host cannot run this module (e.g. a privileged module outside the kernel's process). */
export class HostUnsupportedError extends LogosError {
  static readonly code = 'ERR_HOST_UNSUPPORTED'
  constructor (host: string, module: string, reason: string) {
    super(HostUnsupportedError.code, `host "${host}" cannot run module "${module}": ${reason}`, { data: { host, module } })
  }
}

/** The module's process died while the call was in flight. */
export class ModuleCrashedError extends LogosError {
  static readonly code = 'ERR_MODULE_CRASHED'
  constructor (module: string, options: LogosErrorOptions = {}) {
    super(ModuleCrashedError.code, `module "${module}" crashed`, { retryable: true, ...options, data: { module, ...options.data } })
  }
}

/** A bounded queue is full; retry later. */
export class QueueFullError extends LogosError {
  static readonly code = 'ERR_QUEUE_FULL'
  constructor (what: string, limit: number) {
    super(QueueFullError.code, `${what} is full (limit ${limit})`, { retryable: true, data: { what, limit } })
  }
}

/** Only trusted sources may load privileged modules. */
export class NotPrivilegedError extends LogosError {
  static readonly code = 'ERR_NOT_PRIVILEGED'
  constructor (module: string, what: string) {
    super(NotPrivilegedError.code, `module "${module}" is not privileged and cannot ${what}`, { data: { module } })
  }
}

/** The module's files could not be read or imported. */
export class ModuleLoadFailedError extends LogosError {
  static readonly code = 'ERR_MODULE_LOAD_FAILED'
  constructor (source: string, options: LogosErrorOptions = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(ModuleLoadFailedError.code, `cannot load module from ${source}${reason}`, { ...options, data: { source } })
  }
}

/** The kernel is shutting down and takes no new work. */
export class KernelStoppedError extends LogosError {
  static readonly code = 'ERR_KERNEL_STOPPED'
  constructor () {
    super(KernelStoppedError.code, 'the kernel is shutting down')
  }
}

function describeValue (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `${typeof value} ${String(value)}`
}

registerErrors(
  ModuleNotFoundError, MethodNotFoundError, ModuleNotRunningError, CallTimeoutError, CallAbortedError,
  CallDepthExceededError, BadManifestError, ModuleAlreadyLoadedError, DependencyCycleError, DependencyMissingError,
  VersionConflictError, DependencyFailedError, HasDependentsError, ModuleStartFailedError, ModuleStopFailedError,
  InvalidStateError, HostNotFoundError, HostUnsupportedError, ModuleCrashedError, QueueFullError, NotPrivilegedError,
  ModuleLoadFailedError, KernelStoppedError
)

/** The built-in directory module cannot be stopped, unloaded or reloaded. */
export class ModuleProtectedError extends LogosError {
  static readonly code = 'ERR_MODULE_PROTECTED'
  constructor (module: string, action: string) {
    super(ModuleProtectedError.code, `module "${module}" is part of the kernel and cannot ${action}`, { data: { module, action } })
  }
}

/** New code failed to start; `data.rolledBack` says whether the previous code runs again. */
export class ReloadFailedError extends LogosError {
  static readonly code = 'ERR_RELOAD_FAILED'
  constructor (module: string, rolledBack: boolean, options: LogosErrorOptions = {}) {
    const reason = options.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(ReloadFailedError.code, `reloading "${module}" failed${reason}; ${rolledBack ? 'the previous code runs again' : 'the previous code could not be restored either'}`, { ...options, data: { module, rolledBack } })
  }
}

registerErrors(ModuleProtectedError, ReloadFailedError)
