import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatModuleTable, startNode } from '../../../src/apps/node/index.ts'
import { fixture, startTestNode, until } from './helpers.ts'

describe('the node and the process manager', () => {
  it('config.json chooses the host a module runs on', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'logos-pm-node-'))
    const node = await startNode({
      dataDir,
      moduleDirs: [fixture('pm-echo'), fixture('pm-worker')],
      config: { modules: { 'pm-echo': { host: 'in-process' } } }
    })
    try {
      // pm-echo's manifest prefers child-process; the user's choice wins. pm-worker keeps its manifest's host, which
      // this node (without the trusted distribution) does not have.
      expect(node.kernel.describe('pm-echo')).toMatchObject({ host: 'in-process', state: 'running' })
      expect(await node.kernel.call('pm-echo', 'pid')).toBe(process.pid)
      expect(node.kernel.describe('pm-worker')).toMatchObject({ host: 'child-process', state: 'failed' })
      expect(node.kernel.describe('pm-worker').cause?.code).toBe('ERR_MODULE_START_FAILED')
    } finally {
      await node.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('config.json overrides a manifest\'s host options, through the process manager\'s configuration', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'logos-pm-node-'))
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({
      modules: {
        'process-manager': { config: { spares: 0, defaults: { stopGraceMs: 1234 }, modules: { 'pm-worker': { restart: 'temporary', backoff: { factor: 3 } } } } }
      }
    }))
    const node = await startNode({ dataDir, only: ['process-manager'] })
    try {
      expect(node.kernel.describe('process-manager').state).toBe('running')
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      const policy = await node.kernel.call<{ restart: string, backoff: Record<string, number>, stopGraceMs: number }>('process-manager', 'policy', { name: 'pm-worker' })
      // The user's per-module settings over the manifest's (backoff.baseMs 0), over the user's defaults.
      expect(policy.restart).toBe('temporary')
      expect(policy.backoff).toMatchObject({ baseMs: 0, factor: 3 })
      expect(policy.stopGraceMs).toBe(1234)
      // Temporary: the first crash leaves it down.
      await node.kernel.call('pm-worker', 'exit', 1)
      await until(() => node.kernel.describe('pm-worker').state === 'failed', 'the module left down')
    } finally {
      await node.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('the module table shows pid, CPU, memory and restarts of modules in processes of their own', async () => {
    const node = await startTestNode({ pm: { modules: { 'pm-worker': { heartbeat: { intervalMs: 100, timeoutMs: 5000 } } } } })
    try {
      await node.kernel.load({ dir: fixture('pm-worker') })
      await node.kernel.start('pm-worker')
      await until(() => node.kernel.describe('pm-worker').process?.cpuPercent !== undefined, 'a CPU sample')
      const pid = node.pidOf('pm-worker')
      const table = formatModuleTable(node.kernel.list())
      const lines = table.split('\n')
      expect(lines[0]).toMatch(/^NAME\s+VERSION\s+STATE\s+HOST\s+PROCESS\s+NOTE$/)
      expect(lines.find(l => l.startsWith('pm-worker'))).toMatch(new RegExp(`child-process\\s+pid ${pid} cpu \\d+\\.\\d% rss \\d+ MiB`))
      // In-process modules show no process figures (they are the node's).
      expect(lines.find(l => l.startsWith('process-manager'))).not.toContain('pid')
    } finally {
      await node.close()
    }
  })
})
