/**
 * This run's secret on the page. It arrives in the link's fragment (`#secret=<hex>`), which browsers never send to a
 * server nor put in a Referer; the page moves it at once to sessionStorage (this tab and this origin only: another
 * port is another origin) and takes it off the address bar and the history entry. It goes back to Basecamp only in
 * the Authorization header of the probe and the query of the relay's WebSocket, both to this origin.
 */

const KEY = 'basecamp.secret'
const SECRET = /^[0-9a-f]{64}$/

/** The secret from the link (kept for this tab) or from an earlier load of this tab. */
export function takeSecret (): string | undefined {
  const m = /^#secret=([0-9a-f]{64})(?:&|$)/.exec(location.hash)
  if (m !== null) {
    sessionStorage.setItem(KEY, m[1] as string)
    history.replaceState(null, '', `${location.pathname}${location.search}#/modules`)
  }
  return sessionStorage.getItem(KEY) ?? undefined
}

export function forgetSecret (): void {
  sessionStorage.removeItem(KEY)
}

export function rememberSecret (secret: string): void {
  sessionStorage.setItem(KEY, secret)
}

/** A secret from what a user pasted: the whole link, or the secret alone. */
export function secretFromInput (text: string): string | undefined {
  const t = text.trim()
  const m = /#secret=([0-9a-f]{64})/.exec(t)
  if (m !== null) return m[1]
  return SECRET.test(t) ? t : undefined
}

/** Whether the secret opens Basecamp: 'ok', 'locked' (it does not: 401), or 'down' (no answer). */
export async function probe (secret: string): Promise<'ok' | 'locked' | 'down'> {
  try {
    const res = await fetch('/session', { method: 'POST', headers: { authorization: `Bearer ${secret}` }, cache: 'no-store' })
    if (res.status === 401) return 'locked'
    return res.ok ? 'ok' : 'down'
  } catch {
    return 'down'
  }
}
