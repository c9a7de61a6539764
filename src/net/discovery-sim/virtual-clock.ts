import { AbortedError } from '../../common/index.ts'
import type { Clock } from '../discovery/index.ts'

interface Timer {
  at: number
  seq: number
  resolve: () => void
  cancelled: boolean
}

/** A min-heap of timers by (at, seq). */
class TimerHeap {
  private readonly items: Timer[] = []

  get size (): number {
    return this.items.length
  }

  peek (): Timer | undefined {
    return this.items[0]
  }

  push (t: Timer): void {
    const a = this.items
    a.push(t)
    let i = a.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(a[i] as Timer, a[parent] as Timer)) break
      swap(a, i, parent)
      i = parent
    }
  }

  pop (): Timer | undefined {
    const a = this.items
    if (a.length === 0) return undefined
    const top = a[0] as Timer
    const last = a.pop() as Timer
    if (a.length > 0) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && before(a[l] as Timer, a[m] as Timer)) m = l
        if (r < a.length && before(a[r] as Timer, a[m] as Timer)) m = r
        if (m === i) break
        swap(a, i, m)
        i = m
      }
    }
    return top
  }
}

function before (a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

function swap (a: Timer[], i: number, j: number): void {
  const t = a[i] as Timer
  a[i] = a[j] as Timer
  a[j] = t
}

/** Lets every pending promise continuation run (microtasks drain before a macrotask). */
async function drain (): Promise<void> {
  await new Promise<void>(resolve => setImmediate(resolve))
}

/**
 * Simulated time for the protocol classes: `sleep` parks a timer, and `run*` moves time forward from one timer to the
 * next, letting all the code those timers wake run to its next sleep before moving on. Hours of protocol time pass in
 * seconds, in a deterministic order.
 */
export class VirtualClock implements Clock {
  private time: number
  private seq = 0
  private readonly heap = new TimerHeap()

  constructor (start = 1_700_000_000_000) {
    this.time = start
  }

  now (): number {
    return this.time
  }

  get pending (): number {
    return this.heap.size
  }

  async sleep (ms: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options
    if (signal?.aborted === true) throw new AbortedError()
    await new Promise<void>((resolve, reject) => {
      const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, resolve: () => {}, cancelled: false }
      const onAbort = (): void => {
        timer.cancelled = true
        reject(new AbortedError())
      }
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.heap.push(timer)
    })
  }

  /** Runs timers due up to `until` (ms since the epoch), then sets the clock to `until`. */
  async runUntil (until: number): Promise<void> {
    await drain()
    for (;;) {
      const next = this.heap.peek()
      if (next === undefined || next.at > until) break
      this.time = next.at
      while (this.heap.peek()?.at === this.time) {
        const t = this.heap.pop() as Timer
        if (!t.cancelled) t.resolve()
      }
      await drain()
    }
    if (until > this.time) this.time = until
  }

  async advance (ms: number): Promise<void> {
    await this.runUntil(this.time + ms)
  }

  /** Runs timers until `promise` settles (or `maxMs` of simulated time pass); returns its value. */
  async runWhile<T> (promise: Promise<T>, maxMs = 3_600_000): Promise<T> {
    let settled = false
    const watched = promise.finally(() => { settled = true })
    watched.catch(() => {})
    const limit = this.time + maxMs
    await drain()
    while (!settled) {
      const next = this.heap.peek()
      if (next === undefined || next.at > limit) break
      this.time = next.at
      while (this.heap.peek()?.at === this.time) {
        const t = this.heap.pop() as Timer
        if (!t.cancelled) t.resolve()
      }
      await drain()
    }
    return await watched
  }
}
