/**
 * The microkernel: directory, lifecycle, loader, call routing, events and the Host interface.
 * Modules never import this folder; they import the SDK.
 */
export { Kernel } from './kernel.ts'
export type { KernelOptions, StartResult } from './kernel.ts'
export { inProcessHost, IN_PROCESS_HOST } from './in-process-host.ts'
export { createModuleContext, createProxy, methodEntries } from './module-context.ts'
export type { ContextHandle, ModuleContextInit } from './module-context.ts'
export { validateManifest, defaultExportName, MODULE_NAME_PATTERN } from './manifest.ts'
export { readModuleFolder, importDefinition, checkDefinitionAgrees, MANIFEST_FILE } from './loader.ts'
export type { ModuleFolder } from './loader.ts'
export { startOrder, stopOrder, directDependents } from './dependency-graph.ts'
export { canTransition, WAITING_STATES } from './lifecycle.ts'
export { LogHub, LOG_LEVELS, isLogLevel, levelEnabled } from './log-hub.ts'
export { TraceBus } from './trace-bus.ts'
export * from './constants.ts'
export * from './errors.ts'
export type * from './types.ts'
