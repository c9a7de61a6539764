import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AbortedError, LogosError } from '../../src/common/index.ts'
import { Kernel } from '../../src/kernel/index.ts'
import type { CallTrace, TraceRecord } from '../../src/kernel/index.ts'
import { defineModule } from '../../src/sdk/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

interface MathApi {
  add: (p: { a: number, b: number }) => number
  echo: (bytes: Uint8Array) => Uint8Array
}

const math = defineModule({
  name: 'math',
  version: '1.0.0',
  start: () => ({
    methods: {
      add: (p: { a: number, b: number }) => p.a + p.b,
      echo: async (bytes: Uint8Array) => bytes,
      slow: async (_p: unknown, call) => await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, 10_000, 'late')
        call.signal?.addEventListener('abort', () => { clearTimeout(t); reject(new AbortedError()) })
      }),
      fail: async () => { throw new LogosError('ERR_CUSTOM', 'custom failure', { data: { x: 1 } }) },
      failSync: () => { throw new RangeError('sync failure') },
      loop: async (_p: unknown, call) => await call.call('math', 'loop'),
      info: { handler: (_p: unknown, call) => ({ id: call.id, parentId: call.parentId, depth: call.depth, caller: call.caller }), description: 'who calls' }
    }
  })
})

describe('calls', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  beforeEach(async () => {
    dir = await tempDir()
    kernel = new Kernel({ dataDir: dir.path, maxCallDepth: 8 })
    await kernel.load(math)
    await kernel.start('math')
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  it('calls a method by name, sync or async, binary payloads untouched', async () => {
    expect(await kernel.call('math', 'add', { a: 2, b: 3 })).toBe(5)
    const bytes = new Uint8Array([1, 2, 3])
    expect(await kernel.call('math', 'echo', bytes)).toBe(bytes)
  })

  it('offers a typed proxy to modules', async () => {
    await kernel.load(defineModule({
      name: 'client',
      version: '1.0.0',
      dependencies: { math: '^1.0.0' },
      start: (ctx) => {
        const m = ctx.use<MathApi>('math')
        return { methods: { sum: async (xs: number[]) => { let s = 0; for (const x of xs) s = await m.add({ a: s, b: x }, { timeout: 1000 }); return s } } }
      }
    }))
    await kernel.start('client')
    expect(await kernel.call('client', 'sum', [1, 2, 3, 4])).toBe(10)
  })

  it('fails with typed errors: module not found, method not found, not running', async () => {
    await expect(kernel.call('nope', 'x')).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND', data: { module: 'nope' } })
    await expect(kernel.call('math', 'mul')).rejects.toMatchObject({ code: 'ERR_METHOD_NOT_FOUND', message: expect.stringContaining('it has: add, echo') })
    await kernel.stop('math')
    await expect(kernel.call('math', 'add', { a: 1, b: 1 })).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_RUNNING', data: { state: 'stopped' } })
  })

  it('keeps the errors a method throws, sync or async', async () => {
    await expect(kernel.call('math', 'fail')).rejects.toMatchObject({ code: 'ERR_CUSTOM', data: { x: 1 } })
    await expect(kernel.call('math', 'failSync')).rejects.toBeInstanceOf(RangeError)
  })

  it('times out after the given deadline and aborts on a signal', async () => {
    const t0 = Date.now()
    await expect(kernel.call('math', 'slow', undefined, { timeout: 100 })).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT', data: { timeoutMs: 100 } })
    expect(Date.now() - t0).toBeLessThan(2000)
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 50)
    await expect(kernel.call('math', 'slow', undefined, { signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_CALL_ABORTED' })
    await expect(kernel.call('math', 'add', { a: 1, b: 1 }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_CALL_ABORTED' })
  })

  it('applies the kernel default deadline to calls that name none', async () => {
    const k = new Kernel({ dataDir: dir.path, defaultCallTimeoutMs: 80 })
    await k.load(math)
    await k.start('math')
    await expect(k.call('math', 'slow')).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' })
    await k.shutdown()
  })

  it('bounds the call depth, which stops call loops', async () => {
    await expect(kernel.call('math', 'loop')).rejects.toMatchObject({ code: 'ERR_CALL_DEPTH_EXCEEDED', data: { maxDepth: 8 } })
  })

  it('every call carries a context: id, parent id, depth and caller, linked across modules', async () => {
    await kernel.load(defineModule({
      name: 'outer',
      version: '1.0.0',
      start: () => ({ methods: { run: async (_p: unknown, call) => ({ self: { id: call.id, depth: call.depth }, inner: await call.call('math', 'info') }) } })
    }))
    await kernel.start('outer')
    const result = await kernel.call('outer', 'run') as { self: { id: number, depth: number }, inner: { id: number, parentId: number, depth: number, caller: string } }
    expect(result.self.depth).toBe(0)
    expect(result.inner).toMatchObject({ parentId: result.self.id, depth: 1, caller: 'outer' })
    expect(result.inner.id).toBeGreaterThan(result.self.id)
  })

  it('a call to a module that is starting waits for it, within a bound', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    await kernel.load(defineModule({ name: 'late', version: '1.0.0', start: async () => { await gate; return { methods: { hi: () => 'hi' } } } }))
    const starting = kernel.start('late')
    const call = kernel.call('late', 'hi')
    setTimeout(release, 50)
    await starting
    expect(await call).toBe('hi')

    const k = new Kernel({ dataDir: dir.path, callWaitMs: 50 })
    await k.load(defineModule({ name: 'never', version: '1.0.0', start: async () => await new Promise(() => {}) }))
    void k.start('never').catch(() => {})
    await expect(k.call('never', 'hi')).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_RUNNING', data: { state: 'starting' } })
    await k.shutdown()
  })

  it('traces calls with timing and outcome, and builds no records when nobody listens', async () => {
    const records: TraceRecord[] = []
    const publish = vi.spyOn(kernel.trace, 'publish')
    await kernel.call('math', 'add', { a: 1, b: 1 })
    await kernel.call('math', 'echo', new Uint8Array(1))
    await kernel.call('math', 'fail').catch(() => {})
    expect(publish).not.toHaveBeenCalled()
    const off = kernel.subscribeTrace(r => records.push(r), { types: ['call'] })
    expect(kernel.trace.active).toBe(true)
    await kernel.call('math', 'add', { a: 1, b: 1 })
    await kernel.call('math', 'fail').catch(() => {})
    off()
    expect(kernel.trace.active).toBe(false)
    await kernel.call('math', 'add', { a: 1, b: 1 })
    const calls = records as CallTrace[]
    expect(calls).toHaveLength(2)
    expect(calls[0]).toMatchObject({ type: 'call', target: 'math', method: 'add', caller: 'external', ok: true, depth: 0 })
    expect(calls[0]?.durationNs).toBeGreaterThan(0)
    expect(calls[1]).toMatchObject({ method: 'fail', ok: false, error: { code: 'ERR_CUSTOM' } })
  })

  it('trace filters select by type and module; a throwing observer changes nothing', async () => {
    await kernel.load(defineModule({ name: 'other', version: '1.0.0', start: () => ({ methods: { x: () => 1 } }) }))
    await kernel.start('other')
    const seen: string[] = []
    kernel.subscribeTrace(() => { throw new Error('observer bug') })
    kernel.subscribeTrace(r => seen.push((r as CallTrace).target), { types: ['call'], modules: ['other'] })
    await kernel.call('math', 'add', { a: 1, b: 1 })
    expect(await kernel.call('other', 'x')).toBe(1)
    expect(seen).toEqual(['other'])
  })

  it('the directory is a module: list, describe, hosts', async () => {
    const list = await kernel.call('directory', 'list') as Array<{ name: string, state: string }>
    expect(list.map(e => [e.name, e.state])).toEqual([['directory', 'running'], ['math', 'running']])
    const entry = await kernel.call('directory', 'describe', { name: 'math' }) as { methods: Array<{ name: string, description?: string }>, version: string, host: string }
    expect(entry.version).toBe('1.0.0')
    expect(entry.host).toBe('in-process')
    expect(entry.methods.find(m => m.name === 'info')?.description).toBe('who calls')
    await expect(kernel.call('directory', 'describe', { name: 'ghost' })).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' })
  })
})
