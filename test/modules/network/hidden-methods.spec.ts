import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDevnet } from '../../../src/apps/devnet/index.ts'
import type { Devnet } from '../../../src/apps/devnet/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'

interface HiddenRequestEvent { id: string, address: string, protocol: string, data: Uint8Array }

async function until (check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

describe('hidden services on a devnet of full Logos nodes (network module methods)', () => {
  let devnet: Devnet
  let S: LogosNode
  let C: LogosNode

  beforeAll(async () => {
    // Seven nodes with the deployed mix delays: S hosts, C asks, all find the mix nodes through capability discovery.
    devnet = await startDevnet({ nodes: 7 })
    S = devnet.nodes[6] as LogosNode
    C = devnet.nodes[1] as LogosNode
    await until(async () => {
      const counts = await Promise.all(devnet.nodes.map(async n => ((await n.kernel.call('network', 'mixNodes')) as unknown[]).length))
      return counts.every(c => c >= 6)
    })
  }, 120_000)

  afterAll(async () => { await devnet?.stop() })

  it('hostHiddenService gives a .mix address; C reaches it with hiddenRequest; S answers hidden:request with hiddenReply', async () => {
    const { address, introPoints } = await S.kernel.call('network', 'hostHiddenService', { protocol: '/test/hidden/echo/1' }, { timeout: 60_000 }) as { address: string, introPoints: string[] }
    expect(address).toMatch(/^[a-z2-7]{55}\.mix$/)
    expect(introPoints).toHaveLength(3)
    const seen: HiddenRequestEvent[] = []
    const off = S.kernel.subscribe('test', 'network', 'hidden:request', (payload) => {
      const r = payload as HiddenRequestEvent
      seen.push(r)
      S.kernel.call('network', 'hiddenReply', { id: r.id, data: Uint8Array.from(r.data).reverse() }).catch(() => {})
    })
    try {
      const payload = randomBytes(1200)
      const { data } = await C.kernel.call('network', 'hiddenRequest', { address, protocol: '/test/hidden/echo/1', payload }, { timeout: 60_000 }) as { data: Uint8Array }
      expect(Buffer.from(data).equals(Buffer.from(Uint8Array.from(payload).reverse()))).toBe(true)
      expect(seen).toHaveLength(1)
      expect(seen[0]?.address).toBe(address)
      expect(seen[0]?.protocol).toBe('/test/hidden/echo/1')
      // The next request uses the session (rendezvous nodes, no introduction).
      const introductions = (await C.kernel.call('network', 'hiddenInfo') as { counters: Record<string, number> }).counters['client.introductions']
      expect(introductions).toBeGreaterThanOrEqual(1)
      const again = await C.kernel.call('network', 'hiddenRequest', { address, protocol: '/test/hidden/echo/1', payload: Uint8Array.of(1, 2) }, { timeout: 60_000 }) as { data: Uint8Array }
      expect(Array.from(again.data)).toEqual([2, 1])
      const info = await C.kernel.call('network', 'hiddenInfo') as { counters: Record<string, number> }
      expect(info.counters['client.introductions']).toBe(introductions)
      const lookup = await C.kernel.call('network', 'hiddenLookup', { address }, { timeout: 60_000 }) as { introPoints: string[], restricted: boolean }
      expect(lookup.introPoints.sort()).toEqual([...introPoints].sort())
      expect(lookup.restricted).toBe(false)
    } finally {
      off()
    }

    // The identity is kept in S's data directory: hosting the protocol again gives the same address.
    await S.kernel.call('network', 'stopHiddenService', { address })
    const again = await S.kernel.call('network', 'hostHiddenService', { protocol: '/test/hidden/echo/1' }, { timeout: 60_000 }) as { address: string }
    expect(again.address).toBe(address)
    expect((await S.kernel.call('network', 'hiddenServices') as Array<{ address: string }>).map(s => s.address)).toEqual([address])
  }, 150_000)

  it('refuses bad parameters and unknown reply ids with typed errors', async () => {
    await expect(C.kernel.call('network', 'hiddenRequest', { address: 'nope.mix', protocol: '/x', payload: new Uint8Array(1) })).rejects.toMatchObject({ code: 'ERR_HS_BAD_ADDRESS' })
    await expect(C.kernel.call('network', 'hiddenRequest', { address: 'x', protocol: '/x' })).rejects.toMatchObject({ code: 'ERR_NET_PARAMS' })
    await expect(S.kernel.call('network', 'hiddenReply', { id: 'nope', data: new Uint8Array(1) })).rejects.toMatchObject({ code: 'ERR_HS_UNKNOWN_REPLY_ID' })
    await expect(S.kernel.call('network', 'hostHiddenService', { protocol: '/x', authorizedClients: ['zz'] })).rejects.toMatchObject({ code: 'ERR_NET_PARAMS' })
    const key = await C.kernel.call('network', 'hiddenClientKey') as { publicKey: string }
    expect(key.publicKey).toMatch(/^[0-9a-f]{64}$/)
    expect((await C.kernel.call('network', 'hiddenClientKey') as { publicKey: string }).publicKey).toBe(key.publicKey)
  })
})
