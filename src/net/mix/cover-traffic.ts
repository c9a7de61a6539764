import { uniform } from './random.ts'

/**
 * When cover loops are generated (mix-cover-traffic.md 7): at a constant rate on a fixed grid (CONSTANT_RATE, the
 * spec's normative strategy and LOGOS-MIXNET's) or as a Poisson process of the same mean rate (the spec's future
 * work in 11.5, Loopix's design). The rate is f x R / ((1 + L) x P).
 *
 * Decision: a generated cover packet then goes through the same sender delay as every locally originated packet
 * (mix.md 8.5.2 step 3.f; mix-cover-traffic.md 5.1 sends it "following the standard Mix Protocol transmission
 * procedure"). So the grid sets how many cover packets there are, not when each leaves, and a global observer
 * cannot pick cover out by its grid timing (the weakness of section 10.4): in the simulation this doubles the degree
 * of anonymity at 10 loops/s (bench/mix-anonymity.ts).
 */
export type CoverStrategy = 'constant' | 'poisson' | 'none'

export function coverRatePerSecond (fraction: number, slotsPerEpoch: number, pathLength: number, epochMs: number): number {
  return fraction * slotsPerEpoch / ((1 + pathLength) * (epochMs / 1000))
}

/** Calls `tick` at the strategy's times until stopped. */
export class CoverScheduler {
  private readonly strategy: CoverStrategy
  private readonly intervalMs: number
  private readonly tick: () => void
  private timer?: ReturnType<typeof setTimeout>
  private nextAt = 0
  private running = false

  constructor (strategy: CoverStrategy, ratePerSecond: number, tick: () => void) {
    this.strategy = ratePerSecond > 0 ? strategy : 'none'
    this.intervalMs = ratePerSecond > 0 ? 1000 / ratePerSecond : Number.POSITIVE_INFINITY
    this.tick = tick
  }

  get ratePerSecond (): number {
    return this.strategy === 'none' ? 0 : 1000 / this.intervalMs
  }

  start (): void {
    if (this.strategy === 'none' || this.running) return
    this.running = true
    // Start at a random phase so nodes started together do not tick together.
    this.nextAt = performance.now() + uniform() * this.intervalMs
    this.schedule()
  }

  stop (): void {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule (): void {
    if (!this.running) return
    const wait = Math.max(0, this.nextAt - performance.now())
    this.timer = setTimeout(() => {
      if (!this.running) return
      // Constant rate: the grid advances by the interval whatever the timer's lateness (no drift); Poisson: an
      // exponential gap from the last tick.
      this.nextAt += this.strategy === 'constant' ? this.intervalMs : -this.intervalMs * Math.log(uniform())
      // A timer late by more than a few intervals (a stalled event loop) skips the missed ticks instead of bursting.
      const now = performance.now()
      if (this.nextAt < now - 4 * this.intervalMs) this.nextAt = now
      try {
        this.tick()
      } finally {
        this.schedule()
      }
    }, wait)
  }
}
