import { describe, expect, it } from 'vitest'
import type { SupervisionTrace } from '../../../src/kernel/index.ts'
import { fixture, isAlive, rejection, startTestNode, supervision, until } from './helpers.ts'
import type { TestNode } from './helpers.ts'

/** A node running pm-crasher under the given host options and crash behaviour. */
async function crasherNode (hostOptions: Record<string, unknown>, crash: Record<string, unknown>, extra: { spares?: number, callWaitMs?: number } = {}): Promise<TestNode> {
  const node = await startTestNode({
    pm: { spares: extra.spares ?? 1, modules: { 'pm-crasher': hostOptions } },
    kernel: { config: { 'pm-crasher': crash }, ...(extra.callWaitMs === undefined ? {} : { callWaitMs: extra.callWaitMs }) }
  })
  await node.kernel.load({ dir: fixture('pm-crasher') })
  await node.kernel.start('pm-crasher')
  return node
}

function pairs (trace: SupervisionTrace[]): Array<{ restarting: SupervisionTrace, restarted: SupervisionTrace | undefined }> {
  const out: Array<{ restarting: SupervisionTrace, restarted: SupervisionTrace | undefined }> = []
  for (let i = 0; i < trace.length; i++) {
    const r = trace[i] as SupervisionTrace
    if (r.action !== 'restarting') continue
    out.push({ restarting: r, restarted: trace.slice(i + 1).find(x => x.action === 'restarted') })
  }
  return out
}

