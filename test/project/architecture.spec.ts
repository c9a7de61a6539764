import { readFile, readdir } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The folder layout is the architecture: these rules keep lower layers from importing higher ones and make each
 * folder's index.ts its only entry point.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const src = join(root, 'src')

/** What each layer may import (besides itself and npm packages). */
const ALLOWED: Record<string, string[]> = {
  common: [],
  crypto: ['common'],
  net: ['common', 'crypto'],
  kernel: ['common'],
  sdk: ['common', 'kernel'],
  modules: ['sdk', 'crypto', 'net', 'common'],
  apps: ['common', 'crypto', 'net', 'kernel', 'sdk', 'modules', 'apps']
}
/** Layers whose sub-folders are separate units (one entry point each). */
const UNIT_LAYERS = new Set(['crypto', 'net', 'modules', 'apps'])

async function sourceFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await sourceFiles(p))
    else if (entry.name.endsWith('.ts')) out.push(p)
  }
  return out
}

function unitOf (file: string): { layer: string, unit: string } {
  const parts = relative(src, file).split('/')
  const layer = parts[0] as string
  const unit = UNIT_LAYERS.has(layer) && parts.length > 2 ? `${layer}/${parts[1] as string}` : layer
  return { layer, unit }
}

async function relativeImports (file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
    out.push((m[1] ?? m[2]) as string)
  }
  return out
}

describe('architecture', () => {
  it('lower layers never import higher ones, and modules reach the kernel only through the SDK', async () => {
    const violations: string[] = []
    for (const file of await sourceFiles(src)) {
      const from = unitOf(file)
      for (const spec of await relativeImports(file)) {
        const target = resolve(dirname(file), spec)
        if (!target.startsWith(src)) continue
        const to = unitOf(target)
        if (to.layer === from.layer) continue
        if (!(ALLOWED[from.layer] ?? []).includes(to.layer)) violations.push(`${relative(root, file)} imports ${relative(root, target)}`)
      }
    }
    expect(violations).toEqual([])
  })

  it('a folder is entered only through its index.ts', async () => {
    const violations: string[] = []
    for (const file of await sourceFiles(src)) {
      const from = unitOf(file)
      for (const spec of await relativeImports(file)) {
        const target = resolve(dirname(file), spec)
        if (!target.startsWith(src)) continue
        const to = unitOf(target)
        if (to.unit === from.unit) continue
        const unitDir = join(src, to.unit)
        if (target !== join(unitDir, 'index.ts')) violations.push(`${relative(root, file)} imports ${relative(root, target)} (use ${relative(root, join(unitDir, 'index.ts'))})`)
      }
    }
    expect(violations).toEqual([])
  })

  it('modules never import each other: they call by name', async () => {
    const violations: string[] = []
    for (const file of await sourceFiles(join(src, 'modules'))) {
      const from = unitOf(file)
      for (const spec of await relativeImports(file)) {
        const to = unitOf(resolve(dirname(file), spec))
        if (to.layer === 'modules' && to.unit !== from.unit) violations.push(`${relative(root, file)} imports ${to.unit}`)
      }
    }
    expect(violations).toEqual([])
  })

  it('no default exports', async () => {
    const offenders: string[] = []
    for (const file of await sourceFiles(src)) {
      if (/^export default /m.test(await readFile(file, 'utf8'))) offenders.push(relative(root, file))
    }
    expect(offenders).toEqual([])
  })

  it('modules use the kernel\'s log levels and definition checks through the SDK instead of copies of them', async () => {
    // The browser UI (basecamp/ui) runs outside Node and cannot import the SDK.
    const COPIES: Array<[RegExp, string]> = [
      [/'trace',\s*'debug',\s*'info',\s*'warn',\s*'error'/, 'a list of the log levels (LOG_LEVELS, isLogLevel)'],
      [/trace:\s*0,\s*debug:\s*1/, 'a rank of the log levels (levelEnabled)'],
      [/as the module's code says/, 'the definition-agrees-with-manifest check (checkDefinitionAgrees)']
    ]
    const offenders: string[] = []
    for (const file of await sourceFiles(join(src, 'modules'))) {
      if (relative(src, file).startsWith('modules/basecamp/ui/')) continue
      const text = await readFile(file, 'utf8')
      for (const [pattern, what] of COPIES) if (pattern.test(text)) offenders.push(`${relative(root, file)}: ${what}`)
    }
    expect(offenders).toEqual([])
  })
})
