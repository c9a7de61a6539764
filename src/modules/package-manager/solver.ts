import semver from 'semver'
import { SOLVER_MAX_STEPS } from './constants.ts'
import { DependencyCycleError, UnsatisfiableError } from './errors.ts'

/**
 * Dependency resolution after PubGrub (N. Weizenbaum, "PubGrub: Next-Generation Version Solving", 2018, and the
 * Dart pub solver documentation): unit propagation over incompatibilities, decisions newest-first, and conflict-driven
 * clause learning that backjumps and records why; when no solution exists, the learnt derivation tree becomes the
 * explanation, a chain of "because ... and ..., ..." lines naming the requirements in conflict.
 *
 * Versions are finite here (a repository lists them), so a term is a set of "worlds" for one package: the versions
 * it allows, plus NONE when it allows the package not to be selected. A positive term ("a 1.x") excludes NONE; a
 * negative one ("not a 1.x") includes it. Intersection is set intersection, and a term is satisfied by the partial
 * solution when the solution's worlds for that package are a subset of it, contradicted when they are disjoint.
 */

const NONE = '\u22a5'
const ROOT = '$root'
const ROOT_VERSION = '0.0.0'

export interface SolverProblem {
  /** What the user asks for: name -> semver range. */
  requirements: Record<string, string>
  /** Versions available per package (any order). */
  versions: (name: string) => string[]
  /** The dependencies of one version: name -> semver range. */
  dependencies: (name: string, version: string) => Record<string, string>
  /** Packages already present that cannot change (built-in modules): name -> version. */
  fixed?: Record<string, string>
  /** Versions to try first when allowed (what is installed, so an install does not upgrade others needlessly). */
  preferred?: Record<string, string>
}

export interface Solution {
  /** name -> chosen version, without the fixed packages. */
  selected: Map<string, string>
  /** The fixed packages the solution relies on. */
  fixed: Map<string, string>
}

type Worlds = ReadonlySet<string>

interface Term {
  name: string
  worlds: Worlds
  /** The range this term was written as, kept for messages while the set is unchanged. */
  label?: string
}

type Cause =
  | { kind: 'root' }
  | { kind: 'dependency' }
  | { kind: 'no-versions' }
  | { kind: 'fixed' }
  | { kind: 'derived', left: Incompatibility, right: Incompatibility }

interface Incompatibility {
  /** The terms that matter for solving (always-true terms dropped). */
  terms: Term[]
  /** The terms as written, for messages (a dependency on a range no version matches keeps its range here). */
  shown: Term[]
  cause: Cause
  id: number
}

interface Assignment {
  term: Term
  level: number
  decision: boolean
  cause?: Incompatibility
}

function intersect (a: Worlds, b: Worlds): Set<string> {
  const out = new Set<string>()
  for (const w of a) if (b.has(w)) out.add(w)
  return out
}

function subset (a: Worlds, b: Worlds): boolean {
  for (const w of a) if (!b.has(w)) return false
  return true
}

function disjoint (a: Worlds, b: Worlds): boolean {
  for (const w of a) if (b.has(w)) return false
  return true
}

class Solver {
  private readonly problem: SolverProblem
  private readonly universes = new Map<string, string[]>()
  private readonly incompatibilities = new Map<string, Incompatibility[]>()
  private readonly assignments: Assignment[] = []
  private readonly decisions = new Map<string, string>()
  private nextId = 0
  private steps = 0

  constructor (problem: SolverProblem) {
    this.problem = problem
  }

  /** All versions of a package, newest first, plus NONE: the set every term of it lives in. */
  universe (name: string): string[] {
    let u = this.universes.get(name)
    if (u === undefined) {
      if (name === ROOT) u = [ROOT_VERSION]
      else if (this.problem.fixed?.[name] !== undefined) u = [this.problem.fixed[name] as string]
      else u = [...new Set(this.problem.versions(name).filter(v => semver.valid(v) !== null))].sort(semver.rcompare)
      this.universes.set(name, u)
    }
    return u
  }

  all (name: string): Set<string> {
    return new Set([...this.universe(name), NONE])
  }

  positive (name: string, range: string): Term {
    const worlds = new Set(this.universe(name).filter(v => semver.satisfies(v, range, { includePrerelease: false })))
    return { name, worlds, label: range }
  }

  exact (name: string, version: string): Term {
    return { name, worlds: new Set([version]), label: version }
  }

  negate (term: Term): Term {
    const out = new Set<string>()
    for (const w of this.all(term.name)) if (!term.worlds.has(w)) out.add(w)
    const label = term.label === undefined ? undefined : term.label.startsWith('not ') ? term.label.slice(4) : `not ${term.label}`
    return { name: term.name, worlds: out, label }
  }

