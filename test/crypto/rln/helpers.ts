import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The folder of the ceremony resources for tests: $LOGOS_RLN_RESOURCES, else the first `shared/rln/tree_height_20`
 * found walking up from this file (the repository sits beside shared/ on developer machines and in CI).
 */
export function testResourcesDir (): string {
  const fromEnv = process.env.LOGOS_RLN_RESOURCES
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'shared', 'rln', 'tree_height_20')
    if (existsSync(join(candidate, 'rln_final.zkey'))) return candidate
    const parent = resolve(dir, '..')
    if (parent === dir) throw new Error('RLN test resources not found: set LOGOS_RLN_RESOURCES to a folder with rln.wasm and rln_final.zkey')
    dir = parent
  }
}
