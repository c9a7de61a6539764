/** A token bucket's parameters: `burst` tokens at once, refilled at `perSecond`. */
export interface TokenRate {
  perSecond: number
  burst: number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Token buckets, one per key (a peer id, an IP), bounded to `maxKeys`: the least recently seen is forgotten and
 * comes back with a full bucket, which costs an honest requester nothing and an attacker at most one burst per
 * eviction. Time comes from the caller, so a simulator's virtual clock drives it as the system clock does.
 */
export class TokenBuckets {
  readonly rate: TokenRate
  private readonly maxKeys: number
  private readonly buckets = new Map<string, Bucket>()

  constructor (rate: TokenRate, maxKeys: number) {
    if (!(rate.perSecond >= 0) || !(rate.burst >= 1)) throw new RangeError('a token rate needs perSecond >= 0 and burst >= 1')
    this.rate = rate
    this.maxKeys = maxKeys
  }

  /** How many keys have a bucket. */
  get size (): number {
    return this.buckets.size
  }

  /** Takes one token from `key`'s bucket; false when it is empty. */
  take (key: string, nowMs: number): boolean {
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.rate.burst, at: nowMs }
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next()
        if (oldest.done !== true) this.buckets.delete(oldest.value)
      }
    } else {
      // Re-inserted below, so the map's order is least recently seen first.
      this.buckets.delete(key)
      b.tokens = Math.min(this.rate.burst, b.tokens + Math.max(0, nowMs - b.at) * this.rate.perSecond / 1000)
      b.at = nowMs
    }
    this.buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  clear (): void {
    this.buckets.clear()
  }
}
