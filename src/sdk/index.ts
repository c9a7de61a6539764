/**
 * The module SDK: the only thing a module imports from this project. It can run in the kernel's process or in a
 * process of its own without a change.
 */
export { defineModule } from './define-module.ts'
export type {
  ModuleDefinition, ModuleContext, ModuleRuntime, MethodTable, MethodHandler, MethodSpec, CallContext, CallOptions,
  EventHandler, EventMeta, EventSpec, Logger, LogLevel, RemoteApi, JsonSchema, DirectoryEntry, ModuleState,
  // For privileged system modules (process manager, developer module, package manager):
  SystemAccess, Host, LaunchSpec, ModuleInstance, KeptCode, MethodEntry, InstanceReporter, KernelPort, ProcessInfo, CallMeta,
  ModuleManifest, ModuleSource, TraceRecord, TraceFilter, TraceListener, LogEntry, LogAccess, MethodInfo
} from '../kernel/index.ts'
export {
  ModuleNotFoundError, MethodNotFoundError, ModuleNotRunningError, CallTimeoutError, CallAbortedError,
  CallDepthExceededError, ModuleCrashedError, ModuleStartFailedError, BadManifestError, QueueFullError,
  HostUnsupportedError, createModuleContext, methodEntries, importDefinition, checkDefinitionAgrees, validateManifest,
  MANIFEST_FILE, DIRECTORY_MODULE, IN_PROCESS_HOST, LOG_LEVELS, isLogLevel, levelEnabled
} from '../kernel/index.ts'
export {
  LogosError, AbortedError, TimeoutError, InvalidArgumentError, registerErrors, errorToWire, errorFromWire,
  delay, raceSignal, throwIfAborted, combineSignals, writeFileAtomic
} from '../common/index.ts'
export type { ErrorWire, AbortOptions } from '../common/index.ts'
