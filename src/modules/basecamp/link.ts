import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../sdk/index.ts'
import { ENDPOINT_FILE, FILE_MODE, SECRET_FILE } from './constants.ts'
import { BasecampNotRunningError } from './errors.ts'

/** What `<data dir>/modules/basecamp/endpoint` holds: where this run of Basecamp answers (no secret). */
export interface BasecampEndpoint {
  /** http://127.0.0.1:<port>/ */
  url: string
  pid: number
  startedAt: number
}

/** The link to open: the URL with the secret in its fragment, which a browser never sends to any server. */
export function linkOf (url: string, secret: string): string {
  return `${url}#secret=${secret}`
}

/** Writes this run's secret and endpoint, both owner-only, for `logos start` and `logos basecamp` to print the link. */
export async function writeLinkFiles (folder: string, endpoint: BasecampEndpoint, secret: string): Promise<void> {
  await writeFileAtomic(join(folder, SECRET_FILE), secret + '\n', { mode: FILE_MODE })
  await writeFileAtomic(join(folder, ENDPOINT_FILE), JSON.stringify(endpoint) + '\n', { mode: FILE_MODE })
}

/** Removes them if they are still this run's (another node may have taken the folder over). */
export async function removeLinkFiles (folder: string, endpoint: BasecampEndpoint): Promise<void> {
  const current = await readEndpoint(folder).catch(() => undefined)
  if (current?.url !== endpoint.url || current.pid !== endpoint.pid) return
  await rm(join(folder, ENDPOINT_FILE), { force: true })
  await rm(join(folder, SECRET_FILE), { force: true })
}

async function readEndpoint (folder: string): Promise<BasecampEndpoint> {
  const raw = JSON.parse(await readFile(join(folder, ENDPOINT_FILE), 'utf8')) as Partial<BasecampEndpoint>
  if (typeof raw.url !== 'string') throw new TypeError(`${join(folder, ENDPOINT_FILE)} is not an endpoint file`)
  return { url: raw.url, pid: Number(raw.pid), startedAt: Number(raw.startedAt) }
}

/**
 * The link of the Basecamp running for a node, from its folder (`<data dir>/modules/basecamp`). Files left by a node
 * that was killed (no stop ran to remove them) name a process that is gone: no link then.
 */
export async function readLink (folder: string): Promise<{ link: string, endpoint: BasecampEndpoint }> {
  let endpoint: BasecampEndpoint
  let secret: string
  try {
    [endpoint, secret] = await Promise.all([readEndpoint(folder), readFile(join(folder, SECRET_FILE), 'utf8')])
  } catch (err) {
    throw new BasecampNotRunningError(folder, { cause: err })
  }
  if (!isAlive(endpoint.pid)) throw new BasecampNotRunningError(folder, { cause: new Error(`process ${endpoint.pid} is gone`) })
  return { link: linkOf(endpoint.url, secret.trim()), endpoint }
}

function isAlive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