  add (terms: Term[], cause: Cause): Incompatibility {
    // Terms of one package are merged: all of them true together means their intersection is true.
    const merged = new Map<string, Term>()
    for (const t of terms) {
      const prev = merged.get(t.name)
      if (prev === undefined) merged.set(t.name, t)
      else {
        const worlds = intersect(prev.worlds, t.worlds)
        merged.set(t.name, { name: t.name, worlds, label: worlds.size === prev.worlds.size ? prev.label : worlds.size === t.worlds.size ? t.label : undefined })
      }
    }
    const shown = [...merged.values()]
    // A term every world satisfies is always true: it cannot help make the incompatibility false, so drop it.
    const all = (t: Term): boolean => t.worlds.size === this.universe(t.name).length + 1
    const inc: Incompatibility = { terms: shown.filter(t => !all(t)), shown, cause, id: this.nextId++ }
    for (const t of inc.terms) {
      let list = this.incompatibilities.get(t.name)
      if (list === undefined) this.incompatibilities.set(t.name, list = [])
      list.push(inc)
    }
    return inc
  }

  /** The partial solution's worlds for a package (all worlds when nothing is assigned). */
  worldsOf (name: string, upTo = this.assignments.length): Set<string> {
    let acc = this.all(name)
    for (let i = 0; i < upTo; i++) {
      const a = this.assignments[i] as Assignment
      if (a.term.name === name) acc = intersect(acc, a.term.worlds)
    }
    return acc
  }

  relation (inc: Incompatibility): { kind: 'satisfied' } | { kind: 'contradicted' } | { kind: 'almost', term: Term } | { kind: 'inconclusive' } {
    let unsatisfied: Term | undefined
    for (const t of inc.terms) {
      const have = this.worldsOf(t.name)
      if (subset(have, t.worlds)) continue
      if (disjoint(have, t.worlds)) return { kind: 'contradicted' }
      if (unsatisfied !== undefined) return { kind: 'inconclusive' }
      unsatisfied = t
    }
    return unsatisfied === undefined ? { kind: 'satisfied' } : { kind: 'almost', term: unsatisfied }
  }

  /** The root's decision is level 0, the next decision level 1, and so on; derivations take the current level. */
  level (): number {
    return Math.max(0, this.decisions.size - 1)
  }

  assign (term: Term, decision: boolean, cause?: Incompatibility): void {
    this.assignments.push({ term, level: decision ? this.decisions.size : this.level(), decision, cause })
    if (decision) this.decisions.set(term.name, [...term.worlds][0] as string)
  }

  backtrack (level: number): void {
    while (this.assignments.length > 0 && (this.assignments[this.assignments.length - 1] as Assignment).level > level) {
      const a = this.assignments.pop() as Assignment
      if (a.decision) this.decisions.delete(a.term.name)
    }
  }

  propagate (start: string): void {
    const changed = [start]
    while (changed.length > 0) {
      const name = changed.pop() as string
      const list = this.incompatibilities.get(name) ?? []
      for (let i = list.length - 1; i >= 0; i--) {
        this.step()
        const inc = list[i] as Incompatibility
        const rel = this.relation(inc)
        if (rel.kind === 'satisfied') {
          const learnt = this.resolve(inc)
          const r = this.relation(learnt)
          if (r.kind !== 'almost') throw new Error('solver invariant: a learnt incompatibility must be almost satisfied')
          this.assign(this.negate(r.term), false, learnt)
          changed.length = 0
          changed.push(r.term.name)
          break
        }
        if (rel.kind === 'almost') {
          this.assign(this.negate(rel.term), false, inc)
          if (!changed.includes(rel.term.name)) changed.push(rel.term.name)
        }
      }
    }
  }

  /** Index of the first assignment at which the partial solution satisfies `term`, given extra worlds to intersect. */
  satisfierIndex (term: Term, limit = this.assignments.length, extra?: Worlds): number {
    let acc: Set<string> = extra === undefined ? this.all(term.name) : new Set(extra)
    if (subset(acc, term.worlds)) return -1
    for (let i = 0; i < limit; i++) {
      const a = this.assignments[i] as Assignment
      if (a.term.name !== term.name) continue
      acc = intersect(acc, a.term.worlds)
      if (subset(acc, term.worlds)) return i
    }
    return Infinity
  }

  isFailure (inc: Incompatibility): boolean {
    return inc.terms.length === 0 || (inc.terms.length === 1 && inc.terms[0]?.name === ROOT && !inc.terms[0].worlds.has(NONE))
  }

