import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_POLICY, PmBadOptionsError, RestartWindow, backoffDelay, parseManagerConfig, resolvePolicy
} from '../../../src/modules/process-manager/index.ts'
import type { BackoffPolicy } from '../../../src/modules/process-manager/index.ts'

describe('host options', () => {
  it('layers the user\'s defaults, the manifest and the user\'s per-module settings, field by field', () => {
    const policy = resolvePolicy('m',
      { restart: 'transient', backoff: { baseMs: 10, capMs: 1000 } },
      { backoff: { baseMs: 50 }, heartbeat: { intervalMs: 200, timeoutMs: 2000 } },
      { backoff: { factor: 3 }, memoryLimitBytes: 1e9 })
    expect(policy).toEqual({
      ...DEFAULT_POLICY,
      restart: 'transient',
      backoff: { ...DEFAULT_POLICY.backoff, baseMs: 50, capMs: 1000, factor: 3 },
      heartbeat: { intervalMs: 200, timeoutMs: 2000 },
      memoryLimitBytes: 1e9
    })
    // The defaults themselves are untouched.
    expect(DEFAULT_POLICY.backoff.baseMs).toBe(100)
  })

  it('refuses a wrong or unknown field, naming it', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ restart: 'sometimes' }, 'restart'],
      [{ restartt: 'permanent' }, 'restartt'],
      [{ backoff: { baseMs: -1 } }, 'backoff.baseMs'],
      [{ backoff: { jitter: 2 } }, 'backoff.jitter'],
      [{ backoff: { factor: 0.5 } }, 'backoff.factor'],
      [{ backoff: { baseMs: 500, capMs: 100 } }, 'backoff.capMs'],
      [{ backoff: { bas: 1 } }, 'backoff.bas'],
      [{ intensity: { maxRestarts: 1.5 } }, 'intensity.maxRestarts'],
      [{ heartbeat: { intervalMs: 1000, timeoutMs: 500 } }, 'heartbeat.timeoutMs'],
      [{ memoryLimitBytes: '1G' }, 'memoryLimitBytes'],
      [{ execArgv: ['rm -rf'] }, 'execArgv'],
      [{ backoff: 5 }, 'backoff']
    ]
    for (const [options, field] of cases) {
      let error: unknown
      try {
        resolvePolicy('m', options)
      } catch (err) {
        error = err
      }
      expect(error, field).toBeInstanceOf(PmBadOptionsError)
      expect((error as PmBadOptionsError).data.field).toBe(field)
    }
  })

  it('reads the process manager\'s own configuration', () => {
    expect(parseManagerConfig('pm', {})).toEqual({ modules: {}, spares: 1 })
    expect(parseManagerConfig('pm', { spares: 0, defaults: { restart: 'temporary' }, modules: { a: { restart: 'oops' } } }))
      .toEqual({ spares: 0, defaults: { restart: 'temporary' }, modules: { a: { restart: 'oops' } } })
    expect(() => parseManagerConfig('pm', { defaults: { restart: 'oops' } })).toThrow(PmBadOptionsError)
    expect(() => parseManagerConfig('pm', { spares: -1 })).toThrow(PmBadOptionsError)
    expect(() => parseManagerConfig('pm', { modules: [] })).toThrow(PmBadOptionsError)
    expect(() => parseManagerConfig('pm', { other: 1 })).toThrow(PmBadOptionsError)
  })
})

describe('backoff', () => {
  const policies = fc.record({
    baseMs: fc.integer({ min: 0, max: 10_000 }),
    factor: fc.double({ min: 1, max: 10, noNaN: true }),
    capMs: fc.integer({ min: 0, max: 120_000 }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true })
  }).filter(p => p.capMs >= p.baseMs) as fc.Arbitrary<BackoffPolicy>

  it('stays within [d * (1 - jitter), d] with d = min(cap, base * factor^attempt) (property)', () => {
    fc.assert(fc.property(policies, fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (policy, attempt, r) => {
      const d = Math.min(policy.capMs, policy.baseMs * policy.factor ** attempt)
      const delay = backoffDelay(attempt, policy, () => r)
      expect(delay).toBeLessThanOrEqual(d + 1e-9)
      expect(delay).toBeGreaterThanOrEqual(d * (1 - policy.jitter) - 1e-9)
      expect(delay).toBeLessThanOrEqual(policy.capMs + 1e-9)
    }))
  })

  it('never shrinks from one attempt to the next without jitter (property)', () => {
    fc.assert(fc.property(policies, fc.integer({ min: 0, max: 60 }), (policy, attempt) => {
      const p = { ...policy, jitter: 0 }
      expect(backoffDelay(attempt + 1, p)).toBeGreaterThanOrEqual(backoffDelay(attempt, p))
    }))
    expect([0, 1, 2, 3, 4].map(a => backoffDelay(a, { baseMs: 100, factor: 2, capMs: 1000, jitter: 0 }))).toEqual([100, 200, 400, 800, 1000])
  })
})

describe('restart intensity', () => {
  it('admits at most maxRestarts within any window of withinMs (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 1000 }), fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 60 }), (max, within, gaps) => {
      const window = new RestartWindow(max, within)
      const admitted: number[] = []
      let now = 0
      for (const gap of gaps) {
        now += gap
        if (window.admit(now)) admitted.push(now)
      }
      for (const t of admitted) {
        expect(admitted.filter(x => x > t - within && x <= t).length).toBeLessThanOrEqual(max)
      }
      // And it refuses only when the window is full.
      const probe = new RestartWindow(max, within)
      let t = 0
      for (const gap of gaps) {
        t += gap
        const full = probe.count(t) >= max
        expect(probe.admit(t)).toBe(!full)
      }
    }))
  })
})
