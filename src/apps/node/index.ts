/** A Logos node: the kernel with the default distribution of modules, configured from its data directory. */
export { startNode, defaultDataDir, formatModuleTable } from './logos-node.ts'
export type { NodeOptions, LogosNode } from './logos-node.ts'
export { readNodeConfig, parseNodeConfig, NODE_CONFIG_FILE } from './node-config.ts'
export type { NodeConfig, ModuleSettings } from './node-config.ts'
export { findModuleFolders, BUILTIN_MODULES_DIR } from './distribution.ts'
