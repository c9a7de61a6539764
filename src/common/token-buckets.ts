/** A token bucket's parameters: `burst` tokens at once, refilled at `perSecond`. */
export interface TokenRate {
  perSecond: number
  burst: number
}

function checkedRate (rate: TokenRate): TokenRate {
  if (!(rate.perSecond >= 0) || !(rate.burst >= 1)) throw new RangeError('a token rate needs perSecond >= 0 and burst >= 1')
  return rate
}

/** One token bucket, full at first. Time comes from the caller, so a simulator's virtual clock drives it as the system clock does. */
export class TokenBucket {
  readonly rate: TokenRate
  private tokens: number
  private at: number

  constructor (rate: TokenRate, nowMs: number) {
    this.rate = checkedRate(rate)
    this.tokens = rate.burst
    this.at = nowMs
  }

  /** Takes one token; false when the bucket is empty. */
  take (nowMs: number): boolean {
    this.tokens = Math.min(this.rate.burst, this.tokens + Math.max(0, nowMs - this.at) * this.rate.perSecond / 1000)
    this.at = nowMs
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/**
 * Token buckets, one per key (a peer id, an IP), bounded to `maxKeys`: the least recently seen is forgotten and
 * comes back with a full bucket, which costs an honest requester nothing and an attacker at most one burst per
 * eviction.
 */
export class TokenBuckets {
  readonly rate: TokenRate
  private readonly maxKeys: number
  private readonly buckets = new Map<string, TokenBucket>()

  constructor (rate: TokenRate, maxKeys: number) {
    this.rate = checkedRate(rate)
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
      b = new TokenBucket(this.rate, nowMs)
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next()
        if (oldest.done !== true) this.buckets.delete(oldest.value)
      }
    } else {
      // Re-inserted below, so the map's order is least recently seen first.
      this.buckets.delete(key)
    }
    this.buckets.set(key, b)
    return b.take(nowMs)
  }

  clear (): void {
    this.buckets.clear()
  }
}
