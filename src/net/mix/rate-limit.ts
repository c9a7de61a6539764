/** A token bucket's parameters: `burst` packets at once, refilled at `perSecond`. */
export interface PeerRate {
  perSecond: number
  burst: number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Inbound token buckets, one per remote peer, bounded to `maxPeers` (the least recently seen is forgotten; it
 * comes back with a full bucket, which costs an honest peer nothing and an attacker at most one burst per eviction).
 */
export class PeerRateLimiter {
  readonly rate: PeerRate
  private readonly maxPeers: number
  private readonly buckets = new Map<string, Bucket>()

  constructor (rate: PeerRate, maxPeers: number) {
    if (!(rate.perSecond >= 0) || !(rate.burst >= 1)) throw new RangeError('a peer rate needs perSecond >= 0 and burst >= 1')
    this.rate = rate
    this.maxPeers = maxPeers
  }

  get peers (): number {
    return this.buckets.size
  }

  /** Takes one token from `peer`'s bucket; false when it is empty. */
  take (peer: string, nowMs: number): boolean {
    let b = this.buckets.get(peer)
    if (b === undefined) {
      b = { tokens: this.rate.burst, at: nowMs }
      if (this.buckets.size >= this.maxPeers) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
    } else {
      this.buckets.delete(peer)
      b.tokens = Math.min(this.rate.burst, b.tokens + Math.max(0, nowMs - b.at) * this.rate.perSecond / 1000)
      b.at = nowMs
    }
    this.buckets.set(peer, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  clear (): void {
    this.buckets.clear()
  }
}
