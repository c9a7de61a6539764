import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseNodeConfig, startNode } from '../../../src/apps/node/index.ts'
import { tempDir } from '../../helpers/temp-dir.ts'

const sdk = pathToFileURL(join(import.meta.dirname, '../../../src/sdk/index.ts')).href

async function moduleFolder (root: string, name: string, deps: Record<string, string> = {}, body = 'start: (ctx) => ({ methods: { name: () => ctxName, config: () => ctx.config } })'): Promise<string> {
  const dir = join(root, name)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'module.json'), JSON.stringify({ name, version: '1.0.0', entry: './index.ts', dependencies: deps }))
  const exportName = name.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
  await writeFile(join(dir, 'index.ts'), `import { defineModule } from '${sdk}'\nconst ctxName = '${name}'\nexport const ${exportName} = defineModule({ ${body} })\n`)
  return dir
}

describe('a node', () => {
  it('loads and starts its distribution, honours config.json, and stops', async () => {
    const dir = await tempDir()
    const mods = join(dir.path, 'mods')
    const dirs = [
      await moduleFolder(mods, 'alpha'),
      await moduleFolder(mods, 'beta', { alpha: '^1.0.0' }),
      await moduleFolder(mods, 'gamma'),
      await moduleFolder(mods, 'needs-gamma', { gamma: '^1.0.0' }),
      await moduleFolder(mods, 'hosted', {}, "host: 'elsewhere', start: () => ({})"),
      await moduleFolder(mods, 'broken', {}, "start: () => { throw new Error('nope') }")
    ]
    const dataDir = join(dir.path, 'data')
    await mkdir(dataDir, { recursive: true })
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ modules: { gamma: { enabled: false }, alpha: { config: { x: 1 }, logLevel: 'debug' }, hosted: { host: 'in-process' } } }))
    const node = await startNode({ dataDir, moduleDirs: dirs })
    const states = Object.fromEntries(node.kernel.list().map(e => [e.name, e.state]))
    // gamma is disabled and takes needs-gamma with it; the user's host setting overrides the manifest's
    expect(states).toEqual({ alpha: 'running', beta: 'running', broken: 'failed', directory: 'running', hosted: 'running' })
    expect(node.kernel.describe('hosted').host).toBe('in-process')
    expect(await node.kernel.call('beta', 'name')).toBe('beta')
    expect(await node.kernel.call('alpha', 'config')).toEqual({ x: 1 })
    expect(node.kernel.logs.level('alpha')).toBe('debug')
    await node.stop()
    expect(node.kernel.state('beta')).toBe('stopped')
    await dir.remove()
  })

  it('parses configuration strictly', () => {
    expect(parseNodeConfig({ logLevel: 'warn', modules: { a: { host: 'child-process', config: { k: 1 } } } })).toEqual({ logLevel: 'warn', modules: { a: { host: 'child-process', config: { k: 1 } } } })
    expect(() => parseNodeConfig({ logLevel: 'loud' })).toThrow(/"logLevel" must be one of/)
    expect(() => parseNodeConfig({ modules: { a: { config: [] } } })).toThrow(/"modules.a.config" must be an object/)
    expect(() => parseNodeConfig([])).toThrow(/must be an object/)
  })
})
