/**
 * The developer module: live view, tracing, hot reload and debugging over JSON-RPC 2.0 (HTTP POST and WebSocket on
 * 127.0.0.1). The node loads `developer` from this folder; the CLI (`logos dev ...`) uses the client exports.
 */
export { developer, DEVELOPER_VERSION } from './developer.ts'
export { DevClient, connectFromDataDir, developerFolder } from './client.ts'
export type { DevClientOptions, DevSubscription } from './client.ts'
export type { Endpoint } from './endpoint.ts'
export type { ModuleRow } from './api.ts'
export type { RecentActivity } from './activity.ts'
export type { ReloadOutcome } from './reloader.ts'
export type { WatchInfo } from './watcher.ts'
export type { DeveloperConfig } from './config.ts'
export { TOKEN_FILE, ENDPOINT_FILE, RPC_PATH, DEFAULT_PORT } from './constants.ts'
export * from './errors.ts'
