import { describe, expect, it } from 'vitest'
import { TokenBucket, TokenBuckets } from '../../src/common/index.ts'

describe('TokenBucket', () => {
  it('passes a burst, then the rate, and never saves up more than the burst', () => {
    const b = new TokenBucket({ perSecond: 10, burst: 20 }, 0)
    expect(Array.from({ length: 25 }, () => b.take(0)).filter(Boolean)).toHaveLength(20)
    expect(Array.from({ length: 10 }, () => b.take(500)).filter(Boolean)).toHaveLength(5)
    expect(Array.from({ length: 30 }, () => b.take(60_500)).filter(Boolean)).toHaveLength(20)
  })

  it('gains nothing from a clock that goes back', () => {
    const b = new TokenBucket({ perSecond: 10, burst: 1 }, 1000)
    expect(b.take(1000)).toBe(true)
    expect(b.take(0)).toBe(false) // the step back counts as no time, not as negative time
    expect(b.take(50)).toBe(false) // half a token since the step back
    expect(b.take(100)).toBe(true) // time after the step back counts
  })
})

describe('TokenBuckets', () => {
  it('allows a burst, then refills at the rate', () => {
    const b = new TokenBuckets({ perSecond: 2, burst: 3 }, 10)
    expect([0, 0, 0, 0].map(() => b.take('a', 0))).toEqual([true, true, true, false])
    expect(b.take('a', 400)).toBe(false) // 0.8 of a token
    expect(b.take('a', 500)).toBe(true) // 1 token after 500 ms
    expect(b.take('a', 10_000)).toBe(true)
    expect(b.take('a', 10_000)).toBe(true)
    expect(b.take('a', 10_000)).toBe(true)
    expect(b.take('a', 10_000)).toBe(false) // refilled to the burst, not beyond
  })

  it('keeps one bucket per key and forgets the least recently seen beyond its bound', () => {
    const b = new TokenBuckets({ perSecond: 0, burst: 1 }, 2)
    expect(b.take('a', 0)).toBe(true)
    expect(b.take('b', 0)).toBe(true)
    expect(b.take('a', 1)).toBe(false) // a is now the most recently seen
    expect(b.take('c', 2)).toBe(true) // evicts b
    expect(b.size).toBe(2)
    expect(b.take('a', 3)).toBe(false) // a was kept, still empty
    expect(b.take('b', 4)).toBe(true) // b comes back with a full bucket
  })

  it('refuses a rate that could never admit anything', () => {
    expect(() => new TokenBuckets({ perSecond: 1, burst: 0 }, 1)).toThrow(RangeError)
    expect(() => new TokenBuckets({ perSecond: Number.NaN, burst: 1 }, 1)).toThrow(RangeError)
  })
})
