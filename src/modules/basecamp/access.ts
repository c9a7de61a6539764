import { randomBytes } from 'node:crypto'
import { presentedCredential, sameSecret } from '../../common/index.ts'
import { LOOPBACK_HOSTS, SECRET_BYTES } from './constants.ts'
import { BasecampOriginRefusedError, BasecampSecretInvalidError, BasecampSecretMissingError } from './errors.ts'

/** A fresh secret for this run: lowercase hex of SECRET_BYTES random bytes. */
export function newSecret (): string {
  return randomBytes(SECRET_BYTES).toString('hex')
}

/**
 * The secret a request presents: `Authorization: Bearer <secret>` (the page's fetch, programs), or `?secret=` on the
 * WebSocket URL (a browser cannot set headers on a WebSocket). Never a cookie: cookies of 127.0.0.1 go to every port
 * of 127.0.0.1, so any other local server the browser talks to would receive it.
 */
export function presentedSecret (authorization: string | undefined, url: URL): string | undefined {
  return presentedCredential(authorization, url, 'secret')
}

/** Throws BasecampSecretMissingError or BasecampSecretInvalidError; compares in constant time. */
export function checkSecret (presented: string | undefined, secret: string): void {
  if (presented === undefined || presented === '') throw new BasecampSecretMissingError()
  if (!sameSecret(presented, secret)) throw new BasecampSecretInvalidError()
}

/**
 * Browser protection, before anything else. The Host header must name a loopback address with this port: a page of a
 * DNS-rebinding domain reaches 127.0.0.1 under its own name and is refused. A request with an Origin (browsers send
 * one on cross-origin loads, on POST and on WebSocket upgrades) must come from Basecamp's own origin: another page on
 * this machine (any other port is another origin) gets nothing, neither the relay nor the UI's files.
 */
export function checkBrowserAccess (headers: { host?: string, origin?: string }, port: number): void {
  const host = headers.host
  if (host === undefined || !isLoopbackHost(host, port)) throw new BasecampOriginRefusedError('host', host ?? '')
  const origin = headers.origin
  if (origin === undefined) return
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    throw new BasecampOriginRefusedError('origin', origin)
  }
  if (url.protocol !== 'http:' || url.origin !== origin || !isLoopbackHost(url.host, port)) throw new BasecampOriginRefusedError('origin', origin)
}

function isLoopbackHost (hostHeader: string, port: number): boolean {
  let url: URL
  try {
    url = new URL(`http://${hostHeader}`)
  } catch {
    return false
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return false
  const name = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const p = url.port === '' ? 80 : Number(url.port)
  return LOOPBACK_HOSTS.includes(name) && p === port
}