describe('child-process host: restart policy', () => {
  it('waits an exponential backoff between restarts, up to the cap', async () => {
    const node = await crasherNode(
      { backoff: { baseMs: 100, factor: 2, capMs: 400, jitter: 0 }, intensity: { maxRestarts: 20, withinMs: 60_000 } },
      { mode: 'exit', code: 1, afterMs: 30 }
    )
    try {
      await until(() => supervision(node.trace, 'pm-crasher', 'restarted').length >= 4, 'four restarts', 30_000)
      const steps = pairs(supervision(node.trace, 'pm-crasher')).slice(0, 4)
      expect(steps.map(s => s.restarting.detail.delayMs)).toEqual([100, 200, 400, 400])
      expect(steps.map(s => s.restarting.detail.attempt)).toEqual([1, 2, 3, 4])
      for (const { restarting, restarted } of steps) {
        // The new process starts only once the delay has passed (clock granularity aside).
        expect((restarted as SupervisionTrace).at - restarting.at).toBeGreaterThanOrEqual((restarting.detail.delayMs as number) - 2)
      }
    } finally {
      await node.close()
    }
  })

  it('draws the jitter below the backoff, never above', async () => {
    const node = await crasherNode(
      { backoff: { baseMs: 200, factor: 1, capMs: 200, jitter: 0.5 }, intensity: { maxRestarts: 20, withinMs: 60_000 } },
      { mode: 'exit', code: 1, afterMs: 20 }
    )
    try {
      await until(() => supervision(node.trace, 'pm-crasher', 'restarting').length >= 4, 'four restarts', 30_000)
      const delays = supervision(node.trace, 'pm-crasher', 'restarting').map(r => r.detail.delayMs as number)
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(100)
        expect(d).toBeLessThanOrEqual(200)
      }
      expect(new Set(delays).size).toBeGreaterThan(1)
    } finally {
      await node.close()
    }
  })

  it('starts the backoff over after a stable period', async () => {
    const node = await crasherNode(
      { backoff: { baseMs: 50, factor: 4, capMs: 10_000, jitter: 0 }, resetAfterMs: 150, intensity: { maxRestarts: 20, withinMs: 60_000 } },
      { mode: 'exit', code: 1, afterMs: 300 }
    )
    try {
      await until(() => supervision(node.trace, 'pm-crasher', 'restarting').length >= 3, 'three restarts', 30_000)
      // Each process served longer than resetAfterMs, so every restart is a first one.
      expect(supervision(node.trace, 'pm-crasher', 'restarting').slice(0, 3).map(r => r.detail.delayMs)).toEqual([50, 50, 50])
    } finally {
      await node.close()
    }
  })

  it('stops restarting at the intensity limit and leaves the module failed', async () => {
    const node = await crasherNode(
      { backoff: { baseMs: 0 }, intensity: { maxRestarts: 3, withinMs: 60_000 } },
      { mode: 'signal', signal: 'SIGKILL', afterMs: 30 }
    )
    try {
      await until(() => supervision(node.trace, 'pm-crasher', 'gave-up').length === 1, 'giving up', 30_000)
      expect(supervision(node.trace, 'pm-crasher', 'restarted')).toHaveLength(3)
      expect(supervision(node.trace, 'pm-crasher', 'crashed')).toHaveLength(4)
      const entry = node.kernel.describe('pm-crasher')
      expect(entry.state).toBe('failed')
      expect(entry.cause?.code).toBe('ERR_PM_RESTART_INTENSITY')
      expect(entry.cause?.data).toMatchObject({ restarts: 3, withinMs: 60_000 })
      expect(node.logs.some(e => e.module === 'pm-crasher' && e.level === 'error' && e.message.startsWith('module left down'))).toBe(true)
      // Left down for good: no process, and no supervisor left to make a further attempt; calls fail at once.
      const pid = supervision(node.trace, 'pm-crasher', 'crashed')[3]?.detail.pid as number
      expect(isAlive(pid)).toBe(false)
      expect(await node.kernel.call('process-manager', 'processes')).toEqual([])
      expect(supervision(node.trace, 'pm-crasher', 'restarting')).toHaveLength(3)
      expect((await rejection(node.kernel.call('pm-crasher', 'pid'))).code).toBe('ERR_MODULE_NOT_RUNNING')
    } finally {
      await node.close()
    }
  })

  it('transient: restarts after a crash, not after a clean exit', async () => {
    // Two nodes, side by side.
    const afterACrash = async (): Promise<void> => {
      const crashing = await crasherNode({ restart: 'transient', backoff: { baseMs: 0 } }, { mode: 'exit', code: 2, afterMs: 100 })
      try {
        await until(() => supervision(crashing.trace, 'pm-crasher', 'restarted').length >= 1, 'a restart after exit code 2')
      } finally {
        await crashing.close()
      }
    }
    const afterACleanExit = async (): Promise<void> => {
      const clean = await crasherNode({ restart: 'transient', backoff: { baseMs: 0 } }, { mode: 'exit', code: 0, afterMs: 100 })
      try {
        // A clean exit is no crash: the module is stopped, not failed, and not restarted.
        await until(() => clean.kernel.describe('pm-crasher').state === 'stopped', 'the module left down')
        expect(supervision(clean.trace, 'pm-crasher', 'crashed')).toEqual([])
        expect(supervision(clean.trace, 'pm-crasher', 'restarting')).toEqual([])
        expect(supervision(clean.trace, 'pm-crasher', 'exited')[0]?.detail).toMatchObject({ reason: 'exit', exitCode: 0 })
        expect(clean.kernel.describe('pm-crasher').cause).toBeUndefined()
        await clean.kernel.start('pm-crasher') // and it can be started again
        expect(clean.kernel.describe('pm-crasher').state).toBe('running')
      } finally {
        await clean.close()
      }
    }
    await Promise.all([afterACrash(), afterACleanExit()])
  })

  it('temporary: reports the crash and never restarts', async () => {
    const node = await crasherNode({ restart: 'temporary' }, { mode: 'throw', afterMs: 100 })
    try {
      await until(() => node.kernel.describe('pm-crasher').state === 'failed', 'the module left down')
      expect(supervision(node.trace, 'pm-crasher', 'crashed')[0]?.detail).toMatchObject({ reason: 'uncaught-exception' })
      expect(supervision(node.trace, 'pm-crasher', 'restarting')).toEqual([])
      expect(node.kernel.describe('pm-crasher').cause?.code).toBe('ERR_PM_NOT_RESTARTED')
    } finally {
      await node.close()
    }
  })

  it('calls that arrive while it restarts wait for it, within a bound', async () => {
    // Two nodes, side by side.
    const patient = async (): Promise<void> => {
      const node = await crasherNode({ backoff: { baseMs: 600, jitter: 0 } }, { mode: 'none' })
      try {
        const pid = node.pidOf('pm-crasher')
        process.kill(pid, 'SIGKILL')
        await until(() => node.kernel.describe('pm-crasher').state === 'restarting', 'restarting')
        const t0 = performance.now()
        const newPid = await node.kernel.call<number>('pm-crasher', 'pid')
        expect(newPid).not.toBe(pid)
        expect(performance.now() - t0).toBeGreaterThan(300) // it waited for the backoff and the new process
      } finally {
        await node.close()
      }
    }
    const impatient = async (): Promise<void> => {
      const node = await crasherNode({ backoff: { baseMs: 5000, jitter: 0 } }, { mode: 'none' }, { callWaitMs: 200 })
      try {
        process.kill(node.pidOf('pm-crasher'), 'SIGKILL')
        await until(() => node.kernel.describe('pm-crasher').state === 'restarting', 'restarting')
        const t0 = performance.now()
        const err = await rejection(node.kernel.call('pm-crasher', 'pid'))
        expect(err.code).toBe('ERR_MODULE_NOT_RUNNING')
        expect(performance.now() - t0).toBeGreaterThanOrEqual(150)
        expect(performance.now() - t0).toBeLessThan(3000)
        // Stopping it cancels the pending restart: no supervisor is left to make it, and none was made.
        await node.kernel.stop('pm-crasher')
        expect(node.kernel.describe('pm-crasher').state).toBe('stopped')
        expect(await node.kernel.call('process-manager', 'processes')).toEqual([])
        expect(supervision(node.trace, 'pm-crasher', 'restarting')).toHaveLength(1)
        expect(supervision(node.trace, 'pm-crasher', 'restarted')).toEqual([])
      } finally {
        await node.close()
      }
    }
    await Promise.all([patient(), impatient()])
  })

  it('refuses invalid host options, naming the field', async () => {
    const node = await startTestNode({ pm: { modules: { 'pm-crasher': { restart: 'sometimes' } } } })
    try {
      await node.kernel.load({ dir: fixture('pm-crasher') })
      const err = await rejection(node.kernel.start('pm-crasher'))
      expect(err.code).toBe('ERR_MODULE_START_FAILED')
      expect((err.cause as { code: string }).code).toBe('ERR_PM_BAD_OPTIONS')
      expect((err.cause as Error).message).toContain('"restart"')
      // The process manager itself runs on, and said so when it started.
      expect(node.kernel.describe('process-manager').state).toBe('running')
      expect(node.logs.some(e => e.module === 'process-manager' && e.level === 'warn' && e.message.includes('pm-crasher'))).toBe(true)
    } finally {
      await node.close()
    }
  })
})
