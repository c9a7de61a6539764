/**
 * Token buckets, one per requester (a peer id, else an IP), bounded to `maxKeys`: the least recently seen is
 * forgotten and comes back with a full bucket, which costs an honest requester nothing and an attacker at most one
 * burst per eviction. Time comes from the caller, so the simulator's virtual clock drives it as the system clock
 * does on libp2p.
 */
export class RequestRateLimiter {
  readonly perSecond: number
  readonly burst: number
  private readonly maxKeys: number
  private readonly buckets = new Map<string, { tokens: number, at: number }>()

  constructor (perSecond: number, burst: number, maxKeys: number) {
    this.perSecond = perSecond
    this.burst = Math.max(1, burst)
    this.maxKeys = maxKeys
  }

  get size (): number {
    return this.buckets.size
  }

  /** Takes a token from `key`'s bucket; false when it is empty. */
  take (key: string, nowMs: number): boolean {
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { tokens: this.burst, at: nowMs }
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next()
        if (oldest.done !== true) this.buckets.delete(oldest.value)
      }
    } else {
      this.buckets.delete(key)
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, nowMs - b.at) * this.perSecond / 1000)
      b.at = nowMs
    }
    this.buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}
