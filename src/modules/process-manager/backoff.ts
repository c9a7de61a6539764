import type { BackoffPolicy } from './options.ts'

/**
 * The delay before restart number `attempt` (0 for the first after a stable period): base * factor^attempt, at most
 * the cap, minus a random share of up to `jitter` of it. Never negative, never above the cap.
 */
export function backoffDelay (attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const raw = Math.min(policy.capMs, policy.baseMs * policy.factor ** Math.max(0, attempt))
  return raw * (1 - policy.jitter * random())
}

/** The restart intensity limit: at most `maxRestarts` restarts within any `withinMs` window. */
export class RestartWindow {
  readonly maxRestarts: number
  readonly withinMs: number
  private times: number[] = []

  constructor (maxRestarts: number, withinMs: number) {
    this.maxRestarts = maxRestarts
    this.withinMs = withinMs
  }

  /** Restarts counted in the window ending at `now`. */
  count (now: number): number {
    this.prune(now)
    return this.times.length
  }

  /** Whether one more restart fits at `now`; when it does, it is counted. */
  admit (now: number): boolean {
    this.prune(now)
    if (this.times.length >= this.maxRestarts) return false
    this.times.push(now)
    return true
  }

  private prune (now: number): void {
    const from = now - this.withinMs
    let i = 0
    while (i < this.times.length && (this.times[i] as number) <= from) i++
    if (i > 0) this.times = this.times.slice(i)
  }
}
