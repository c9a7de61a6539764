import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture, rejection, startTestNode, until } from './helpers.ts'
import type { TestNode } from './helpers.ts'

interface Row { name: string, inFlight: number }

/**
 * Deadlines and cancellation cross the process boundary: the kernel's deadline or the caller's abort reaches the
 * handler's signal in the module's process (and the calls it made), the call carries its absolute deadline, and a
 * handler that ignores its cancellation occupies the module only for a bounded grace period.
 */
describe('child-process host: deadlines and cancellation', () => {
  let node: TestNode
  const inFlight = async (): Promise<number> => (await node.kernel.call<Row[]>('process-manager', 'processes')).find(r => r.name === 'pm-worker')?.inFlight ?? -1

  beforeAll(async () => {
    node = await startTestNode({ pm: { modules: { 'pm-worker': { cancelGraceMs: 3_000 } } } })
    await node.kernel.load({ dir: fixture('pm-worker') })
    await node.kernel.start('pm-worker')
  })
  afterAll(async () => { await node.close() })

  it('a kernel deadline cancels the handler in the module\'s process, with the timeout as the reason', async () => {
    const before = (await node.kernel.call<string[]>('pm-worker', 'cancelReasons')).length
    expect((await rejection(node.kernel.call('pm-worker', 'wait', 30_000, { timeout: 200 }))).code).toBe('ERR_CALL_TIMEOUT')
    await until(async () => (await node.kernel.call<string[]>('pm-worker', 'cancelReasons')).length > before, 'the handler saw its signal fire', 5_000)
    expect((await node.kernel.call<string[]>('pm-worker', 'cancelReasons'))[before]).toBe('ERR_CALL_TIMEOUT')
    // The caller's abort arrives as an abort.
    const controller = new AbortController()
    const aborted = node.kernel.call('pm-worker', 'wait', 30_000, { signal: controller.signal })
    setTimeout(() => { controller.abort() }, 50)
    expect((await rejection(aborted)).code).toBe('ERR_CALL_ABORTED')
    await until(async () => (await node.kernel.call<string[]>('pm-worker', 'cancelReasons')).length > before + 1, 'the abort reached the handler', 5_000)
    expect((await node.kernel.call<string[]>('pm-worker', 'cancelReasons'))[before + 1]).toBe('ERR_CALL_ABORTED')
  })

  it('the module\'s process gets the call\'s absolute deadline', async () => {
    const t0 = Date.now()
    const pending = node.kernel.call<number>('pm-worker', 'deadline', undefined, { timeout: 7_000 })
    const t1 = Date.now()
    const deadline = await pending
    expect(deadline).toBeGreaterThanOrEqual(t0 + 7_000)
    expect(deadline).toBeLessThanOrEqual(t1 + 7_000)
    expect(await node.kernel.call('pm-worker', 'deadline', undefined, { timeout: 0 })).toBeNull()
  })

  it('cancelling a call cancels the calls its handler made, across the boundary', async () => {
    const before = (await node.kernel.call<string[]>('pm-worker', 'cancelReasons')).length
    const err = await rejection(node.kernel.call('pm-worker', 'nested', { target: 'pm-worker', method: 'wait', params: 30_000 }, { timeout: 300 }))
    expect(err.code).toBe('ERR_CALL_TIMEOUT')
    // The inner call (pm-worker -> pm-worker.wait, 30 s) is cancelled with its parent instead of running on.
    await until(async () => (await node.kernel.call<string[]>('pm-worker', 'cancelReasons')).length > before, 'the nested call was cancelled', 5_000)
  })

  it('a timed-out call occupies the module until its handler returns: stop waits for it', async () => {
    const done = join(node.kernel.dataDir, 'modules', 'pm-worker', 'stubborn-done')
    await rm(done, { force: true })
    // It answers after 1.2 s, within the grace period (3 s): until then it still counts as in flight.
    expect((await rejection(node.kernel.call('pm-worker', 'stubborn', 1_200, { timeout: 50 }))).code).toBe('ERR_CALL_TIMEOUT')
    expect(await inFlight()).toBe(1)
    await node.kernel.stop('pm-worker')
    expect(existsSync(done)).toBe(true)
    await node.kernel.start('pm-worker')
  })

  it('a handler that never answers does not keep its entry: dropped after the grace period', async () => {
    const calls = Array.from({ length: 300 }, async () => await rejection(node.kernel.call('pm-worker', 'hold', undefined, { timeout: 100 })))
    for (const err of await Promise.all(calls)) expect(err.code).toBe('ERR_CALL_TIMEOUT')
    expect(await inFlight()).toBeGreaterThan(0)
    await until(async () => await inFlight() === 0, 'the cancelled calls dropped after the grace period', 10_000)
    expect(await node.kernel.call('pm-worker', 'echo', 'still serving')).toBe('still serving')
  })
})
