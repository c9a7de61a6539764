import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SupervisionTrace } from '../../../src/kernel/index.ts'
import { defineModule } from '../../../src/sdk/index.ts'
import { fixture, isAlive, rejection, startTestNode, supervision, until } from './helpers.ts'
import type { TestNode } from './helpers.ts'

/**
 * Every way a module process can end is detected, reported (trace, log, directory event, dependents told) and
 * followed by a restart; calls in flight fail at once with ERR_MODULE_CRASHED.
 */
describe('child-process host: crash detection', () => {
  let node: TestNode
  const toldDependent: Array<Record<string, unknown>> = []

  beforeAll(async () => {
    node = await startTestNode({
      pm: {
        spares: 1,
        modules: {
          'pm-worker': { intensity: { maxRestarts: 100, withinMs: 60_000 }, heartbeat: { intervalMs: 200, timeoutMs: 2500 } }
        }
      }
    })
    await node.kernel.load({ dir: fixture('pm-worker') })
    await node.kernel.load(defineModule({
      name: 'pm-dependent',
      version: '1.0.0',
      dependencies: { 'pm-worker': '^1.0.0' },
      start: (ctx) => {
        ctx.on('directory', 'module:crashed', (payload) => { toldDependent.push(payload as Record<string, unknown>) })
        return {}
      }
    }))
    await node.kernel.startAll()
  })

  afterAll(async () => { await node.close() })

  /** Runs `trigger`, waits for the crash report and the restart, and returns the report. */
  async function crashAndComeBack (trigger: () => Promise<unknown>): Promise<SupervisionTrace> {
    const crashes = supervision(node.trace, 'pm-worker', 'crashed').length
    const restarts = supervision(node.trace, 'pm-worker', 'restarted').length
    const pid = node.pidOf('pm-worker')
    await trigger()
    await until(() => supervision(node.trace, 'pm-worker', 'restarted').length > restarts, 'the restart', 30_000)
    const report = supervision(node.trace, 'pm-worker', 'crashed')[crashes] as SupervisionTrace
    expect(report.detail.pid).toBe(pid)
    expect(isAlive(pid)).toBe(false)
    // Serving again, from a new process.
    const newPid = await node.kernel.call<number>('pm-worker', 'pid')
    expect(newPid).not.toBe(pid)
    expect(node.kernel.describe('pm-worker').state).toBe('running')
    node.pidOf('pm-worker')
    return report
  }

  it('detects an exit with a code, and reports it everywhere', async () => {
    const report = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'exit', 3))
    expect(report.detail).toMatchObject({ reason: 'exit', exitCode: 3, signal: null, dependents: ['pm-dependent'] })
    expect(report.detail.uptimeMs).toBeGreaterThan(0)
    expect(report.detail.stderrTail).toEqual([])
    // The log entry names the module, pid, exit code and uptime.
    const log = node.logs.find(e => e.module === 'pm-worker' && e.message === 'module crashed')
    expect(log?.level).toBe('error')
    expect(log?.fields).toMatchObject({ pid: report.detail.pid, exitCode: 3, reason: 'exit' })
    expect(log?.fields?.uptimeMs).toBeGreaterThan(0)
    // The dependent was told, through the directory's event.
    await until(() => toldDependent.length > 0, 'the dependent heard of the crash')
    expect(toldDependent[0]).toMatchObject({ name: 'pm-worker', reason: 'exit', exitCode: 3, dependents: ['pm-dependent'] })
    // The lifecycle went running -> restarting -> running, and the directory counts the restart.
    const states = node.trace.filter(r => r.type === 'lifecycle' && r.module === 'pm-worker').map(r => r.type === 'lifecycle' ? r.to : '')
    expect(states.slice(-2)).toEqual(['restarting', 'running'])
    expect(node.kernel.describe('pm-worker').process?.restarts).toBe(1)
  })

  it('detects death by a signal', async () => {
    const report = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'kill', 'SIGTERM'))
    expect(report.detail).toMatchObject({ reason: 'signal', exitCode: null, signal: 'SIGTERM' })
  })

  it('detects an uncaught exception, with the error and the stderr tail', async () => {
    const report = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'throwUncaught', 'kaboom'))
    expect(report.detail).toMatchObject({ reason: 'uncaught-exception', exitCode: 1, error: { message: 'kaboom', code: 'ERR_UNEXPECTED' } })
    expect((report.detail.stderrTail as string[]).join('\n')).toContain('Error: kaboom')
  })

  it('detects an unhandled rejection (Node makes it an uncaught exception)', async () => {
    const report = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'rejectUnhandled', 'no catch'))
    expect(report.detail).toMatchObject({ reason: 'uncaught-exception', exitCode: 1, error: { message: 'no catch' } })
  })

  it('detects a hang by its missed heartbeats and kills it', async () => {
    const t0 = Date.now()
    const report = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'hang'))
    expect(report.detail).toMatchObject({ reason: 'hung', signal: 'SIGKILL' })
    // Timeout 2500 ms after the last answer (which may precede the call by a ping interval of 200 ms), checked every
    // 200 ms: found within seconds even on a busy machine, and not before its time.
    expect(report.at - t0).toBeGreaterThanOrEqual(2000)
    expect(report.at - t0).toBeLessThan(15_000)
  })

  it('detects a lost channel: the process exits by itself, or is killed when it cannot', async () => {
    const selfExit = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'dropChannel', {}))
    expect(selfExit.detail).toMatchObject({ reason: 'channel-lost', exitCode: 90 })
    const killed = await crashAndComeBack(async () => await node.kernel.call('pm-worker', 'dropChannel', { hang: true }))
    expect(killed.detail).toMatchObject({ reason: 'channel-lost', signal: 'SIGKILL' })
  })

  it('fails calls in flight at once with ERR_MODULE_CRASHED when the process dies', async () => {
    const pid = node.pidOf('pm-worker')
    const held = [1, 2, 3, 4, 5].map(async () => await rejection(node.kernel.call('pm-worker', 'hold')))
    const slow = rejection(node.kernel.call('pm-worker', 'wait', 60_000))
    await until(async () => (await node.kernel.call<Array<{ name: string, inFlight: number }>>('process-manager', 'processes')).find(r => r.name === 'pm-worker')?.inFlight === 6, 'the calls in flight')
    const t0 = performance.now()
    process.kill(pid, 'SIGKILL')
    const errors = await Promise.all([...held, slow])
    const elapsed = performance.now() - t0
    for (const err of errors) {
      expect(err.code).toBe('ERR_MODULE_CRASHED')
      expect(err.data).toMatchObject({ module: 'pm-worker', pid })
    }
    // At once: the kernel's own deadline is 30 s, the module would never answer.
    expect(elapsed).toBeLessThan(2000)
    await until(() => node.kernel.describe('pm-worker').state === 'running' && node.pidOf('pm-worker') !== pid, 'the restart')
  })
})

