import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { isAlive } from '../process-manager/helpers.ts'
import { CHAIN, rpc, rpcError, startDevNode, waitUntil, WsClient } from './harness.ts'
import type { NodeUnderTest } from './harness.ts'

let node: NodeUnderTest
let work: string
let dir: string

/** Writes the `counter` module: `version` answers `value` after a short wait; its start takes `startMs`. */
async function writeCounter (options: { version: string, value: number, startMs?: number, broken?: 'throws' | 'syntax' }): Promise<void> {
  await writeFile(join(dir, 'module.json'), JSON.stringify({ name: 'counter', version: options.version, entry: './index.ts' }))
  const start = options.broken === 'throws'
    ? 'throw new Error(\'this version cannot start\')'
    : `return { methods: { version: async () => { await new Promise(r => setTimeout(r, 1)); return ${options.value} } } }`
  const body = options.broken === 'syntax'
    ? 'export const counter = { start ( {'
    : `export const counter = {\n  async start () {\n    await new Promise(r => setTimeout(r, ${options.startMs ?? 0}))\n    ${start}\n  }\n}\n`
  await writeFile(join(dir, 'index.ts'), body)
}

/** One call of the load: when it was made and answered (ms since the epoch, the node's clock: same process) and its outcome. */
interface Timed { start: number, end: number, outcome: number | string }

/** Callers that call counter.version in a loop over HTTP until stopped; every outcome is kept, with its times. */
function callLoad (workers: number): { stop: () => Promise<Array<Array<number | string>>>, timeline: Timed[] } {
  let stopping = false
  const timeline: Timed[] = []
  const results = Array.from({ length: workers }, () => [] as Array<number | string>)
  const running = results.map(async (out) => {
    while (!stopping) {
      const start = Date.now()
      let outcome: number | string
      try {
        outcome = await rpc<number>(node, 'modules.call', { module: 'counter', method: 'version' })
      } catch (err) {
        outcome = `failed: ${(err as Error).message}`
      }
      out.push(outcome)
      timeline.push({ start, end: Date.now(), outcome })
    }
  })
  return {
    timeline,
    stop: async () => {
      stopping = true
      await Promise.all(running)
      return results
    }
  }
}

const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'logos-dev-reload-'))
  node = await startDevNode({ modules: CHAIN.map(d => ({ dir: d })), processManager: { spares: 1 } })
})
afterAll(async () => {
  await node.stop()
  await rm(work, { recursive: true, force: true })
})

let counter = 0
beforeEach(async () => {
  dir = join(work, `counter-${++counter}`)
  await mkdir(dir)
  await writeCounter({ version: '1.0.0', value: 1 })
  await rpc(node, 'modules.load', { dir })
})
afterEach(async () => {
  if (node.kernel.has('counter')) await rpc(node, 'modules.unload', { name: 'counter' })
})

