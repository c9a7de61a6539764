import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LowerBounds, MAX_WAIT_S, baseWaitingTime } from '../../../src/net/discovery/index.ts'

const spec = { expiryS: 900, capacity: 1000, occupancyExponent: 10, safety: 1e-7, ipWeight: 1 }

describe('waiting time', () => {
  it('follows w = E * (1 - c/C)^-P_occ * (c_s/C + score + G), in whole seconds', () => {
    // Empty cache, new service, new address: E*G = 9e-5 s rounds to 0, admitted at once.
    expect(baseWaitingTime(spec, 0, 0, 0)).toBe(0)
    // 100 ads of this service in a cache of 100: 900 * (1/0.9^10) * 0.1 = 258.1 s
    expect(baseWaitingTime(spec, 100, 100, 0)).toBe(Math.round(900 / Math.pow(0.9, 10) * (0.1 + 1e-7)))
    expect(baseWaitingTime(spec, 100, 100, 0)).toBe(258)
    // An address whose whole prefix path is crowded (score 1) waits about E on an almost empty cache.
    expect(baseWaitingTime(spec, 1, 0, 1)).toBe(909)
    // The IP weight scales only the IP term.
    expect(baseWaitingTime({ ...spec, ipWeight: 0 }, 1, 0, 1)).toBe(0)
  })

  it('grows with occupancy, service count and IP score, and is infinite (clamped) on a full cache', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 998 }), fc.integer({ min: 0, max: 998 }), fc.double({ min: 0, max: 1, noNaN: true }), (c, cs, ip) => {
      const w = baseWaitingTime(spec, c, Math.min(cs, c), ip)
      expect(w).toBeGreaterThanOrEqual(0)
      expect(baseWaitingTime(spec, c + 1, Math.min(cs, c), ip)).toBeGreaterThanOrEqual(w)
      expect(baseWaitingTime(spec, c, Math.min(cs, c) + 1, ip)).toBeGreaterThanOrEqual(w)
      expect(baseWaitingTime(spec, c, Math.min(cs, c), Math.min(1, ip + 0.1))).toBeGreaterThanOrEqual(w)
    }))
    expect(baseWaitingTime(spec, 1000, 0, 0)).toBe(MAX_WAIT_S)
    expect(baseWaitingTime(spec, 5000, 0, 0)).toBe(MAX_WAIT_S)
  })
})

describe('anti-grinding lower bounds', () => {
  it('a new waiting time is never smaller than an earlier one minus the time since (per service and per IP)', () => {
    const b = new LowerBounds()
    b.record('svc', ['10.0.0.1'], 300, 1000)
    // 100 s later the cache emptied (base 0): the service bound still asks for 200 s.
    expect(b.apply('svc', [], 0, 1100)).toBe(200)
    // Another service from the same IP is held by the IP bound too.
    expect(b.apply('other', ['10.0.0.1'], 0, 1100)).toBe(200)
    // A fresh service from a fresh IP is not.
    expect(b.apply('other', ['10.0.0.2'], 0, 1100)).toBe(0)
    // Once the bound has run out, the base rules.
    expect(b.apply('svc', ['10.0.0.1'], 5, 1400)).toBe(5)
  })

  it('w_new >= w_prev - elapsed for any sequence of issued tickets (property)', () => {
    const issue = fc.record({ base: fc.integer({ min: 0, max: 2000 }), dt: fc.integer({ min: 0, max: 600 }), ip: fc.constantFrom('1.1.1.1', '2.2.2.2') })
    fc.assert(fc.property(fc.array(issue, { minLength: 1, maxLength: 40 }), (steps) => {
      const b = new LowerBounds()
      let now = 0
      const issued: Array<{ at: number, w: number, ip: string }> = []
      for (const s of steps) {
        now += s.dt
        const w = b.apply('svc', [s.ip], s.base, now)
        for (const prev of issued) expect(w).toBeGreaterThanOrEqual(prev.w - (now - prev.at))
        b.record('svc', [s.ip], s.base, now)
        issued.push({ at: now, w, ip: s.ip })
      }
    }))
  })

  it('drops state older than E and stays bounded', () => {
    const b = new LowerBounds(3)
    for (let i = 0; i < 10; i++) b.record(`s${i}`, [`10.0.0.${i}`], 50, 100 + i)
    expect(b.size).toBe(6)
    b.prune(100 + 9 + 901, 900)
    expect(b.size).toBe(0)
  })
})
