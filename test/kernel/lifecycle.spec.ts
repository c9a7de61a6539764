import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel } from '../../src/kernel/index.ts'
import type { LifecycleTrace, ModuleDefinition, TraceRecord } from '../../src/kernel/index.ts'
import { defineModule } from '../../src/sdk/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

function mod (name: string, deps: Record<string, string> = {}, extra: Partial<ModuleDefinition> = {}, log?: string[]): ModuleDefinition {
  return defineModule({
    name,
    version: '1.0.0',
    dependencies: deps,
    start: () => {
      log?.push(`start ${name}`)
      return { methods: { ping: () => 'pong' }, stop: () => { log?.push(`stop ${name}`) } }
    },
    ...extra
  })
}

describe('lifecycle', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  beforeEach(async () => {
    dir = await tempDir()
    kernel = new Kernel({ dataDir: dir.path })
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  it('goes resolved -> starting -> running -> stopping -> stopped, visible on the trace stream', async () => {
    const records: TraceRecord[] = []
    kernel.subscribeTrace(r => records.push(r), { types: ['lifecycle'] })
    await kernel.load(mod('a'))
    expect(kernel.state('a')).toBe('resolved')
    await kernel.start('a')
    expect(kernel.state('a')).toBe('running')
    await kernel.stop('a')
    expect(kernel.state('a')).toBe('stopped')
    await kernel.start('a')
    await kernel.unload('a')
    expect(kernel.has('a')).toBe(false)
    expect(records.map(r => `${(r as LifecycleTrace).from}>${(r as LifecycleTrace).to}`)).toEqual([
      'unloaded>resolved', 'resolved>starting', 'starting>running', 'running>stopping', 'stopping>stopped',
      'stopped>starting', 'starting>running', 'running>stopping', 'stopping>stopped', 'stopped>unloaded'
    ])
  })

  it('starts dependencies first in topological order and stops them in reverse', async () => {
    const log: string[] = []
    // d depends on b and c; both depend on a.
    await kernel.load(mod('d', { b: '^1.0.0', c: '^1.0.0' }, {}, log))
    await kernel.load(mod('c', { a: '^1.0.0' }, {}, log))
    await kernel.load(mod('b', { a: '^1.0.0' }, {}, log))
    await kernel.load(mod('a', {}, {}, log))
    await kernel.start('d')
    expect(log).toEqual(['start a', 'start b', 'start c', 'start d'])
    log.length = 0
    await kernel.shutdown()
    expect(log.indexOf('stop d')).toBeLessThan(log.indexOf('stop b'))
    expect(log.indexOf('stop d')).toBeLessThan(log.indexOf('stop c'))
    expect(log.indexOf('stop b')).toBeLessThan(log.indexOf('stop a'))
    expect(log.indexOf('stop c')).toBeLessThan(log.indexOf('stop a'))
    expect(log).toHaveLength(4)
  })

  it('refuses a dependency cycle and names it', async () => {
    await kernel.load(mod('a', { b: '*' }))
    await kernel.load(mod('b', { c: '*' }))
    await kernel.load(mod('c', { a: '*' }))
    await expect(kernel.start('a')).rejects.toMatchObject({ code: 'ERR_DEPENDENCY_CYCLE', message: 'dependency cycle: a -> b -> c -> a' })
    expect(kernel.state('a')).toBe('failed')
    expect(kernel.describe('a').cause?.code).toBe('ERR_DEPENDENCY_CYCLE')
    expect(kernel.state('b')).toBe('resolved')
  })

  it('refuses a missing dependency and a version outside the range, naming the chain', async () => {
    await kernel.load(mod('app', { storage: '^1.0.0' }))
    await kernel.load(mod('storage', { network: '^2.0.0' }))
    await expect(kernel.start('app')).rejects.toMatchObject({
      code: 'ERR_DEPENDENCY_MISSING',
      message: 'app -> storage requires network@^2.0.0, which is not loaded'
    })
    await kernel.load(mod('network'))
    await expect(kernel.start('app')).rejects.toMatchObject({
      code: 'ERR_VERSION_CONFLICT',
      message: 'app -> storage requires network@^2.0.0, but network@1.0.0 is loaded'
    })
    expect(kernel.state('network')).toBe('resolved')
  })

  it('a module that throws in start ends failed with its cause; the others keep running', async () => {
    await kernel.load(mod('good'))
    await kernel.load(mod('bad', {}, { start: () => { throw new Error('disk on fire') } }))
    await kernel.load(mod('needs-bad', { bad: '^1.0.0' }))
    const results = await kernel.startAll()
    expect(results.map(r => [r.name, r.state])).toEqual([['bad', 'failed'], ['directory', 'running'], ['good', 'running'], ['needs-bad', 'failed']])
    expect(kernel.describe('bad').cause).toMatchObject({ code: 'ERR_MODULE_START_FAILED', cause: { message: 'disk on fire' } })
    expect(kernel.describe('needs-bad').cause).toMatchObject({ code: 'ERR_DEPENDENCY_FAILED', data: { dependency: 'bad' } })
    expect(await kernel.call('good', 'ping')).toBe('pong')
    await expect(kernel.call('bad', 'ping')).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_RUNNING' })
  })

  it('a start that never finishes fails after the start timeout', async () => {
    const k = new Kernel({ dataDir: dir.path, startTimeoutMs: 50 })
    await k.load(mod('slow', {}, { start: async () => await new Promise(() => {}) }))
    await expect(k.start('slow')).rejects.toMatchObject({ code: 'ERR_MODULE_START_FAILED' })
    expect(k.state('slow')).toBe('failed')
    await k.shutdown()
  })

  it('refuses to stop or unload a module others depend on, unless asked to cascade', async () => {
    await kernel.load(mod('base'))
    await kernel.load(mod('top', { base: '^1.0.0' }))
    await kernel.start('top')
    await expect(kernel.stop('base')).rejects.toMatchObject({ code: 'ERR_HAS_DEPENDENTS', data: { dependents: ['top'] } })
    await expect(kernel.unload('base')).rejects.toMatchObject({ code: 'ERR_HAS_DEPENDENTS' })
    expect(kernel.state('top')).toBe('running')
    await kernel.stop('top')
    // stopped dependents still need it loaded
    await expect(kernel.unload('base')).rejects.toMatchObject({ code: 'ERR_HAS_DEPENDENTS' })
    await kernel.start('top')
    await kernel.unload('base', { cascade: true })
    expect(kernel.has('base')).toBe(false)
    expect(kernel.has('top')).toBe(false)
  })

  it('stop with cascade stops dependents first', async () => {
    const log: string[] = []
    await kernel.load(mod('base', {}, {}, log))
    await kernel.load(mod('top', { base: '^1.0.0' }, {}, log))
    await kernel.start('top')
    await kernel.stop('base', { cascade: true })
    expect(log.slice(-2)).toEqual(['stop top', 'stop base'])
    expect(kernel.state('top')).toBe('stopped')
  })

  it('refuses a second module with the same name, and the directory module cannot be stopped', async () => {
    await kernel.load(mod('a'))
    await expect(kernel.load(mod('a'))).rejects.toMatchObject({ code: 'ERR_MODULE_ALREADY_LOADED' })
    await expect(kernel.stop('directory')).rejects.toMatchObject({ code: 'ERR_MODULE_PROTECTED' })
    await expect(kernel.unload('directory')).rejects.toMatchObject({ code: 'ERR_MODULE_PROTECTED' })
  })

  it('a failed module can be started again once its problem is gone', async () => {
    let attempts = 0
    await kernel.load(mod('flaky', {}, { start: () => { if (++attempts === 1) throw new Error('first time'); return {} } }))
    await expect(kernel.start('flaky')).rejects.toThrow(/first time/)
    await kernel.start('flaky')
    expect(kernel.state('flaky')).toBe('running')
    expect(kernel.describe('flaky').cause).toBeUndefined()
  })

  it('refuses privileged modules from untrusted sources, and runs them in-process with system access', async () => {
    const privileged = defineModule({ name: 'sys', version: '1.0.0', privileged: true, start: (ctx) => ({ methods: { hosts: () => ctx.system?.hosts() } }) })
    await expect(kernel.load(privileged)).rejects.toMatchObject({ code: 'ERR_NOT_PRIVILEGED' })
    await kernel.load(privileged, { trusted: true })
    await kernel.start('sys')
    expect(await kernel.call('sys', 'hosts')).toEqual(['in-process'])
    const plain = defineModule({ name: 'plain', version: '1.0.0', start: (ctx) => ({ methods: { system: () => ctx.system === undefined } }) })
    await kernel.load(plain, { trusted: true })
    await kernel.start('plain')
    expect(await kernel.call('plain', 'system')).toBe(true)
  })

  it('a module asking for a host nobody registered fails with ERR_HOST_NOT_FOUND', async () => {
    await kernel.load(mod('remote', {}, { host: 'child-process' }))
    await expect(kernel.start('remote')).rejects.toMatchObject({ code: 'ERR_MODULE_START_FAILED', cause: { code: 'ERR_HOST_NOT_FOUND' } })
  })

  it('each module gets a data directory of its own and its configuration', async () => {
    const k = new Kernel({ dataDir: dir.path, config: { conf: { greeting: 'hi' } } })
    await k.load(mod('conf', {}, { start: (ctx) => ({ methods: { where: () => ({ dir: ctx.dataDir, config: ctx.config }) } }) }))
    await k.start('conf')
    expect(await k.call('conf', 'where')).toEqual({ dir: `${dir.path}/modules/conf`, config: { greeting: 'hi' } })
    await k.shutdown()
  })
})
