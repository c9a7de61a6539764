/**
 * Time as the library sees it. Every timer goes through a Clock so tests and benchmarks can run protocol time
 * without waiting for it (ManualClock), while nodes use the system clock.
 */
export interface Clock {
  /** ms since the Unix epoch */
  now: () => number
  setTimer: (fn: () => void, ms: number) => TimerHandle
  clearTimer: (handle: TimerHandle) => void
}

export interface TimerHandle {
  readonly id: number
}

let nextId = 1

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer (fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms))
    t.unref?.()
    const handle = { id: nextId++, t }
    return handle
  },
  clearTimer (handle) {
    clearTimeout((handle as { t?: ReturnType<typeof setTimeout> }).t)
  }
}

interface ManualTimer {
  id: number
  at: number
  fn: () => void
}

/**
 * A clock that moves only when told. `advance(ms)` runs due timers in time order; between two timers it lets
 * pending promise work settle (`settle` from the caller, e.g. waiting for every group's queue to drain), so protocol
 * reactions to one timer happen before the next fires.
 */
export class ManualClock implements Clock {
  private current: number
  private readonly timers = new Map<number, ManualTimer>()

  constructor (start = 1_700_000_000_000) {
    this.current = start
  }

  now = (): number => this.current

  setTimer = (fn: () => void, ms: number): TimerHandle => {
    const id = nextId++
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), fn })
    return { id }
  }

  clearTimer = (handle: TimerHandle): void => {
    this.timers.delete(handle.id)
  }

  get pending (): number {
    return this.timers.size
  }

  /** The time of the earliest timer, if any. */
  nextAt (): number | undefined {
    let min: number | undefined
    for (const t of this.timers.values()) if (min === undefined || t.at < min) min = t.at
    return min
  }

  async advance (ms: number, settle: () => Promise<void> = async () => { await new Promise(resolve => setImmediate(resolve)) }): Promise<void> {
    const end = this.current + ms
    await settle()
    for (;;) {
      let next: ManualTimer | undefined
      for (const t of this.timers.values()) if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t
      if (next === undefined) break
      this.timers.delete(next.id)
      this.current = Math.max(this.current, next.at)
      next.fn()
      await settle()
    }
    this.current = end
    await settle()
  }
}
