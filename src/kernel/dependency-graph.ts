import semver from 'semver'
import { DependencyCycleError, DependencyMissingError, VersionConflictError } from './errors.ts'
import type { ModuleManifest } from './types.ts'

type Manifests = ReadonlyMap<string, Pick<ModuleManifest, 'name' | 'version' | 'dependencies'>>

/**
 * The modules `target` needs, dependencies first, ending with `target` itself. Refuses a missing dependency, a version
 * outside the required range and a cycle, each with the chain of requirements that leads to it.
 */
export function startOrder (target: string, manifests: Manifests): string[] {
  const order: string[] = []
  const done = new Set<string>()
  const path: string[] = []
  const visit = (name: string): void => {
    if (done.has(name)) return
    const cycleStart = path.indexOf(name)
    if (cycleStart !== -1) throw new DependencyCycleError([...path.slice(cycleStart), name])
    const manifest = manifests.get(name)
    if (manifest === undefined) throw new Error(`unreachable: ${name} checked by its dependent`)
    path.push(name)
    for (const [dep, range] of Object.entries(manifest.dependencies)) {
      const depManifest = manifests.get(dep)
      if (depManifest === undefined) throw new DependencyMissingError([...path], dep, range)
      if (!semver.satisfies(depManifest.version, range, { includePrerelease: true })) {
        throw new VersionConflictError([...path], dep, range, depManifest.version)
      }
      visit(dep)
    }
    path.pop()
    done.add(name)
    order.push(name)
  }
  if (!manifests.has(target)) throw new Error(`unreachable: ${target} is checked by the caller`)
  visit(target)
  return order
}

/** Modules that name `name` as a dependency. */
export function directDependents (name: string, manifests: Manifests): string[] {
  const out: string[] = []
  for (const m of manifests.values()) if (Object.hasOwn(m.dependencies, name)) out.push(m.name)
  return out.sort()
}

/** Every module that depends on `name` directly or not, in an order safe for stopping (dependents before dependencies). */
export function stopOrder (name: string, manifests: Manifests): string[] {
  const order: string[] = []
  const seen = new Set<string>()
  const visit = (n: string): void => {
    if (seen.has(n)) return
    seen.add(n)
    for (const dependent of directDependents(n, manifests)) visit(dependent)
    order.push(n)
  }
  visit(name)
  return order
}
