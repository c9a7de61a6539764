import { randomFillSync } from 'node:crypto'

/**
 * Randomness for delays and path choices from the OS CSPRNG. Math.random (xorshift128+) would do statistically, but
 * its state can be recovered from a few outputs, and delays and paths are observable: a node's future delays must
 * not be predictable from its past ones.
 */

const POOL_WORDS = 1024
const pool = new Uint32Array(POOL_WORDS)
let next = POOL_WORDS

function word (): number {
  if (next >= POOL_WORDS) {
    randomFillSync(pool)
    next = 0
  }
  return pool[next++] as number
}

/** A uniform number in the open interval (0, 1), with 53 bits of randomness. */
export function uniform (): number {
  const hi = word() >>> 5 // 27 bits
  const lo = word() >>> 6 // 26 bits
  return (hi * 67108864 + lo + 0.5) / 9007199254740992
}

/** A uniform integer in [0, n). */
export function randomIndex (n: number): number {
  return Math.floor(uniform() * n)
}

/** k distinct items chosen uniformly (a partial Fisher-Yates shuffle of a copy). */
export function sample<T> (items: readonly T[], k: number): T[] {
  const copy = items.slice()
  const n = Math.min(k, copy.length)
  for (let i = 0; i < n; i++) {
    const j = i + randomIndex(copy.length - i)
    const t = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = t
  }
  return copy.slice(0, n)
}

/**
 * An exponential delay with mean `meanMs`, truncated to [minMs, mean x -ln(tail)] by sampling the exponential
 * conditioned on that window (the nim code's method: no spikes of probability at the bounds), and never above
 * `capMs`.
 */
export function exponentialDelay (meanMs: number, options: { minMs?: number, tailProbability: number, capMs: number }): number {
  if (meanMs <= 0) return Math.max(0, options.minMs ?? 0)
  const min = Math.max(0, options.minMs ?? 0)
  const max = Math.min(-meanMs * Math.log(options.tailProbability), options.capMs)
  if (min >= max) return Math.min(min, options.capMs)
  const a = Math.exp(-min / meanMs)
  const b = Math.exp(-max / meanMs)
  const d = -meanMs * Math.log(a - uniform() * (a - b))
  return Math.min(Math.max(d, min), max)
}