  resolve (conflict: Incompatibility): Incompatibility {
    let inc = conflict
    for (;;) {
      this.step()
      if (this.isFailure(inc)) throw new UnsatisfiableError(this.explain(inc), { data: { packages: this.involved(inc) } })
      let satisfierTerm: Term | undefined
      let satisfierIdx = -1
      for (const t of inc.terms) {
        const idx = this.satisfierIndex(t)
        if (idx > satisfierIdx) {
          satisfierIdx = idx
          satisfierTerm = t
        }
      }
      const term = satisfierTerm as Term
      const satisfier = this.assignments[satisfierIdx] as Assignment
      let previousIdx = -1
      for (const t of inc.terms) {
        if (t === term) continue
        previousIdx = Math.max(previousIdx, this.satisfierIndex(t))
      }
      // The satisfier's own package: an earlier assignment may be needed together with the satisfier.
      previousIdx = Math.max(previousIdx, this.satisfierIndex(term, satisfierIdx, satisfier.term.worlds))
      const previousLevel = previousIdx < 0 ? 0 : (this.assignments[previousIdx] as Assignment).level
      if (satisfier.decision || previousLevel !== satisfier.level) {
        // Backjump; the learnt incompatibility (registered by add) now derives a new assignment.
        this.backtrack(previousLevel)
        return inc
      }
      const cause = satisfier.cause as Incompatibility
      const terms: Term[] = [
        ...inc.terms.filter(t => t.name !== term.name),
        ...cause.terms.filter(t => t.name !== satisfier.term.name)
      ]
      if (!subset(satisfier.term.worlds, term.worlds)) {
        // The satisfier alone does not satisfy the term: keep what of it lies outside.
        const outside = new Set([...satisfier.term.worlds].filter(w => !term.worlds.has(w)))
        terms.push(this.negate({ name: term.name, worlds: outside }))
      }
      inc = this.add(terms, { kind: 'derived', left: inc, right: cause })
    }
  }

  step (): void {
    if (++this.steps > SOLVER_MAX_STEPS) throw new UnsatisfiableError(`gave up after ${SOLVER_MAX_STEPS} steps`)
  }

  decide (): string | undefined {
    // Packages that must be selected (positive worlds) but have no decision yet; the most constrained first.
    let best: { name: string, allowed: string[] } | undefined
    const seen = new Set<string>()
    for (const a of this.assignments) {
      const name = a.term.name
      if (seen.has(name) || this.decisions.has(name)) continue
      seen.add(name)
      const worlds = this.worldsOf(name)
      if (worlds.has(NONE)) continue
      const allowed = this.universe(name).filter(v => worlds.has(v))
      if (best === undefined || allowed.length < best.allowed.length) best = { name, allowed }
    }
    if (best === undefined) return undefined
    const { name, allowed } = best
    if (allowed.length === 0) {
      this.add([{ name, worlds: this.worldsOf(name) }], { kind: this.problem.fixed?.[name] !== undefined ? 'fixed' : 'no-versions' })
      return name
    }
    const preferred = this.problem.preferred?.[name]
    const version = preferred !== undefined && allowed.includes(preferred) ? preferred : allowed[0] as string
    const deps = this.dependenciesOf(name, version)
    let conflict = false
    for (const [dep, range] of Object.entries(deps)) {
      const inc = this.add([this.exact(name, version), this.negate(this.positive(dep, range))], { kind: name === ROOT ? 'root' : 'dependency' })
      // Deciding would satisfy this incompatibility at once: let propagation derive from it instead.
      if (inc.terms.every(t => t.name === name || subset(this.worldsOf(t.name), t.worlds))) conflict = true
    }
    if (!conflict) this.assign(this.exact(name, version), true)
    return name
  }

  dependenciesOf (name: string, version: string): Record<string, string> {
    if (name === ROOT) return this.problem.requirements
    if (this.problem.fixed?.[name] !== undefined) return {}
    return this.problem.dependencies(name, version)
  }

  solve (): Solution {
    this.add([{ name: ROOT, worlds: new Set([NONE]) }], { kind: 'root' })
    let next: string | undefined = ROOT
    while (next !== undefined) {
      this.propagate(next)
      next = this.decide()
    }
    const selected = new Map<string, string>()
    const fixed = new Map<string, string>()
    for (const [name, version] of this.decisions) {
      if (name === ROOT) continue
      if (this.problem.fixed?.[name] !== undefined) fixed.set(name, version)
      else selected.set(name, version)
    }
    return { selected, fixed }
  }

  // ---- explanations -------------------------------------------------------------------------------------------------

  describeWorlds (term: Term, positive: boolean): string {
    const universe = this.universe(term.name)
    const versions = universe.filter(v => positive ? term.worlds.has(v) : !term.worlds.has(v))
    if (term.label !== undefined) return term.label.replace(/^not /, '')
    if (versions.length === universe.length) return 'any version'
    if (versions.length === 0) return 'no version'
    return [...versions].sort(semver.compare).join(' || ')
  }