describe('hot reload', () => {
  it('replaces a module under a call load with no failed call; other modules keep running', async () => {
    const trace = await WsClient.connect(node.ws, { token: node.token })
    const sub = await trace.call<string>('trace.subscribe', { types: ['lifecycle', 'supervision'], modules: ['counter'] })
    const load = callLoad(8)
    let othersOk = 0
    const others = (async () => {
      for (let i = 0; i < 30; i++) {
        expect(await rpc(node, 'modules.call', { module: 'alpha', method: 'run', params: { value: i } })).toMatchObject({ value: i * 2 })
        othersOk++
      }
    })()
    await pause(150)
    await writeCounter({ version: '2.0.0', value: 2, startMs: 80 })
    const outcome = await rpc<Record<string, unknown>>(node, 'modules.reload', { name: 'counter' })
    expect(outcome).toMatchObject({ module: 'counter', ok: true, trigger: 'request', previousVersion: '1.0.0', version: '2.0.0' })
    expect(outcome.durationMs).toBeGreaterThanOrEqual(80)
    await pause(150)
    const results = await load.stop()
    await others
    expect(othersOk).toBe(30)
    const all = results.flat()
    expect(all.filter(r => typeof r === 'string')).toEqual([])
    expect(all).toContain(1)
    expect(all).toContain(2)
    // Each caller sees the old code, then the new, never back.
    for (const series of results) expect(series.slice(series.indexOf(2))).not.toContain(1)
    await trace.waitFor(() => trace.items(sub).length >= 2)
    const swap = trace.items<{ from: string, to: string, at: number }>(sub)
    expect(swap.map(r => `${r.from}->${r.to}`)).toEqual(['running->reloading', 'reloading->running'])
    // Calls made during the swap (the new code takes 80 ms to start) waited for it rather than failed: made after the
    // module went reloading, answered after it ran again, by the new code.
    const reloading = swap[0] as { at: number }
    const running = swap[1] as { at: number }
    const waited = load.timeline.filter(c => c.start > reloading.at && c.start < running.at)
    expect(waited.length).toBeGreaterThan(0)
    for (const c of waited) expect(c).toMatchObject({ outcome: 2, end: expect.any(Number) as number })
    for (const c of waited) expect(c.end).toBeGreaterThanOrEqual(running.at)
    expect((await rpc<{ version: string }>(node, 'modules.describe', { name: 'counter' })).version).toBe('2.0.0')
    await trace.close()
  })

  it.each(['in-process', 'child-process'])('rolls back code that fails to start (%s): the previous code runs again, calls keep succeeding, and it is reported', async (host) => {
    if (host !== 'in-process') {
      await rpc(node, 'modules.unload', { name: 'counter' })
      await rpc(node, 'modules.load', { dir, host })
    }
    const pid = (await rpc<{ process?: { pid: number } }>(node, 'modules.describe', { name: 'counter' })).process?.pid
    const trace = await WsClient.connect(node.ws, { token: node.token })
    const sub = await trace.call<string>('trace.subscribe', { types: ['lifecycle', 'supervision', 'event'], modules: ['counter', 'developer'] })
    const load = callLoad(6)
    await pause(100)
    for (const broken of ['throws', 'syntax'] as const) {
      await writeCounter({ version: '3.0.0', value: 3, startMs: 50, broken })
      const error = await rpcError(node, 'modules.reload', { name: 'counter' })
      expect(error.code).toBe(-32000)
      expect(error.data?.code).toBe('ERR_RELOAD_FAILED')
      expect(error.data?.data).toMatchObject({ module: 'counter', rolledBack: true })
      expect(await rpc(node, 'modules.call', { module: 'counter', method: 'version' })).toBe(1)
    }
    await pause(100)
    const results = (await load.stop()).flat()
    expect(results.filter(r => typeof r === 'string')).toEqual([])
    expect(new Set(results)).toEqual(new Set([1]))
    const describe = await rpc<{ version: string, state: string }>(node, 'modules.describe', { name: 'counter' })
    expect(describe).toMatchObject({ version: '1.0.0', state: 'running' })
    await trace.waitFor(() => trace.items(sub).filter(r => r.type === 'supervision').length >= 2 && trace.items(sub).filter(r => r.type === 'event').length >= 2)
    const records = trace.items(sub)
    const rollbacks = records.filter(r => r.type === 'supervision')
    expect(rollbacks).toHaveLength(2)
    for (const r of rollbacks) expect(r).toMatchObject({ module: 'counter', action: 'rolled-back', detail: { rolledBack: true, version: '1.0.0', rejectedVersion: '3.0.0' } })
    // The module never left the reloading state for failed: waiting calls went to the restored code.
    expect(records.filter(r => r.type === 'lifecycle').map(r => `${String(r.from)}->${String(r.to)}`)).toEqual(['running->reloading', 'reloading->running', 'running->reloading', 'reloading->running'])
    const events = records.filter(r => r.type === 'event')
    expect(events.map(e => `${String(e.source)}:${String(e.event)}`)).toEqual(['developer:reloaded', 'developer:reloaded'])
    const recent = await rpc<{ recentErrors: Array<{ type: string, action?: string }> }>(node, 'modules.recent', { name: 'counter' })
    expect(recent.recentErrors.filter(e => e.type === 'supervision').map(e => e.action)).toEqual(['rolled-back', 'rolled-back'])
    await trace.close()
    // In a process of its own, the code that ran before runs again in the very process that kept it; a good version
    // then goes into a new process, and the one that kept the old code is gone.
    const after = await rpc<{ host: string, process?: { pid: number } }>(node, 'modules.describe', { name: 'counter' })
    expect(after.host).toBe(host)
    expect(after.process?.pid).toBe(pid)
    await writeCounter({ version: '4.0.0', value: 4 })
    expect(await rpc(node, 'modules.reload', { name: 'counter' })).toMatchObject({ ok: true, version: '4.0.0' })
    expect(await rpc(node, 'modules.call', { module: 'counter', method: 'version' })).toBe(4)
    if (host !== 'in-process') {
      const pidAfter = (await rpc<{ process?: { pid: number } }>(node, 'modules.describe', { name: 'counter' })).process?.pid
      expect(pidAfter).not.toBe(pid)
      await waitUntil(() => !isAlive(pid as number))
    }
  })

  it('serialises concurrent reloads of one module', async () => {
    await writeCounter({ version: '2.0.0', value: 2, startMs: 30 })
    const outcomes = await Promise.all([1, 2, 3].map(async () => await rpc<{ ok: boolean, version: string }>(node, 'modules.reload', { name: 'counter' })))
    expect(outcomes.map(o => [o.ok, o.version])).toEqual([[true, '2.0.0'], [true, '2.0.0'], [true, '2.0.0']])
    expect(await rpc(node, 'modules.call', { module: 'counter', method: 'version' })).toBe(2)
  })

  it('reloads from another folder when asked to', async () => {
    const other = join(work, `other-${counter}`)
    await mkdir(other)
    const saved = dir
    dir = other
    await writeCounter({ version: '5.0.0', value: 5 })
    dir = saved
    expect(await rpc(node, 'modules.reload', { name: 'counter', dir: other })).toMatchObject({ ok: true, version: '5.0.0' })
    expect(await rpc(node, 'modules.call', { module: 'counter', method: 'version' })).toBe(5)
    expect((await rpc<{ source: string }>(node, 'modules.describe', { name: 'counter' })).source).toBe(other)
    // A watch follows the module to its new folder.
    await rpc(node, 'modules.watch', { name: 'counter', debounceMs: 50 })
    await rpc(node, 'modules.reload', { name: 'counter', dir: saved })
    expect((await rpc<Array<{ dir: string }>>(node, 'modules.watches'))[0]?.dir).toBe(saved)
    await rpc(node, 'modules.unwatch', { name: 'counter' })
  })
})

