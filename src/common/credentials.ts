import { timingSafeEqual } from 'node:crypto'

/**
 * The credential a local HTTP request presents: `Authorization: Bearer <value>`, else the `query` parameter of its
 * URL (a browser cannot set headers on a WebSocket).
 */
export function presentedCredential (authorization: string | undefined, url: URL, query: string): string | undefined {
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (m !== null) return m[1]
  }
  return url.searchParams.get(query) ?? undefined
}

/** Whether two secrets are equal, in time that does not depend on where they differ. */
export function sameSecret (presented: string, expected: string): boolean {
  const a = Buffer.from(presented)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
