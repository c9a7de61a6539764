import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel, ReloadFailedError } from '../../src/kernel/index.ts'
import type { TraceRecord } from '../../src/kernel/index.ts'

let dataDir: string
let kernel: Kernel

async function writeModule (dir: string, version: string, body: string): Promise<void> {
  await writeFile(join(dir, 'module.json'), JSON.stringify({ name: 'swap', version, entry: './index.ts' }))
  await writeFile(join(dir, 'index.ts'), `export const swap = { async start () { ${body} } }\n`)
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'logos-kernel-reload-'))
  kernel = new Kernel({ dataDir })
})
afterEach(async () => {
  await kernel.shutdown()
  await rm(dataDir, { recursive: true, force: true })
})

describe('kernel reload', () => {
  it('rolls a folder module back to the code it ran, although the folder now holds the broken code', async () => {
    const dir = join(dataDir, 'swap')
    await mkdir(dir)
    await writeModule(dir, '1.0.0', 'return { methods: { v: () => 1 } }')
    await kernel.load({ dir })
    await kernel.start('swap')
    const records: TraceRecord[] = []
    kernel.subscribeTrace((r) => { records.push(r) }, { modules: ['swap'], types: ['lifecycle', 'supervision'] })
    await writeModule(dir, '2.0.0', 'await new Promise(r => setTimeout(r, 30)); throw new Error(\'broken\')')
    // Calls made during the failed swap wait and are served by the restored code.
    const during = [kernel.call('swap', 'v'), kernel.reload('swap').catch((err: unknown) => err), kernel.call('swap', 'v')]
    await new Promise(resolve => setTimeout(resolve, 5))
    during.push(kernel.call('swap', 'v'))
    const [before, failure, after, waited] = await Promise.all(during)
    expect(failure).toBeInstanceOf(ReloadFailedError)
    expect((failure as ReloadFailedError).data).toEqual({ module: 'swap', rolledBack: true })
    expect([before, after, waited]).toEqual([1, 1, 1])
    expect(kernel.state('swap')).toBe('running')
    expect(kernel.describe('swap').version).toBe('1.0.0')
    // It never passed through `failed`: the rollback happens inside `reloading`, and is reported once it is done.
    expect(records.map(r => r.type === 'lifecycle' ? `${r.from}->${r.to}` : r.type === 'supervision' ? `${r.action} ${JSON.stringify(r.detail.rolledBack)}` : r.type))
      .toEqual(['running->reloading', 'reloading->running', 'rolled-back true'])
    // A later good version replaces it as usual, and a restart reads the folder again.
    await writeModule(dir, '3.0.0', 'return { methods: { v: () => 3 } }')
    await kernel.reload('swap')
    expect(await kernel.call('swap', 'v')).toBe(3)
    await kernel.stop('swap')
    await kernel.start('swap')
    expect(await kernel.call('swap', 'v')).toBe(3)
  })

  it('leaves the module failed, and says so, when the previous code cannot start again either', async () => {
    let starts = 0
    await kernel.load({
      name: 'flaky',
      version: '1.0.0',
      start: () => {
        if (++starts > 1) throw new Error('the old code cannot start twice')
        return { methods: { v: () => 1 } }
      }
    })
    await kernel.start('flaky')
    const err = await kernel.reload('flaky', { source: { name: 'flaky', version: '2.0.0', start: () => { throw new Error('new code broken') } } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReloadFailedError)
    expect((err as ReloadFailedError).data.rolledBack).toBe(false)
    expect(kernel.state('flaky')).toBe('failed')
    await expect(kernel.call('flaky', 'v')).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_RUNNING' })
  })

  it('runs concurrent reloads of one module one after another', async () => {
    let version = 0
    const make = (v: number): { name: string, version: string, start: () => Promise<{ methods: { v: () => number } }> } => ({
      name: 'seq',
      version: `${v}.0.0`,
      start: async () => {
        await new Promise(resolve => setTimeout(resolve, 10))
        version = v
        return { methods: { v: () => v } }
      }
    })
    await kernel.load(make(1))
    await kernel.start('seq')
    await Promise.all([2, 3, 4].map(async v => { await kernel.reload('seq', { source: make(v) }) }))
    expect(kernel.state('seq')).toBe('running')
    expect(await kernel.call('seq', 'v')).toBe(version)
    expect(kernel.describe('seq').version).toBe(`${version}.0.0`)
  })
})
