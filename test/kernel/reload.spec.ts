import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel } from '../../src/kernel/index.ts'
import type { SupervisionTrace } from '../../src/kernel/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

const sdk = pathToFileURL(join(import.meta.dirname, '../../src/sdk/index.ts')).href

async function writeModule (dir: string, version: string, body: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'module.json'), JSON.stringify({ name: 'greeter', version, entry: './index.ts' }))
  await writeFile(join(dir, 'index.ts'), `import { defineModule } from '${sdk}'\nexport const greeter = defineModule({ ${body} })\n`)
}

describe('reload', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  let moduleDir: string
  beforeEach(async () => {
    dir = await tempDir()
    moduleDir = join(dir.path, 'greeter')
    kernel = new Kernel({ dataDir: join(dir.path, 'data') })
    await writeModule(moduleDir, '1.0.0', "start: () => ({ methods: { greet: async () => { await new Promise(r => setTimeout(r, 2)); return 'hello v1' } } })")
    await kernel.load({ dir: moduleDir })
    await kernel.start('greeter')
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  it('replaces the code while calls keep succeeding', async () => {
    let stop = false
    const results: string[] = []
    const errors: unknown[] = []
    const load = (async () => {
      while (!stop) {
        try {
          results.push(await kernel.call('greeter', 'greet') as string)
        } catch (err) {
          errors.push(err)
        }
        await new Promise(resolve => setImmediate(resolve)) // let timers run
      }
    })()
    await new Promise(resolve => setTimeout(resolve, 30))
    await writeModule(moduleDir, '1.1.0', "start: () => ({ methods: { greet: async () => 'hello v2' } })")
    await kernel.reload('greeter')
    await new Promise(resolve => setTimeout(resolve, 30))
    stop = true
    await load
    expect(errors).toEqual([])
    expect(results).toContain('hello v1')
    expect(results.at(-1)).toBe('hello v2')
    expect(kernel.describe('greeter').version).toBe('1.1.0')
  })

  it('rolls back to the previous code when the new code fails to start, and says so', async () => {
    const records: SupervisionTrace[] = []
    kernel.subscribeTrace(r => records.push(r as SupervisionTrace), { types: ['supervision'] })
    await writeModule(moduleDir, '1.2.0', "start: () => { throw new Error('broken build') }")
    await expect(kernel.reload('greeter')).rejects.toMatchObject({ code: 'ERR_RELOAD_FAILED', data: { rolledBack: true } })
    expect(kernel.state('greeter')).toBe('running')
    expect(kernel.describe('greeter').version).toBe('1.0.0')
    expect(await kernel.call('greeter', 'greet')).toBe('hello v1')
    expect(records.map(r => r.action)).toEqual(['rolled-back'])
  })

  it('refuses new code whose version no longer fits a dependent, before stopping anything', async () => {
    await kernel.load({ name: 'fan', version: '1.0.0', dependencies: { greeter: '^1.0.0' }, start: () => ({}) })
    await kernel.start('fan')
    await writeModule(moduleDir, '2.0.0', "start: () => ({ methods: { greet: () => 'v2' } })")
    await expect(kernel.reload('greeter')).rejects.toMatchObject({ code: 'ERR_VERSION_CONFLICT' })
    expect(kernel.state('greeter')).toBe('running')
    expect(await kernel.call('greeter', 'greet')).toBe('hello v1')
  })
})
