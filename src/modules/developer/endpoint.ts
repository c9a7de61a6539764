import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../sdk/index.ts'
import { ENDPOINT_FILE, TOKEN_FILE_MODE } from './constants.ts'

/** What `<data dir>/modules/developer/endpoint` holds: where a running node's developer interface answers. */
export interface Endpoint {
  /** JSON-RPC over HTTP POST, e.g. http://127.0.0.1:40123/rpc */
  url: string
  /** JSON-RPC over WebSocket, e.g. ws://127.0.0.1:40123/rpc */
  ws: string
  pid: number
  startedAt: number
}

export async function writeEndpoint (folder: string, endpoint: Endpoint): Promise<void> {
  await writeFileAtomic(join(folder, ENDPOINT_FILE), JSON.stringify(endpoint) + '\n', { mode: TOKEN_FILE_MODE })
}

/** Removes the endpoint file if it is still this node's (another node may have taken the folder over). */
export async function removeEndpoint (folder: string, endpoint: Endpoint): Promise<void> {
  const current = await readEndpoint(folder).catch(() => undefined)
  if (current?.url === endpoint.url && current.pid === endpoint.pid) await rm(join(folder, ENDPOINT_FILE), { force: true })
}

export async function readEndpoint (folder: string): Promise<Endpoint> {
  const raw = JSON.parse(await readFile(join(folder, ENDPOINT_FILE), 'utf8')) as Partial<Endpoint>
  if (typeof raw.url !== 'string' || typeof raw.ws !== 'string') throw new TypeError(`${join(folder, ENDPOINT_FILE)} is not an endpoint file`)
  return { url: raw.url, ws: raw.ws, pid: Number(raw.pid), startedAt: Number(raw.startedAt) }
}
