import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixture, isAlive, rejection, startTestNode, until } from './helpers.ts'

describe('child-process host: start and stop', () => {
  it('a failed start is ERR_MODULE_START_FAILED with the module\'s own error, and leaves no process', async () => {
    const node = await startTestNode()
    try {
      await node.kernel.load({ dir: fixture('pm-bad-start') })
      const err = await rejection(node.kernel.start('pm-bad-start'))
      expect(err.code).toBe('ERR_MODULE_START_FAILED')
      expect((err.cause as { code: string }).code).toBe('ERR_INVALID_ARGUMENT')
      expect((err.cause as Error).message).toBe('no configuration, no start')
      expect(node.kernel.describe('pm-bad-start').state).toBe('failed')
      await until(() => node.logs.some(e => e.module === 'pm-bad-start' && e.message === 'about to fail'), 'its stderr in the log')
      expect(await node.kernel.call('process-manager', 'processes')).toEqual([])
    } finally {
      await node.close()
    }
  })

  it('starts modules on the host after the process manager, whatever their names (startAll)', async () => {
    // "pm-worker" sorts before "process-manager"; the kernel starts privileged modules first.
    const node = await startTestNode()
    try {
      await node.kernel.stop('process-manager')
      await node.kernel.load({ dir: fixture('pm-worker') })
      const results = await node.kernel.startAll()
      expect(results.map(r => [r.name, r.state])).toEqual([['process-manager', 'running'], ['directory', 'running'], ['pm-worker', 'running']])
    } finally {
      await node.close()
    }
  })

  it('stops gracefully: the stop hook runs, then the process exits', async () => {
    const node = await startTestNode()
    try {
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      const pid = node.pidOf('pm-worker')
      await node.kernel.stop('pm-worker')
      expect(node.kernel.describe('pm-worker').state).toBe('stopped')
      expect(await readFile(join(node.dataDir, 'modules/pm-worker/stopped'), 'utf8')).toBe(String(pid))
      await until(() => !isAlive(pid), 'the process gone')
      expect(node.trace.some(r => r.type === 'supervision' && r.module === 'pm-worker')).toBe(false) // a stop is no crash
      // And it starts again, in a new process.
      await node.kernel.start('pm-worker')
      expect(node.pidOf('pm-worker')).not.toBe(pid)
    } finally {
      await node.close()
    }
  })

  it('reloads a module by starting its code in a new process', async () => {
    const node = await startTestNode()
    try {
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      const pid = node.pidOf('pm-worker')
      await node.kernel.reload('pm-worker')
      expect(node.kernel.describe('pm-worker').state).toBe('running')
      const newPid = await node.kernel.call<number>('pm-worker', 'pid')
      expect(newPid).not.toBe(pid)
      expect(isAlive(pid)).toBe(false)
      expect(await node.kernel.call('process-manager', 'processes')).toEqual([expect.objectContaining({ name: 'pm-worker', pid: newPid, restarts: 0 })])
    } finally {
      await node.close()
    }
  })

  it('cuts a stop hook short at its grace period', async () => {
    const node = await startTestNode({ pm: { modules: { 'pm-slow-stop': { stopGraceMs: 300 } } }, kernel: { config: { 'pm-slow-stop': { stopMs: 60_000 } } } })
    try {
      await node.kernel.load({ dir: fixture('pm-slow-stop') })
      await node.kernel.start('pm-slow-stop')
      const pid = node.pidOf('pm-slow-stop')
      const t0 = performance.now()
      await node.kernel.stop('pm-slow-stop')
      expect(performance.now() - t0).toBeLessThan(5000)
      expect(node.kernel.describe('pm-slow-stop').state).toBe('stopped')
      expect(isAlive(pid)).toBe(false)
      expect(node.logs.some(e => e.module === 'pm-slow-stop' && e.level === 'warn' && e.message.includes('cut short'))).toBe(true)
    } finally {
      await node.close()
    }
  })

  it('sends SIGTERM to a process stuck in its stop hook, then SIGKILL to one that ignores SIGTERM', async () => {
    const options = { stopGraceMs: 200, killGraceMs: 300 }
    const node = await startTestNode({
      pm: { modules: { 'pm-slow-stop': options } },
      kernel: { config: { 'pm-slow-stop': { stopMs: 60_000, blockStop: true } } }
    })
    try {
      await node.kernel.load({ dir: fixture('pm-slow-stop') })
      await node.kernel.start('pm-slow-stop')
      const pid = node.pidOf('pm-slow-stop')
      await node.kernel.stop('pm-slow-stop')
      expect(isAlive(pid)).toBe(false)
      expect(node.logs.find(e => e.module === 'pm-slow-stop' && e.level === 'warn')?.fields).toMatchObject({ escalated: 'SIGTERM' })
    } finally {
      await node.close()
    }
    const deaf = await startTestNode({
      pm: { modules: { 'pm-slow-stop': options } },
      kernel: { config: { 'pm-slow-stop': { stopMs: 60_000, blockStop: true, ignoreTerm: true } } }
    })
    try {
      await deaf.kernel.load({ dir: fixture('pm-slow-stop') })
      await deaf.kernel.start('pm-slow-stop')
      const pid = deaf.pidOf('pm-slow-stop')
      await deaf.kernel.stop('pm-slow-stop')
      expect(isAlive(pid)).toBe(false)
      expect(deaf.logs.find(e => e.module === 'pm-slow-stop' && e.level === 'warn')?.fields).toMatchObject({ escalated: 'SIGKILL' })
      expect(deaf.kernel.describe('pm-slow-stop').state).toBe('stopped')
    } finally {
      await deaf.close()
    }
  })

  it('a stop hook that fails leaves the module failed with that error, and its process gone', async () => {
    const node = await startTestNode({ kernel: { config: { 'pm-slow-stop': { failStop: true } } } })
    try {
      await node.kernel.load({ dir: fixture('pm-slow-stop') })
      await node.kernel.start('pm-slow-stop')
      const pid = node.pidOf('pm-slow-stop')
      const err = await rejection(node.kernel.stop('pm-slow-stop'))
      expect(err.code).toBe('ERR_MODULE_STOP_FAILED')
      expect((err.cause as Error).message).toBe('the stop hook failed')
      expect(node.kernel.describe('pm-slow-stop').state).toBe('failed')
      expect(isAlive(pid)).toBe(false)
    } finally {
      await node.close()
    }
  })

  it('shutting the node down leaves no process behind, spares included', async () => {
    const node = await startTestNode({ pm: { spares: 1 } })
    await node.kernel.load({ dir: fixture('pm-worker') })
    await node.kernel.load({ dir: fixture('pm-echo') })
    await node.kernel.startAll()
    await until(async () => (await node.kernel.call<number[]>('process-manager', 'spares')).length === 1, 'a spare')
    const pids = [node.pidOf('pm-worker'), node.pidOf('pm-echo'), ...await node.kernel.call<number[]>('process-manager', 'spares')]
    expect(pids.every(isAlive)).toBe(true)
    await node.close()
    await until(() => pids.every(pid => !isAlive(pid)), 'every process gone', 10_000)
  })

  it('stopping the process manager stops the modules on its host first', async () => {
    const node = await startTestNode()
    try {
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      const pid = node.pidOf('pm-worker')
      await node.kernel.stop('process-manager')
      expect(node.kernel.describe('pm-worker').state).toBe('stopped')
      expect(isAlive(pid)).toBe(false)
      expect(node.kernel.hosts()).toEqual(['in-process'])
      expect((await rejection(node.kernel.start('pm-worker'))).code).toBe('ERR_MODULE_START_FAILED')
    } finally {
      await node.close()
    }
  })
})
