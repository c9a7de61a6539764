import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel } from '../../src/kernel/index.ts'
import type { EventMeta, ModuleContext } from '../../src/kernel/index.ts'
import { defineModule } from '../../src/sdk/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

describe('events', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  let emitter: ModuleContext | undefined
  const received: Array<{ payload: unknown, meta: EventMeta }> = []

  beforeEach(async () => {
    received.length = 0
    dir = await tempDir()
    kernel = new Kernel({ dataDir: dir.path })
    await kernel.load(defineModule({
      name: 'emitter',
      version: '1.0.0',
      events: { tick: { description: 'a number' } },
      start: (ctx) => { emitter = ctx; return {} }
    }))
    await kernel.load(defineModule({
      name: 'listener',
      version: '1.0.0',
      start: (ctx) => {
        ctx.on('emitter', 'tick', (payload, meta) => { received.push({ payload, meta }) })
        ctx.on('emitter', 'tick', () => { throw new Error('a broken handler') })
        return {}
      }
    }))
    await kernel.startAll()
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  it('delivers events to subscribers, and a failing handler only logs', () => {
    emitter?.emit('tick', 42)
    expect(received).toHaveLength(1)
    expect(received[0]?.payload).toBe(42)
    expect(received[0]?.meta).toMatchObject({ source: 'emitter', event: 'tick' })
    expect(kernel.logs.tail('listener').some(e => e.level === 'error' && e.message.includes('a broken handler'))).toBe(true)
    expect(kernel.describe('emitter').events).toEqual([{ name: 'tick', description: 'a number' }])
  })

  it('wildcard subscriptions get every event of a source', () => {
    const all: string[] = []
    kernel.subscribe('test', 'emitter', '*', (_p, meta) => all.push(meta.event))
    emitter?.emit('tick', 1)
    emitter?.emit('tock', 2)
    expect(all).toEqual(['tick', 'tock'])
  })

  it('a module\'s subscriptions end when it stops', async () => {
    await kernel.stop('listener')
    emitter?.emit('tick', 1)
    expect(received).toHaveLength(0)
    await kernel.start('listener')
    emitter?.emit('tick', 2)
    expect(received.map(r => r.payload)).toEqual([2])
  })

  it('the directory emits lifecycle events that modules can follow', async () => {
    const states: string[] = []
    kernel.subscribe('test', 'directory', 'module:state', (p) => { const s = p as { name: string, to: string }; states.push(`${s.name}:${s.to}`) })
    await kernel.stop('listener')
    expect(states).toEqual(['listener:stopping', 'listener:stopped'])
  })
})
