import { deserialize, serialize } from 'node:v8'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LogosError } from '../../../src/common/index.ts'
import type { CallTrace, TraceRecord } from '../../../src/kernel/index.ts'
import { defineModule } from '../../../src/sdk/index.ts'
import { fixture, rejection, startTestNode, until } from './helpers.ts'
import type { TestNode } from './helpers.ts'

/** A module in a process of its own behaves like one in the kernel's process: values, bytes, errors, events, logs. */
describe('child-process host: calls across the boundary', () => {
  let node: TestNode
  const heardByPeer: unknown[] = []

  beforeAll(async () => {
    node = await startTestNode({ kernel: { config: { 'pm-worker': { greeting: 'hello', nested: { n: 1 } } } } })
    await node.kernel.load({ dir: fixture('pm-worker') })
    // An in-process module that the child-process module listens to and that listens to it.
    await node.kernel.load(defineModule({
      name: 'pm-peer',
      version: '1.0.0',
      events: { ping: {} },
      start: (ctx) => {
        ctx.on('pm-worker', 'tick', (payload) => { heardByPeer.push(payload) })
        return { methods: { ping: (x: unknown) => { ctx.emit('ping', x); return true }, double: (n: number) => n * 2 } }
      }
    }))
    await node.kernel.startAll()
  })

  afterAll(async () => { await node.close() })

  it('runs the module in another process, with its config and data folder', async () => {
    const pid = await node.kernel.call<number>('pm-worker', 'pid')
    expect(pid).not.toBe(process.pid)
    expect(await node.kernel.call('pm-worker', 'ppid')).toBe(process.pid)
    expect(await node.kernel.call('pm-worker', 'config')).toEqual({ greeting: 'hello', nested: { n: 1 } })
    expect(await node.kernel.call('pm-worker', 'dataDir')).toBe(`${node.kernel.dataDir}/modules/pm-worker`)
    const entry = node.kernel.describe('pm-worker')
    expect(entry.host).toBe('child-process')
    expect(entry.state).toBe('running')
    expect(entry.process?.pid).toBe(pid)
    expect(entry.methods.map(m => m.name)).toContain('reverse')
    expect(entry.events.map(e => e.name)).toEqual(['tick', 'heard'])
  })

  it('carries values as Node\'s structured clone serializer would, bytes as bytes', async () => {
    const value = {
      s: 'grüße 🌍',
      n: -0,
      f: 1.5,
      big: 2n ** 70n,
      list: [1, 'two', null, undefined, true],
      bytes: new Uint8Array([0, 1, 255]),
      buffer: Buffer.from('buf'),
      map: new Map([[1, 'one']]),
      date: new Date(1_700_000_000_000),
      nested: { deep: { deeper: [new Set(['x'])] } }
    }
    const back = await node.kernel.call<typeof value>('pm-worker', 'echo', value)
    // The reference is node:v8's serializer (as in Node's own advanced IPC): like structuredClone, but a Buffer stays a Buffer.
    expect(back).toEqual(deserialize(serialize(value)))
    expect(Object.is(back.n, -0)).toBe(true)
    expect(back.bytes).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(back.buffer)).toBe(true)
    expect(back.map).toBeInstanceOf(Map)
    const reversed = await node.kernel.call<Uint8Array>('pm-worker', 'reverse', new Uint8Array([1, 2, 3, 4]))
    expect(reversed).toBeInstanceOf(Uint8Array)
    expect([...reversed]).toEqual([4, 3, 2, 1])
    const large = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251)
    const largeBack = await node.kernel.call<Uint8Array>('pm-worker', 'reverse', large)
    expect(largeBack.length).toBe(large.length)
    expect(largeBack[0]).toBe(large[large.length - 1])
  })

  it('rebuilds errors with their codes, classes where both sides know them', async () => {
    const refused = await rejection(node.kernel.call('pm-worker', 'refuse', 'not today'))
    expect(refused).toBeInstanceOf(LogosError)
    expect(refused.code).toBe('ERR_TEST_WORKER_REFUSED')
    expect(refused.message).toBe('refused: not today')
    expect(refused.data).toEqual({ reason: 'not today' })
    const plain = await rejection(node.kernel.call('pm-worker', 'throwPlain'))
    expect(plain.code).toBe('ERR_UNEXPECTED')
    expect(plain.message).toBe('plain failure')
    const missing = await rejection(node.kernel.call('pm-worker', 'nope'))
    expect(missing.code).toBe('ERR_METHOD_NOT_FOUND')
  })

  it('refuses values that cannot cross a process boundary, with a typed error', async () => {
    const result = await rejection(node.kernel.call('pm-worker', 'notSerializable'))
    expect(result.code).toBe('ERR_PM_NOT_SERIALIZABLE')
    expect(result.message).toContain('pm-worker.notSerializable')
    const params = await rejection(node.kernel.call('pm-worker', 'echo', { f: () => 1 }))
    expect(params.code).toBe('ERR_PM_NOT_SERIALIZABLE')
    // The module is unharmed.
    expect(await node.kernel.call('pm-worker', 'echo', 7)).toBe(7)
  })

  it('links nested calls to the call they are made in (trace parent ids and depth)', async () => {
    const calls: CallTrace[] = []
    const off = node.kernel.subscribeTrace((r: TraceRecord) => { if (r.type === 'call') calls.push(r) }, { types: ['call'] })
    expect(await node.kernel.call('pm-worker', 'nested', { target: 'pm-peer', method: 'double', params: 21 })).toBe(42)
    off()
    const outer = calls.find(c => c.target === 'pm-worker' && c.method === 'nested')
    const inner = calls.find(c => c.target === 'pm-peer' && c.method === 'double')
    expect(outer).toBeDefined()
    expect(inner?.caller).toBe('pm-worker')
    expect(inner?.parentId).toBe(outer?.id)
    expect(inner?.depth).toBe((outer?.depth ?? 0) + 1)
    // A call the module makes outside any call has no parent; errors from the far side keep their codes.
    const err = await rejection(node.kernel.call('pm-worker', 'callOut', { target: 'nobody', method: 'x' }))
    expect(err.code).toBe('ERR_MODULE_NOT_FOUND')
  })

  it('propagates cancellation to the module as an aborted signal', async () => {
    const controller = new AbortController()
    const call = node.kernel.call('pm-worker', 'wait', 30_000, { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 50)
    expect((await rejection(call)).code).toBe('ERR_CALL_ABORTED')
    await until(async () => (await node.kernel.call<string[]>('pm-worker', 'waits')).includes('cancelled'), 'the module saw the cancellation', 5000)
    // Cancellation from the module's side: its own call with a short timeout fails with a timeout.
    const timeout = await rejection(node.kernel.call('pm-worker', 'callOut', { target: 'pm-worker', method: 'wait', params: 2000, timeout: 50 }))
    expect(timeout.code).toBe('ERR_CALL_TIMEOUT')
  })

  it('carries events both ways', async () => {
    const ticks: unknown[] = []
    const off = node.kernel.subscribe('test', 'pm-worker', 'tick', (payload) => { ticks.push(payload) })
    await node.kernel.call('pm-worker', 'emit', 5)
    await until(() => ticks.length === 1 && heardByPeer.length === 1, 'the tick reached both subscribers')
    expect(ticks[0]).toEqual({ n: 5 })
    off()
    const heard: unknown[] = []
    const offHeard = node.kernel.subscribe('test', 'pm-worker', 'heard', (payload) => { heard.push(payload) })
    await node.kernel.call('pm-peer', 'ping', { bytes: new Uint8Array([9]) })
    await until(() => heard.length === 1, 'the module heard the ping and said so')
    offHeard()
    expect(heard[0]).toEqual({ bytes: new Uint8Array([9]) })
    expect(await node.kernel.call('pm-worker', 'heard')).toEqual([{ bytes: new Uint8Array([9]) }])
  })

  it('sends its logs and its stderr to the node log, under its own name', async () => {
    await node.kernel.call('pm-worker', 'log', { level: 'warn', message: 'careful' })
    await node.kernel.call('pm-worker', 'print', 'a line on stderr')
    await until(() => node.logs.some(e => e.message === 'careful') && node.logs.some(e => e.message === 'a line on stderr'), 'both log entries')
    const log = node.logs.find(e => e.message === 'careful')
    expect(log).toMatchObject({ module: 'pm-worker', level: 'warn', fields: { from: 'worker' } })
    expect(node.logs.find(e => e.message === 'a line on stderr')).toMatchObject({ module: 'pm-worker', level: 'warn', fields: { stream: 'stderr' } })
    // Debug is below the module's level: filtered in the module's process, never sent.
    await node.kernel.call('pm-worker', 'log', { level: 'debug', message: 'quiet' })
    node.kernel.logs.setLevel('pm-worker', 'debug')
    await until(async () => {
      await node.kernel.call('pm-worker', 'log', { level: 'debug', message: 'loud' })
      return node.logs.some(e => e.message === 'loud')
    }, 'the new level reached the module (with the next heartbeat)')
    expect(node.logs.some(e => e.message === 'quiet')).toBe(false)
  })

  it('shows the process in the directory: pid, CPU, memory', async () => {
    await until(() => node.kernel.describe('pm-worker').process?.cpuPercent !== undefined, 'a CPU sample')
    const info = node.kernel.describe('pm-worker').process
    expect(info?.rssBytes).toBeGreaterThan(10 * 1024 * 1024)
    expect(info?.cpuPercent).toBeGreaterThanOrEqual(0)
    expect(info?.restarts).toBe(0)
    expect(info?.startedAt).toBeLessThanOrEqual(Date.now())
    const listed = await node.kernel.call<Array<{ name: string, pid: number, restart: string }>>('process-manager', 'processes')
    expect(listed).toEqual([expect.objectContaining({ name: 'pm-worker', pid: info?.pid, restart: 'permanent', state: 'running' })])
  })

  it('refuses a module defined in code (no file another process could load)', async () => {
    await node.kernel.load(defineModule({ name: 'pm-inline', version: '1.0.0', host: 'child-process', start: () => ({}) }))
    const err = await rejection(node.kernel.start('pm-inline'))
    expect(err.code).toBe('ERR_MODULE_START_FAILED')
    expect((err.cause as LogosError).code).toBe('ERR_HOST_UNSUPPORTED')
  })
})
