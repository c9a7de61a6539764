import { describe, expect, it } from 'vitest'
import { fixture, isAlive, startTestNode, supervision, until } from './helpers.ts'

/**
 * While a healthy module serves a steady call load, kill -9 another module's process at random moments, many times:
 * no call to the healthy one is lost, and the killed one comes back every time.
 */
describe('child-process host: chaos', () => {
  it('kill -9 at random moments: zero lost calls to the healthy module, the victim back every time', async () => {
    const KILLS = 15
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
      for (let i = 0; i < KILLS; i++) {
        await new Promise(resolve => setTimeout(resolve, Math.random() * 300))
        await until(() => node.kernel.describe('pm-crasher').state === 'running', 'the victim running again', 20_000)
        const pid = node.pidOf('pm-crasher')
        process.kill(pid, 'SIGKILL')
        killed.push(pid)
        await until(() => supervision(node.trace, 'pm-crasher', 'restarted').length === i + 1, `comeback ${i + 1}`, 20_000)
      }
      await new Promise(resolve => setTimeout(resolve, 200))
      running = false
      await Promise.all(load)

      expect(failures).toEqual([])
      expect(ok).toBeGreaterThan(1000)
      // The victim: back every time, each time in a new process, the killed ones all gone.
      expect(supervision(node.trace, 'pm-crasher', 'crashed')).toHaveLength(KILLS)
      expect(supervision(node.trace, 'pm-crasher', 'restarted')).toHaveLength(KILLS)
      expect(node.kernel.describe('pm-crasher').process?.restarts).toBe(KILLS)
      expect(new Set(killed).size).toBe(KILLS)
      expect(killed.some(isAlive)).toBe(false)
      expect(await node.kernel.call('pm-crasher', 'pid')).not.toBe(killed[killed.length - 1])
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
