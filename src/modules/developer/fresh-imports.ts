import { existsSync } from 'node:fs'
import { registerHooks } from 'node:module'
import type { ModuleHooks, ResolveFnOutput, ResolveHookContext } from 'node:module'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MANIFEST_FILE } from '../../sdk/index.ts'
import { MODULE_ROOT_CACHE_SIZE } from './constants.ts'

/**
 * Hot reload of modules made of several files, in the kernel's process.
 *
 * The in-process host imports a module's entry under a fresh URL at each start (`entry.ts?generation=N`), which
 * bypasses the ESM cache for that one file; the files it imports would still come from the cache, so a change to any
 * of them would not show. This resolve hook (module.registerHooks, synchronous, in this thread) carries the
 * generation on: a file imported by a generation-tagged file of a module folder, from inside that same folder (the
 * nearest folder with a module.json, outside node_modules), is imported under the same generation. Each reload thus
 * loads the module's whole folder afresh, while everything outside it (the SDK, npm packages) stays shared, as it
 * must for `instanceof` and registered error classes to keep working.
 *
 * The cost is memory: ES modules cannot be unloaded, so every generation's code stays until the process ends. That is
 * fine while developing; for code that changes in production, the child-process host restarts a process instead.
 * Also, a previous generation stays importable, which is what lets a failed reload fall back to it.
 */

/** The query parameter the kernel's loader puts on a fresh entry URL (src/kernel/loader.ts importDefinition). */
export const GENERATION_PARAM = 'generation'

let hooks: ModuleHooks | undefined
let users = 0
const roots = new Map<string, string | null>()

/** Installs the hook (once per process, counted); the returned function removes this use of it. */
export function installFreshImports (): () => void {
  if (hooks === undefined) hooks = registerHooks({ resolve: resolveFresh })
  users++
  let removed = false
  return () => {
    if (removed) return
    removed = true
    if (--users === 0 && hooks !== undefined) {
      hooks.deregister()
      hooks = undefined
      roots.clear()
    }
  }
}

export function resolveFresh (specifier: string, context: ResolveHookContext, nextResolve: (specifier: string, context?: Partial<ResolveHookContext>) => ResolveFnOutput): ResolveFnOutput {
  const result = nextResolve(specifier, context)
  const parent = context.parentURL
  if (parent === undefined || !parent.startsWith('file:') || !result.url.startsWith('file:')) return result
  const parentUrl = new URL(parent)
  const generation = parentUrl.searchParams.get(GENERATION_PARAM)
  if (generation === null) return result
  const child = new URL(result.url)
  if (child.search !== '') return result
  const root = moduleRoot(dirname(fileURLToPath(parentUrl)))
  const childPath = fileURLToPath(child)
  if (root === null || !childPath.startsWith(root + sep) || childPath.slice(root.length).split(sep).includes('node_modules')) return result
  child.searchParams.set(GENERATION_PARAM, generation)
  return { ...result, url: child.href }
}

/** The nearest folder at or above `dir` with a module.json (null when none), remembered per folder. */
function moduleRoot (dir: string): string | null {
  const known = roots.get(dir)
  if (known !== undefined) return known
  let root: string | null
  if (existsSync(join(dir, MANIFEST_FILE))) root = dir
  else {
    const up = dirname(dir)
    root = up === dir ? null : moduleRoot(up)
  }
  if (roots.size >= MODULE_ROOT_CACHE_SIZE) roots.clear()
  roots.set(dir, root)
  return root
}