describe('child-process host: memory ceiling', () => {
  it('restarts a module whose resident memory goes over its ceiling', async () => {
    const MiB = 1024 * 1024
    const limit = 384 * MiB
    const node = await startTestNode({ pm: { modules: { 'pm-worker': { memoryLimitBytes: limit, heartbeat: { intervalMs: 100, timeoutMs: 5000 } } } } })
    try {
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      const pid = node.pidOf('pm-worker')
      const rss = (): number => node.kernel.describe('pm-worker').process?.rssBytes ?? 0
      await until(() => rss() > 0, 'a memory sample')
      // The module's own process is the baseline: it grows to 64 MiB below its ceiling.
      const base = rss()
      expect(base).toBeLessThan(limit - 128 * MiB)
      const under = Math.floor((limit - 64 * MiB - base) / MiB)
      await node.kernel.call('pm-worker', 'grow', under)
      // A heartbeat measured it (the ceiling is checked with each sample): under the ceiling, nothing happens.
      await until(() => rss() >= base + under * MiB * 0.9, 'a sample of the grown memory')
      expect(rss()).toBeLessThan(limit)
      expect(supervision(node.trace, 'pm-worker', 'crashed')).toEqual([])
      expect(node.pidOf('pm-worker')).toBe(pid)
      // Over it: killed and restarted.
      await node.kernel.call('pm-worker', 'grow', 128)
      await until(() => supervision(node.trace, 'pm-worker', 'restarted').length === 1, 'the restart')
      const report = supervision(node.trace, 'pm-worker', 'crashed')[0]
      expect(report?.detail).toMatchObject({ pid, reason: 'memory-limit', signal: 'SIGKILL' })
      expect(node.logs.some(e => e.module === 'pm-worker' && e.message.includes('memory ceiling'))).toBe(true)
      const listed = await node.kernel.call<Array<{ memoryLimitBytes?: number }>>('process-manager', 'processes')
      expect(listed[0]?.memoryLimitBytes).toBe(limit)
    } finally {
      await node.close()
    }
  })
})
