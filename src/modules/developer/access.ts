import { randomBytes } from 'node:crypto'
import { chmod, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { presentedCredential, sameSecret } from '../../common/index.ts'
import { writeFileAtomic } from '../../sdk/index.ts'
import { LOOPBACK_HOSTS, TOKEN_BYTES, TOKEN_FILE, TOKEN_FILE_MODE } from './constants.ts'
import { DevOriginRefusedError, DevTokenInvalidError, DevTokenMissingError } from './errors.ts'

/** Tokens are lowercase hex of TOKEN_BYTES random bytes. */
const TOKEN_PATTERN = new RegExp(`^[0-9a-f]{${TOKEN_BYTES * 2}}$`)

/**
 * The node's access token, in `<folder>/token` with mode 0600. A token already there is kept (clients and browser
 * tabs keep working across restarts) only if it is well formed and nobody but the owner can read it; otherwise a new
 * one replaces it. Deleting the file rotates the token at the next start.
 */
export async function ensureToken (folder: string): Promise<string> {
  const path = join(folder, TOKEN_FILE)
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)])
    const token = text.trim()
    if (TOKEN_PATTERN.test(token) && (info.mode & 0o077) === 0 && (process.getuid === undefined || info.uid === process.getuid())) return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(TOKEN_BYTES).toString('hex')
  await writeFileAtomic(path, token + '\n', { mode: TOKEN_FILE_MODE })
  // The umask may have taken bits away, never added them; chmod makes the mode exact either way.
  await chmod(path, TOKEN_FILE_MODE)
  return token
}

/** Reads a token file (for clients). */
export async function readToken (folder: string): Promise<string> {
  return (await readFile(join(folder, TOKEN_FILE), 'utf8')).trim()
}

/** The token a request presents: `Authorization: Bearer <token>`, or `?token=` (browsers cannot set WebSocket headers). */
export function presentedToken (authorization: string | undefined, url: URL): string | undefined {
  return presentedCredential(authorization, url, 'token')
}

/** Throws DevTokenMissingError or DevTokenInvalidError; compares in constant time. */
export function checkToken (presented: string | undefined, token: string): void {
  if (presented === undefined || presented === '') throw new DevTokenMissingError()
  if (!sameSecret(presented, token)) throw new DevTokenInvalidError()
}

/**
 * Browser protection. The Host header must name a loopback address (a DNS-rebinding page reaches 127.0.0.1 under its
 * own host name), and a request with an Origin (browsers send one) must come from this server's own origin or one the
 * configuration allows. Requests without an Origin come from programs, not pages, and pass on to the token check.
 */
export function checkBrowserAccess (headers: { host?: string, origin?: string }, port: number, allowedOrigins: readonly string[]): void {
  const host = headers.host
  if (host === undefined || !isLoopbackHost(host, port)) throw new DevOriginRefusedError('host', host ?? '')
  const origin = headers.origin
  if (origin === undefined) return
  if (allowedOrigins.includes(origin)) return
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    throw new DevOriginRefusedError('origin', origin)
  }
  if (url.protocol !== 'http:' || !isLoopbackHost(url.host, port)) throw new DevOriginRefusedError('origin', origin)
}

function isLoopbackHost (hostHeader: string, port: number): boolean {
  let url: URL
  try {
    url = new URL(`http://${hostHeader}`)
  } catch {
    return false
  }
  const name = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const p = url.port === '' ? 80 : Number(url.port)
  return LOOPBACK_HOSTS.includes(name) && p === port
}
