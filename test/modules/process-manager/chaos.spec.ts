import { describe, expect, it } from 'vitest'
import { fixture, isAlive, startTestNode, supervision, until } from './helpers.ts'
import type { TestNode } from './helpers.ts'

type Round = 'running' | 'adoption' | 'boot'

/**
 * While a healthy module serves a steady call load, kill -9 another module's process at random moments, many times,
 * in the three windows that matter: while it serves; while a spare is being made into it (the spare dies with it);
 * and while its replacement boots (spares gone, so the new process is killed before it serves). No call to the
 * healthy one is lost, and the killed one comes back every time.
 */
describe('child-process host: chaos', () => {
  it('kill -9 at random moments, start-up and spare adoption included: zero lost calls to the healthy module, the victim back every time', async () => {
    const ROUNDS = 15
    const node = await startTestNode({
      pm: { spares: 1, modules: { 'pm-crasher': { backoff: { baseMs: 0 }, intensity: { maxRestarts: 1000, withinMs: 60_000 } } } },
      kernel: { config: { 'pm-crasher': { mode: 'none' } } }
    })
    try {
      await node.kernel.load({ dir: fixture('pm-echo') })
      await node.kernel.load({ dir: fixture('pm-crasher') })
      await node.kernel.startAll()
      const echoPid = node.pidOf('pm-echo')

      // The steady load: 8 callers, each a call after the other, every answer checked.
      let running = true
      let ok = 0
      const failures: unknown[] = []
      const victimErrors = new Map<string, number>()
      let victimOk = 0
      const caller = async (id: number): Promise<void> => {
        let n = 0
        while (running) {
          const payload = { id, n: n++, bytes: new Uint8Array([id, n & 0xff]) }
          try {
            const back = await node.kernel.call<typeof payload>('pm-echo', 'echo', payload)
            if (back.id !== payload.id || back.n !== payload.n || back.bytes[1] !== payload.bytes[1]) failures.push(new Error('a wrong answer'))
            else ok++
          } catch (err) {
            failures.push(err)
          }
        }
      }
      // Calls to the victim too: they may fail while it is down, but only with a crash or not-running error, never hang.
      const victimCaller = async (): Promise<void> => {
        while (running) {
          try {
            await node.kernel.call('pm-crasher', 'pid', undefined, { timeout: 10_000 })
            victimOk++
          } catch (err) {
            const code = (err as { code?: string }).code ?? 'none'
            victimErrors.set(code, (victimErrors.get(code) ?? 0) + 1)
            await new Promise(resolve => setTimeout(resolve, 1))
          }
        }
      }
      const load = [...Array.from({ length: 8 }, async (_, i) => { await caller(i) }), victimCaller()]

      const killed: number[] = []
      const kill = (pid: number): void => {
        if (pid <= 0 || killed.includes(pid)) return
        try {
          process.kill(pid, 'SIGKILL')
          killed.push(pid)
        } catch {
          // gone already
        }
      }
      const spares = async (): Promise<number[]> => await node.kernel.call<number[]>('process-manager', 'spares')
      /** Kills of a process that was being made into the module (state still restarting), per window. */
      const startupKills = { adoption: 0, boot: 0 }
      const killReplacement = async (old: number, window: 'adoption' | 'boot'): Promise<number> => {
        const next = await nextPid(node, old)
        if (node.kernel.describe('pm-crasher').state === 'restarting') startupKills[window]++
        kill(next)
        return next
      }
      for (let i = 0; i < ROUNDS; i++) {
        const round: Round = (['running', 'adoption', 'boot'] as const)[i % 3] as Round
        if (round !== 'running') await until(async () => (await spares()).length > 0, 'a spare ready')
        await new Promise(resolve => setTimeout(resolve, Math.random() * 200))
        const pid = node.pidOf('pm-crasher')
        if (round === 'adoption') {
          // The spare dies as it is made into the module: its INIT or its start never completes.
          const [spare] = await spares()
          kill(pid)
          const next = await killReplacement(pid, 'adoption')
          if (next !== spare) kill(spare as number)
        } else if (round === 'boot') {
          // No spare to take: the replacement boots, and dies before it serves.
          for (const spare of await spares()) kill(spare)
          kill(pid)
          await killReplacement(pid, 'boot')
        } else {
          kill(pid)
        }
        // Back every time: running, in a process not killed, serving.
        await until(async () => {
          if (node.kernel.describe('pm-crasher').state !== 'running') return false
          const now = await node.kernel.call<number>('pm-crasher', 'pid').catch(() => -1)
          return now > 0 && !killed.includes(now)
        }, `comeback ${i + 1} (${round})`, 30_000)
      }
      await new Promise(resolve => setTimeout(resolve, 200))
      running = false
      await Promise.all(load)

      expect(failures).toEqual([])
      expect(ok).toBeGreaterThan(1000)
      // The start-up windows were hit, not only the serving one.
      expect(startupKills.adoption).toBeGreaterThan(0)
      expect(startupKills.boot).toBeGreaterThan(0)
      // The victim: back every time, each time in a new process, the killed ones all gone.
      const restarted = supervision(node.trace, 'pm-crasher', 'restarted')
      expect(restarted.length).toBeGreaterThanOrEqual(ROUNDS)
      expect(supervision(node.trace, 'pm-crasher', 'crashed').length).toBeGreaterThanOrEqual(ROUNDS)
      expect(supervision(node.trace, 'pm-crasher', 'gave-up')).toEqual([])
      expect(node.kernel.describe('pm-crasher').process?.restarts).toBe(restarted.length)
      await until(() => !killed.some(isAlive), 'every killed process gone', 5_000)
      expect(killed).not.toContain(await node.kernel.call('pm-crasher', 'pid'))
      expect(victimOk).toBeGreaterThan(0)
      expect([...victimErrors.keys()].filter(code => code !== 'ERR_MODULE_CRASHED' && code !== 'ERR_MODULE_NOT_RUNNING')).toEqual([])
      // The healthy module never noticed.
      expect(node.pidOf('pm-echo')).toBe(echoPid)
      expect(node.kernel.describe('pm-echo').process?.restarts).toBe(0)
    } finally {
      await node.close()
    }
  })
})

/** The pid of the process that replaces `old` (known to the host as soon as it is acquired, before it serves). */
async function nextPid (node: TestNode, old: number): Promise<number> {
  const end = Date.now() + 20_000
  for (;;) {
    const pid = node.kernel.describe('pm-crasher').process?.pid ?? -1
    if (pid > 0 && pid !== old) return pid
    if (Date.now() > end) throw new Error('no replacement process')
    await new Promise(resolve => setImmediate(resolve))
  }
}
