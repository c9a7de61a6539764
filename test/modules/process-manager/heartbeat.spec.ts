import { describe, expect, it } from 'vitest'
import { fixture, startTestNode, supervision, until } from './helpers.ts'

interface Row { name: string, heartbeatAt?: number }

/**
 * The hang check judges the module, not the node: when the node's own event loop stalls, the module's answers wait
 * unread in the socket, and the check must not take that for the module's silence.
 */
describe('child-process host: heartbeats', () => {
  it('a stall of the node\'s event loop does not restart a healthy module; a hung one is still found', async () => {
    const node = await startTestNode({ pm: { modules: { 'pm-worker': { heartbeat: { intervalMs: 100, timeoutMs: 3_000 } } } } })
    try {
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      const pid = node.pidOf('pm-worker')
      const heartbeatAt = async (): Promise<number> => (await node.kernel.call<Row[]>('process-manager', 'processes')).find(r => r.name === 'pm-worker')?.heartbeatAt ?? 0
      await until(async () => await heartbeatAt() > 0, 'a first heartbeat')

      // The node's thread busy for 3.5 s, longer than the module's heartbeat timeout (3 s: a module process on a
      // loaded machine may itself wait a second for the CPU, and that is not a hang).
      const end = Date.now() + 3_500
      while (Date.now() < end) { /* the node's own event loop stalls */ }
      // Several checks run after the stall (one every 100 ms), and the module answered them.
      await until(async () => await heartbeatAt() > end + 500, 'heartbeats after the stall', 10_000)
      expect(supervision(node.trace, 'pm-worker', 'crashed')).toEqual([])
      expect(node.pidOf('pm-worker')).toBe(pid)
      expect(await node.kernel.call('pm-worker', 'pid')).toBe(pid)

      // A module that does stop answering is still found, and within its timeout (and a few checks).
      const t0 = Date.now()
      await node.kernel.call('pm-worker', 'hang')
      await until(() => supervision(node.trace, 'pm-worker', 'crashed').length === 1, 'the hang detected', 15_000)
      const report = supervision(node.trace, 'pm-worker', 'crashed')[0]
      expect(report?.detail).toMatchObject({ pid, reason: 'hung', signal: 'SIGKILL' })
      expect((report?.at ?? 0) - t0).toBeGreaterThanOrEqual(2_900)
      await until(() => node.kernel.describe('pm-worker').state === 'running', 'the restart')
    } finally {
      await node.close()
    }
  })
})
