import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errorFromWire, errorToWire } from '../../src/common/index.ts'
import { Kernel, ModuleCrashedError, createModuleContext, methodEntries } from '../../src/kernel/index.ts'
import type { Host, InstanceReporter, LaunchSpec, MethodEntry, ModuleInstance, SupervisionTrace } from '../../src/kernel/index.ts'
import { defineModule } from '../../src/sdk/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

/**
 * A host whose channel is a structured clone each way: what a process boundary does to calls, results and errors.
 * It also lets a test make the module "crash" and come back, as a supervising host would.
 */
function cloningHost (): Host & { reporter?: InstanceReporter, relaunch?: () => Promise<ModuleInstance> } {
  const host: Host & { reporter?: InstanceReporter, relaunch?: () => Promise<ModuleInstance> } = {
    name: 'cloning',
    async launch (spec: LaunchSpec): Promise<ModuleInstance> {
      host.reporter = spec.reporter
      host.relaunch = async () => await host.launch(spec)
      const { ctx, dispose } = createModuleContext({ manifest: spec.manifest, dataDir: spec.dataDir, config: spec.config, port: spec.port })
      const runtime = await (spec.definition as NonNullable<LaunchSpec['definition']>).start(ctx)
      const local = methodEntries(runtime)
      const methods = new Map<string, MethodEntry>()
      for (const [name, entry] of local) {
        methods.set(name, {
          name,
          invoke: async (params, call) => {
            try {
              return structuredClone(await entry.invoke(structuredClone(params), call))
            } catch (err) {
              throw errorFromWire(structuredClone(errorToWire(err)))
            }
          }
        })
      }
      return { methods, events: [], info: () => ({ pid: 4242, restarts: 0, startedAt: Date.now() }), stop: async () => { dispose() } }
    }
  }
  return host
}

describe('the Host interface', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  let host: ReturnType<typeof cloningHost>
  beforeEach(async () => {
    dir = await tempDir()
    kernel = new Kernel({ dataDir: dir.path, callWaitMs: 2000 })
    host = cloningHost()
    kernel.registerHost(host)
    await kernel.load(defineModule({
      name: 'remote',
      version: '1.0.0',
      host: 'cloning',
      start: () => ({
        methods: {
          reverse: (bytes: Uint8Array) => bytes.slice().reverse(),
          fail: () => { throw new ModuleCrashedError('inner') }
        }
      })
    }))
    await kernel.start('remote')
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  it('runs a module on another host: bytes and typed errors cross the channel intact', async () => {
    const out = await kernel.call('remote', 'reverse', new Uint8Array([1, 2, 3]))
    expect(out).toBeInstanceOf(Uint8Array)
    expect([...(out as Uint8Array)]).toEqual([3, 2, 1])
    const err = await kernel.call('remote', 'fail').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ModuleCrashedError)
    expect(kernel.describe('remote')).toMatchObject({ host: 'cloning', process: { pid: 4242 } })
    expect(() => kernel.registerHost(cloningHost())).toThrow(/already registered/)
  })

  it('crash reports put the module in restarting, calls wait, and a restart brings it back', async () => {
    const records: SupervisionTrace[] = []
    const crashes: unknown[] = []
    kernel.subscribeTrace(r => records.push(r as SupervisionTrace), { types: ['supervision'] })
    kernel.subscribe('test', 'directory', 'module:crashed', p => crashes.push(p))
    host.reporter?.crashed({ pid: 4242, exitCode: 1 })
    expect(kernel.state('remote')).toBe('restarting')
    const waiting = kernel.call('remote', 'reverse', new Uint8Array([9, 8]))
    host.reporter?.restarting({ attempt: 1, delayMs: 0 })
    const instance = await host.relaunch?.()
    host.reporter?.restarted(instance as ModuleInstance, { pid: 4243 })
    expect([...(await waiting as Uint8Array)]).toEqual([8, 9])
    expect(kernel.state('remote')).toBe('running')
    expect(kernel.describe('remote').process?.restarts).toBe(1)
    expect(records.map(r => r.action)).toEqual(['crashed', 'restarting', 'restarted'])
    expect(crashes).toEqual([{ name: 'remote', pid: 4242, exitCode: 1 }])
  })

  it('a host that gives up leaves the module failed, and waiting calls fail at once', async () => {
    host.reporter?.crashed({ exitCode: 1 })
    const waiting = kernel.call('remote', 'reverse', new Uint8Array([1]))
    host.reporter?.gaveUp(new Error('too many restarts'), { restarts: 5 })
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_RUNNING', data: { state: 'failed' } })
    expect(kernel.describe('remote').cause?.message).toBe('too many restarts')
  })
})
