/**
 * Basecamp, the local launcher: a web UI served on 127.0.0.1 that runs the node's modules (states, figures,
 * start/stop/load/unload/reload, method calls, logs, trace) through the developer module's interface. The node loads
 * `basecamp` from this folder; the CLI uses `readBasecampLink` to print the link with this run's secret.
 */
import { join } from 'node:path'
import { readLink } from './link.ts'
import type { BasecampEndpoint } from './link.ts'

export { basecamp, BASECAMP_VERSION, UI_DIR } from './basecamp.ts'
export type { BasecampConfig } from './config.ts'
export type { BasecampEndpoint } from './link.ts'
export type { NodeFigures } from './node-figures.ts'
export { RPC_PATH, SESSION_PATH, SECRET_FILE, ENDPOINT_FILE } from './constants.ts'
export * from './errors.ts'

/** The folder where a node's Basecamp keeps its secret and endpoint files. */
export function basecampFolder (dataDir: string): string {
  return join(dataDir, 'modules', 'basecamp')
}

/** The link (URL with this run's secret in the fragment) of the Basecamp of a running node; ERR_BASECAMP_NOT_RUNNING. */
export async function readBasecampLink (dataDir: string): Promise<{ link: string, endpoint: BasecampEndpoint }> {
  return await readLink(basecampFolder(dataDir))
}
