import { getEventListeners } from 'node:events'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel } from '../../src/kernel/index.ts'
import { defineModule } from '../../src/sdk/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

/** A method that runs until its call signal fires, and records why it stopped. */
function waiter (log: string[]): (p: { tag: string }, call: { signal: AbortSignal | undefined }) => Promise<string> {
  return async (p, call) => await new Promise((resolve, reject) => {
    const t = setTimeout(() => { log.push(`${p.tag}:done`); resolve('late') }, 5_000)
    call.signal?.addEventListener('abort', () => {
      clearTimeout(t)
      log.push(`${p.tag}:cancelled:${(call.signal?.reason as { code?: string })?.code ?? 'none'}`)
      reject(call.signal?.reason)
    })
  })
}

describe('cancellation', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  const log: string[] = []
  beforeEach(async () => {
    log.length = 0
    dir = await tempDir()
    kernel = new Kernel({ dataDir: dir.path })
    await kernel.load(defineModule({
      name: 'worker',
      version: '1.0.0',
      start: () => ({
        methods: {
          wait: waiter(log),
          // Runs on after its caller gave up, without listening to the signal.
          stubborn: async () => { await new Promise(resolve => setTimeout(resolve, 300)); log.push('stubborn:done'); return 1 },
          chain: async (p: { tag: string }, call) => await call.call('worker', 'wait', p)
        }
      })
    }))
    await kernel.start('worker')
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  it('a deadline cancels the handler through its call signal, with the timeout as the reason', async () => {
    await expect(kernel.call('worker', 'wait', { tag: 'a' }, { timeout: 100 })).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(log).toEqual(['a:cancelled:ERR_CALL_TIMEOUT'])
  })

  it('cancelling a call cancels the calls it made, down the chain', async () => {
    const controller = new AbortController()
    const call = kernel.call('worker', 'chain', { tag: 'child' }, { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 50)
    await expect(call).rejects.toMatchObject({ code: 'ERR_CALL_ABORTED' })
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(log).toHaveLength(1)
    expect(log[0]).toMatch(/^child:cancelled:/)
  })

  it('a timed-out call still occupies the module until its handler returns: stop waits for it', async () => {
    await expect(kernel.call('worker', 'stubborn', undefined, { timeout: 50 })).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' })
    expect(log).toEqual([])
    await kernel.stop('worker')
    expect(log).toEqual(['stubborn:done'])
  })

  it('a long-lived signal handed to many calls keeps no listeners once they are done', async () => {
    await kernel.load(defineModule({ name: 'quick', version: '1.0.0', start: () => ({ methods: { x: async (_p: unknown, call) => { void call.signal; return 1 } } }) }))
    await kernel.start('quick')
    const controller = new AbortController()
    for (let i = 0; i < 50; i++) await kernel.call('quick', 'x', undefined, { signal: controller.signal })
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('an aborted signal fails at once even for a module that is still starting', async () => {
    await kernel.load(defineModule({ name: 'slow', version: '1.0.0', start: async () => await new Promise(() => {}) }))
    void kernel.start('slow').catch(() => {})
    const t0 = Date.now()
    await expect(kernel.call('slow', 'x', undefined, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_CALL_ABORTED' })
    expect(Date.now() - t0).toBeLessThan(1000)
  })

  it('a zero timeout means no deadline, also while waiting for a module to start', async () => {
    let release: () => void = () => {}
    await kernel.load(defineModule({ name: 'late', version: '1.0.0', start: async () => { await new Promise<void>(resolve => { release = resolve }); return { methods: { hi: () => 'hi' } } } }))
    const starting = kernel.start('late')
    const call = kernel.call('late', 'hi', undefined, { timeout: 0 })
    setTimeout(() => { release() }, 100)
    await starting
    expect(await call).toBe('hi')
  })

  it('stopping a module during its reload waits for the reload instead of failing', async () => {
    let slowStart = false
    await kernel.load(defineModule({
      name: 'swap',
      version: '1.0.0',
      start: async () => {
        if (slowStart) await new Promise(resolve => setTimeout(resolve, 200))
        return { methods: { ping: () => 'pong' } }
      }
    }))
    await kernel.start('swap')
    slowStart = true
    const reloading = kernel.reload('swap')
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(kernel.state('swap')).toBe('reloading')
    await kernel.stop('swap')
    await reloading
    expect(kernel.state('swap')).toBe('stopped')
  })

  it('a reload whose old code fails to stop still swaps the code and never leaves the module reloading', async () => {
    let generation = 0
    await kernel.load(defineModule({
      name: 'sticky',
      version: '1.0.0',
      start: () => {
        const mine = ++generation
        return { methods: { gen: () => mine }, stop: () => { if (mine === 1) throw new Error('cannot let go') } }
      }
    }))
    await kernel.start('sticky')
    await kernel.reload('sticky')
    expect(kernel.state('sticky')).toBe('running')
    expect(await kernel.call('sticky', 'gen')).toBe(2)
    expect(kernel.logs.tail('sticky').some(e => e.message.includes('failed to stop cleanly'))).toBe(true)
  })

  it('a start given up on is stopped when it finishes late, so nothing it made lingers', async () => {
    const k = new Kernel({ dataDir: dir.path, startTimeoutMs: 50 })
    let stopped = false
    await k.load(defineModule({
      name: 'tardy',
      version: '1.0.0',
      start: async () => {
        await new Promise(resolve => setTimeout(resolve, 150))
        return { stop: () => { stopped = true } }
      }
    }))
    await expect(k.start('tardy')).rejects.toMatchObject({ code: 'ERR_MODULE_START_FAILED' })
    await new Promise(resolve => setTimeout(resolve, 250))
    expect(stopped).toBe(true)
    await k.shutdown()
  })

  it('unloading a module drops its kept log lines', async () => {
    await kernel.load(defineModule({ name: 'talker', version: '1.0.0', start: (ctx) => { ctx.log.info('hello'); return {} } }))
    await kernel.start('talker')
    expect(kernel.logs.tail('talker')).toHaveLength(1)
    await kernel.unload('talker')
    expect(kernel.logs.tail('talker')).toHaveLength(0)
  })
})

describe('call deadlines', () => {
  it('a handler sees its call\'s absolute deadline, and none when the call has none', async () => {
    const dir = await tempDir()
    const kernel = new Kernel({ dataDir: dir.path })
    try {
      await kernel.load(defineModule({
        name: 'clock',
        version: '1.0.0',
        start: () => ({ methods: { sync: (_p: unknown, call) => call.deadline, later: async (_p: unknown, call) => { await new Promise(resolve => setTimeout(resolve, 30)); return call.deadline } } })
      }))
      await kernel.start('clock')
      // Fixed when the call is made (the dispatch runs synchronously within kernel.call), not when the handler reads it.
      for (const method of ['sync', 'later']) {
        const t0 = Date.now()
        const pending = kernel.call<number>('clock', method, undefined, { timeout: 5_000 })
        const t1 = Date.now()
        const deadline = await pending
        expect(deadline).toBeGreaterThanOrEqual(t0 + 5_000)
        expect(deadline).toBeLessThanOrEqual(t1 + 5_000)
      }
      expect(await kernel.call('clock', 'sync', undefined, { timeout: 0 })).toBeUndefined()
    } finally {
      await kernel.shutdown()
      await dir.remove()
    }
  })
})