  describeTerm (term: Term): string {
    if (term.name === ROOT) return 'the request'
    const positive = !term.worlds.has(NONE)
    const text = `${term.name} ${this.describeWorlds(term, positive)}`
    return positive ? text : `not ${text}`
  }

  /** Why a dependency's range matches nothing: no version published, or the built-in one does not fit. */
  whyEmpty (t: Term): string {
    const fixed = this.problem.fixed?.[t.name]
    if (fixed !== undefined) return ` (${t.name} is built in at ${fixed})`
    const universe = this.universe(t.name)
    return universe.length === 0 ? ` (there is no package ${t.name})` : ` (no version of ${t.name} matches; there are ${[...universe].sort(semver.compare).join(', ')})`
  }

  describe (inc: Incompatibility): string {
    const terms = inc.cause.kind === 'derived' ? inc.terms : inc.shown
    const pos = terms.filter(t => !t.worlds.has(NONE))
    const neg = terms.filter(t => t.worlds.has(NONE))
    const show = (t: Term): string => `${t.name} ${this.describeWorlds(t, !t.worlds.has(NONE))}`
    if (inc.cause.kind === 'no-versions') return `no version of ${show(terms[0] as Term)} is available`
    if (inc.cause.kind === 'fixed') return `${(terms[0] as Term).name} is built in at ${this.problem.fixed?.[(terms[0] as Term).name] ?? '?'}, which does not match ${this.describeWorlds(terms[0] as Term, true)}`
    if (terms.length === 0) return 'no versions can be chosen'
    if (terms.length === 1 && terms[0]?.name === ROOT) return 'the request cannot be satisfied'
    const rootTerm = pos.find(t => t.name === ROOT)
    const empty = (t: Term): string => t.worlds.size === this.universe(t.name).length + 1 ? this.whyEmpty(t) : ''
    if (rootTerm !== undefined) {
      const others = terms.filter(t => t !== rootTerm)
      if (others.length === 1 && others[0]?.worlds.has(NONE)) return `the request needs ${show(others[0])}${empty(others[0])}`
      if (others.length === 1) return `the request forbids ${show(others[0] as Term)}`
    }
    if (pos.length === 1 && neg.length === 1) return `${show(pos[0] as Term)} depends on ${show(neg[0] as Term)}${empty(neg[0] as Term)}`
    if (pos.length === 1 && neg.length === 0) return `${show(pos[0] as Term)} cannot be used`
    if (neg.length === 0) return `${pos.map(show).join(' and ')} are incompatible`
    return `${pos.map(show).join(' and ')} require ${neg.map(show).join(' or ')}`
  }

  explain (failure: Incompatibility): string {
    const lines: string[] = []
    const done = new Map<number, number>()
    const visit = (inc: Incompatibility): void => {
      if (inc.cause.kind !== 'derived' || done.has(inc.id)) return
      const { left, right } = inc.cause
      visit(left)
      visit(right)
      const ref = (c: Incompatibility): string => {
        const n = done.get(c.id)
        return n === undefined ? this.describe(c) : `${this.describe(c)} (${n})`
      }
      lines.push(`Because ${ref(left)} and ${ref(right)}, ${this.describe(inc)}.`)
      done.set(inc.id, lines.length)
    }
    visit(failure)
    if (lines.length === 0) return `${this.describe(failure)}.`
    return lines.map((l, i) => `(${i + 1}) ${l}`).join('\n')
  }

  involved (inc: Incompatibility): string[] {
    const names = new Set<string>()
    const visit = (i: Incompatibility): void => {
      for (const t of i.terms) if (t.name !== ROOT) names.add(t.name)
      if (i.cause.kind === 'derived') { visit(i.cause.left); visit(i.cause.right) }
    }
    visit(inc)
    return [...names].sort()
  }
}

/** Chooses one version of each needed package satisfying every range, or throws UnsatisfiableError explaining why. */
export function solve (problem: SolverProblem): Solution {
  return new Solver(problem).solve()
}

/** Throws DependencyCycleError naming a cycle among the chosen packages, if there is one. */
export function assertAcyclic (graph: Map<string, string[]>): void {
  const state = new Map<string, 'visiting' | 'done'>()
  const stack: string[] = []
  const visit = (node: string): void => {
    const s = state.get(node)
    if (s === 'done') return
    if (s === 'visiting') {
      throw new DependencyCycleError([...stack.slice(stack.indexOf(node)), node])
    }
    state.set(node, 'visiting')
    stack.push(node)
    for (const next of graph.get(node) ?? []) if (graph.has(next)) visit(next)
    stack.pop()
    state.set(node, 'done')
  }
  for (const node of [...graph.keys()].sort()) visit(node)
}