describe('watching a folder', () => {
  it('reloads once after a burst of changes, rolls back broken saves, and stops when unwatched', async () => {
    // A quiet period well above the gaps between the saves below, so that a slow machine still sees one burst.
    const debounceMs = 600
    const watch = await rpc<{ module: string, dir: string, debounceMs: number }>(node, 'modules.watch', { name: 'counter', debounceMs })
    expect(watch).toMatchObject({ module: 'counter', dir, debounceMs })
    expect((await rpc<Array<{ name: string, watching: boolean }>>(node, 'modules.list')).find(r => r.name === 'counter')?.watching).toBe(true)
    // An editor saving in several steps: one reload.
    for (let i = 0; i < 4; i++) {
      await writeCounter({ version: '4.0.0', value: 4 })
      await pause(20)
    }
    await waitUntil(async () => await rpc(node, 'modules.call', { module: 'counter', method: 'version' }) === 4)
    // No second reload follows (one would come a quiet period after a change seen late).
    await pause(debounceMs + 200)
    type Watch = { reloads: number, last?: { ok: boolean, trigger: string, version: string, rolledBack?: boolean, error?: { code: string } } }
    let [info] = await rpc<Watch[]>(node, 'modules.watches')
    expect(info?.reloads).toBe(1)
    expect(info?.last).toMatchObject({ ok: true, trigger: 'watch', version: '4.0.0' })

    await writeCounter({ version: '6.0.0', value: 6, broken: 'throws' })
    await waitUntil(async () => (await rpc<Array<{ reloads: number }>>(node, 'modules.watches'))[0]?.reloads === 2)
    await waitUntil(async () => (await rpc<Array<{ last?: { ok: boolean } }>>(node, 'modules.watches'))[0]?.last?.ok === false);
    [info] = await rpc<Watch[]>(node, 'modules.watches')
    expect(info?.last).toMatchObject({ ok: false, rolledBack: true, error: { code: 'ERR_RELOAD_FAILED' } })
    expect(await rpc(node, 'modules.call', { module: 'counter', method: 'version' })).toBe(4)
    const logs = await rpc<Array<{ message: string }>>(node, 'logs.tail', { module: 'developer', level: 'error' })
    expect(logs.at(-1)?.message).toMatch(/reload of counter failed; the previous code runs again/)

    expect(await rpc(node, 'modules.unwatch', { name: 'counter' })).toBe(true)
    expect(await rpc(node, 'modules.unwatch', { name: 'counter' })).toBe(false)
    await writeCounter({ version: '7.0.0', value: 7 })
    await pause(500)
    expect(await rpc(node, 'modules.call', { module: 'counter', method: 'version' })).toBe(4)
  })

  it('a configured watch of a module that is not loaded does not stop the interface: the watch begins when it is loaded', async () => {
    const other = await startDevNode({ config: { watch: ['counter'], watchDebounceMs: 50 } })
    try {
      expect(other.kernel.describe('developer').state).toBe('running')
      expect(await rpc(other, 'modules.watches')).toEqual([])
      const logs = await rpc<Array<{ message: string }>>(other, 'logs.tail', { module: 'developer' })
      expect(logs.map(e => e.message)).toContain('will watch counter once it is loaded')
      await other.kernel.load({ dir })
      expect(await rpc(other, 'modules.watches')).toEqual([expect.objectContaining({ module: 'counter', dir, debounceMs: 50 })])
    } finally {
      await other.stop()
    }
  })

  it('refuses modules that do not come from a folder, and drops the watch when the module is unloaded', async () => {
    const { defineModule } = await import('../../../src/sdk/index.ts')
    await node.kernel.load(defineModule({ name: 'inline', version: '1.0.0', start: () => ({}) }))
    expect((await rpcError(node, 'modules.watch', { name: 'inline' })).data?.code).toBe('ERR_DEV_NOT_WATCHABLE')
    await node.kernel.unload('inline')
    await rpc(node, 'modules.watch', { name: 'counter' })
    await rpc(node, 'modules.unload', { name: 'counter' })
    expect(await rpc(node, 'modules.watches')).toEqual([])
  })
})
