import fc from 'fast-check'
import semver from 'semver'
import { describe, expect, it } from 'vitest'
import { assertAcyclic, solve } from '../../../src/modules/package-manager/index.ts'
import type { SolverProblem } from '../../../src/modules/package-manager/index.ts'

type Repo = Record<string, Record<string, Record<string, string>>>

function problem (repo: Repo, requirements: Record<string, string>, extra: Partial<SolverProblem> = {}): SolverProblem {
  return {
    requirements,
    versions: (name) => Object.keys(repo[name] ?? {}),
    dependencies: (name, version) => repo[name]?.[version] ?? {},
    ...extra
  }
}

function failure (p: SolverProblem): { code?: string, message: string } {
  try {
    solve(p)
  } catch (err) {
    return err as { code?: string, message: string }
  }
  throw new Error('expected no solution')
}

describe('PubGrub-style solver', () => {
  it('picks the newest versions that fit, with transitive dependencies', () => {
    const repo: Repo = {
      app: { '1.0.0': { log: '^1.0.0' }, '1.1.0': { log: '^1.2.0', net: '~2.0.0' } },
      log: { '1.0.0': {}, '1.2.0': {}, '1.3.1': {}, '2.0.0': {} },
      net: { '2.0.0': {}, '2.0.5': {}, '2.1.0': {} }
    }
    const s = solve(problem(repo, { app: '*' }))
    expect(Object.fromEntries(s.selected)).toEqual({ app: '1.1.0', log: '1.3.1', net: '2.0.5' })
  })

  it('backtracks out of a conflict it cannot see up front', () => {
    // The newest a needs b 2, whose only version needs c, which needs b 1: a 2 is impossible, a 1 works.
    const repo: Repo = {
      a: { '1.0.0': { b: '^1.0.0' }, '2.0.0': { b: '^2.0.0' } },
      b: { '1.0.0': {}, '2.0.0': { c: '^1.0.0' } },
      c: { '1.0.0': { b: '^1.0.0' } }
    }
    expect(Object.fromEntries(solve(problem(repo, { a: '*' })).selected)).toEqual({ a: '1.0.0', b: '1.0.0' })
  })

  it('keeps preferred (installed) versions when they still fit', () => {
    const repo: Repo = { a: { '1.0.0': {}, '1.5.0': {} }, b: { '1.0.0': { a: '^1.0.0' } } }
    const s = solve(problem(repo, { a: '^1.0.0', b: '*' }, { preferred: { a: '1.0.0' } }))
    expect(s.selected.get('a')).toBe('1.0.0')
  })

  it('treats built-in modules as fixed, and explains when their version does not fit', () => {
    const repo: Repo = { chat: { '1.0.0': { network: '^0.1.0' }, '2.0.0': { network: '^0.2.0' } } }
    const s = solve(problem(repo, { chat: '*' }, { fixed: { network: '0.1.0' } }))
    expect(Object.fromEntries(s.selected)).toEqual({ chat: '1.0.0' })
    expect(Object.fromEntries(s.fixed)).toEqual({ network: '0.1.0' })
    const err = failure(problem(repo, { chat: '^2.0.0' }, { fixed: { network: '0.1.0' } }))
    expect(err.code).toBe('ERR_PKG_UNSATISFIABLE')
    expect(err.message).toContain('chat 2.0.0 depends on network ^0.2.0 (network is built in at 0.1.0)')
  })

  it('explains a conflict as a chain of requirements', () => {
    const repo: Repo = {
      web: { '1.0.0': { db: '^1.0.0', cache: '^1.0.0' } },
      db: { '1.0.0': { codec: '^1.0.0' } },
      cache: { '1.0.0': { codec: '^2.0.0' } },
      codec: { '1.0.0': {}, '2.0.0': {} }
    }
    const err = failure(problem(repo, { web: '*' }))
    expect(err.code).toBe('ERR_PKG_UNSATISFIABLE')
    for (const part of ['db 1.0.0 depends on codec ^1.0.0', 'cache 1.0.0 depends on codec ^2.0.0', 'the request needs web']) {
      expect(err.message).toContain(part)
    }
    expect(failure(problem(repo, { nothing: '*' })).message).toContain('there is no package nothing')
  })

  it('finds a solution whenever one exists, and every solution it gives satisfies every range (checked by brute force)', () => {
    const names = ['a', 'b', 'c', 'd']
    const versions = ['1.0.0', '1.1.0', '2.0.0']
    const ranges = ['^1.0.0', '~1.1.0', '^2.0.0', '*', '>=1.1.0', '<2.0.0']
    const repoArb = fc.record(Object.fromEntries(names.map(n => [n, fc.subarray(versions, { minLength: 0 }).chain(vs =>
      fc.tuple(...vs.map(() => fc.dictionary(fc.constantFrom(...names.filter(x => x !== n)), fc.constantFrom(...ranges), { maxKeys: 2 })))
        .map(deps => Object.fromEntries(vs.map((v, i) => [v, deps[i] ?? {}]))))])) as Record<string, fc.Arbitrary<Record<string, Record<string, string>>>>)
    const reqArb = fc.dictionary(fc.constantFrom(...names), fc.constantFrom(...ranges), { minKeys: 1, maxKeys: 2 })
    fc.assert(fc.property(repoArb, reqArb, (repo, requirements) => {
      const valid = (sel: Map<string, string>): boolean => {
        for (const [n, r] of Object.entries(requirements)) if (!sel.has(n) || !semver.satisfies(sel.get(n) as string, r)) return false
        for (const [n, v] of sel) {
          for (const [d, r] of Object.entries(repo[n]?.[v] ?? {})) if (!sel.has(d) || !semver.satisfies(sel.get(d) as string, r)) return false
        }
        return true
      }
      // Brute force: every assignment of a version (or none) to each package.
      let exists = false
      const choose = (i: number, sel: Map<string, string>): void => {
        if (exists) return
        if (i === names.length) { exists = valid(sel); return }
        const n = names[i] as string
        choose(i + 1, sel)
        for (const v of Object.keys(repo[n] ?? {})) {
          const next = new Map(sel)
          next.set(n, v)
          choose(i + 1, next)
        }
      }
      choose(0, new Map())
      let result: Map<string, string> | undefined
      try {
        result = solve(problem(repo, requirements)).selected
      } catch (err) {
        expect((err as { code?: string }).code).toBe('ERR_PKG_UNSATISFIABLE')
      }
      expect(result !== undefined).toBe(exists)
      if (result !== undefined) expect(valid(result)).toBe(true)
    }), { numRuns: 300 })
  })

  it('names a dependency cycle', () => {
    expect(() => assertAcyclic(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toThrow(/a -> b -> c -> a/)
    expect(() => assertAcyclic(new Map([['a', ['b', 'network']], ['b', []]]))).not.toThrow()
  })
})
