import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDevnet } from '../../../src/apps/devnet/index.ts'
import type { Devnet } from '../../../src/apps/devnet/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { NetworkConfigError } from '../../../src/modules/network/errors.ts'
import { parseMixConfig } from '../../../src/modules/network/mix-methods.ts'

interface MixNodeView { peerId: string, multiaddrs: string[], publicKey: string }
interface MixMessage { id: string, protocol: string, data: Uint8Array, expectsReply: boolean }

async function until (check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

describe('the mixnet on a devnet of full Logos nodes (network module methods)', () => {
  let devnet: Devnet
  let A: LogosNode
  let B: LogosNode

  beforeAll(async () => {
    // Six nodes: A sends, B answers, and A finds the mix nodes for its paths through capability discovery. Cover
    // traffic is off so that every packet counted below belongs to the messages this test sends.
    devnet = await startDevnet({ nodes: 6, network: { mix: { cover: { strategy: 'none' } } } })
    A = devnet.nodes[1] as LogosNode
    B = devnet.nodes[5] as LogosNode
    await until(async () => ((await A.kernel.call('network', 'mixNodes')) as MixNodeView[]).length >= 5)
  }, 120_000)

  afterAll(async () => { await devnet?.stop() })

  it('A reaches B through 3 mix nodes found by discovery, and gets B\'s reply back through a SURB', async () => {
    // Every node A knows as a mix node advertised its real mix key as the record's service data.
    const known = await A.kernel.call('network', 'mixNodes') as MixNodeView[]
    for (const peer of devnet.peers) {
      if (peer.index === 1) continue
      const info = await devnet.nodes[peer.index]?.kernel.call('network', 'mixInfo') as { publicKey: string }
      expect(known.find(k => k.peerId === peer.peerId)?.publicKey).toBe(info.publicKey)
    }

    await B.kernel.call('network', 'mixHandle', { protocol: '/test/echo/1' })
    const seen: MixMessage[] = []
    const off = B.kernel.subscribe('test', 'network', 'mix:message', (payload) => {
      const m = payload as MixMessage
      seen.push(m)
      B.kernel.call('network', 'mixReply', { id: m.id, data: Uint8Array.from(m.data).reverse() }).catch(() => {})
    })
    const received = async (): Promise<number[]> => await Promise.all(devnet.nodes.map(async n => (await n.kernel.call('network', 'mixInfo') as { stats: { received: number } }).stats.received))
    const relays = [0, 2, 3, 4]
    try {
      const data = randomBytes(1500)
      const before = await received()
      const { data: reply } = await A.kernel.call('network', 'mixRequest', { peerId: devnet.peers[5]?.peerId, protocol: '/test/echo/1', data }, { timeout: 30_000 }) as { data: Uint8Array }
      expect(Buffer.from(reply).equals(Buffer.from(Uint8Array.from(data).reverse()))).toBe(true)
      expect(seen).toHaveLength(1)
      expect(Buffer.from(seen[0]?.data ?? []).equals(data)).toBe(true)
      // Exactly this message's packets: one packet out through 3 distinct mix nodes (the exit hands the message to B
      // over a plain stream), one reply packet back through 2 mix nodes to A. B and A relay nothing.
      const after = await received()
      const delta = after.map((n, i) => n - (before[i] as number))
      expect(delta[5]).toBe(0)
      expect(delta[1]).toBe(1)
      expect(relays.reduce((sum, i) => sum + (delta[i] as number), 0)).toBe(5)
      expect(relays.filter(i => (delta[i] as number) > 0).length).toBeGreaterThanOrEqual(3)

      // Fire and forget works the same way: one packet through 3 distinct mix nodes, nothing back.
      await A.kernel.call('network', 'mixSend', { peerId: devnet.peers[5]?.peerId, protocol: '/test/echo/1', data: Uint8Array.of(42) })
      await until(async () => seen.length === 2, 30_000)
      expect(Array.from(seen[1]?.data ?? [])).toEqual([42])
      const last = await received()
      const sent = last.map((n, i) => n - (after[i] as number))
      expect(sent[1]).toBe(0)
      expect(sent[5]).toBe(0)
      expect(relays.reduce((sum, i) => sum + (sent[i] as number), 0)).toBe(3)
      expect(relays.filter(i => sent[i] === 1)).toHaveLength(3)
    } finally {
      off()
    }
  }, 90_000)

  it('refuses bad parameters and unknown reply ids with typed errors', async () => {
    await expect(A.kernel.call('network', 'mixSend', { protocol: '/x', data: new Uint8Array(1) })).rejects.toMatchObject({ code: 'ERR_NET_PARAMS' })
    await expect(A.kernel.call('network', 'mixReply', { id: 'nope', data: new Uint8Array(1) })).rejects.toMatchObject({ code: 'ERR_MIX_UNKNOWN_REPLY_ID' })
    expect(() => parseMixConfig({ coverr: 1 }, 'server')).toThrow(NetworkConfigError)
    expect(parseMixConfig({ enabled: false }, 'server')).toBeUndefined()
    expect(parseMixConfig({}, 'client')?.cover?.strategy).toBe('none')
  })
})
