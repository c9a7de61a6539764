import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel, ReloadFailedError, createModuleContext, importDefinition, methodEntries } from '../../src/kernel/index.ts'
import type { Host, KeptCode, LaunchSpec, ModuleDefinition, ModuleInstance, TraceRecord } from '../../src/kernel/index.ts'

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

  it('rolls back through the code a host kept, for hosts whose instances carry no definition', async () => {
    // Like a host that runs modules in other processes: the kernel never sees the definition, only the host has it.
    const counts = { relaunched: 0, released: 0 }
    const run = async (definition: ModuleDefinition, spec: LaunchSpec): Promise<ModuleInstance> => {
      const { ctx, dispose } = createModuleContext({ manifest: spec.manifest, dataDir: spec.dataDir, config: spec.config, port: spec.port })
      const runtime = await definition.start(ctx)
      const stop = async (): Promise<void> => { dispose() }
      return {
        methods: methodEntries(runtime),
        events: [],
        info: () => undefined,
        stop,
        stopAndKeep: async (): Promise<KeptCode> => {
          await stop()
          let relaunched = false
          return {
            relaunch: async (next) => { relaunched = true; counts.relaunched++; return await run(definition, next) },
            release: async () => { if (!relaunched) counts.released++ }
          }
        }
      }
    }
    const keeping: Host = {
      name: 'keeping',
      launch: async (spec) => await run(await importDefinition(spec.entryPath as string, spec.manifest, { fresh: true }), spec)
    }
    kernel.registerHost(keeping)
    const dir = join(dataDir, 'kept')
    await mkdir(dir)
    await writeModule(dir, '1.0.0', 'return { methods: { v: () => 1 } }')
    await kernel.load({ dir }, { host: 'keeping' })
    await kernel.start('swap')
    await writeModule(dir, '2.0.0', 'throw new Error(\'broken\')')
    const err = await kernel.reload('swap').catch((e: unknown) => e)
    expect((err as ReloadFailedError).data).toEqual({ module: 'swap', rolledBack: true })
    expect(await kernel.call('swap', 'v')).toBe(1)
    expect(counts).toEqual({ relaunched: 1, released: 0 })
    // A good version: the kept code is released, not relaunched.
    await writeModule(dir, '3.0.0', 'return { methods: { v: () => 3 } }')
    await kernel.reload('swap')
    expect(await kernel.call('swap', 'v')).toBe(3)
    expect(counts).toEqual({ relaunched: 1, released: 1 })
  })
})
