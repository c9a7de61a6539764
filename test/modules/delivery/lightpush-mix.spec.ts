import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { delay } from '../../../src/common/index.ts'
import { DEVNET_DISCOVERY, DEVNET_MIX } from '../../../src/apps/devnet/index.ts'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { startTestNode } from './harness.ts'
import type { TestNode } from './harness.ts'

/**
 * Lightpush through the mixnet: A (the sender) and S (a lightpush service node) run delivery; four more nodes run
 * only the network module and serve as mix nodes. A's request rides a Sphinx packet through three of them; the exit
 * opens a lightpush stream to S; S validates, relays, and its answer returns through a SURB. RLN is off here (its
 * proofs are tested elsewhere); the path is what this test is about.
 */
const CONTENT = '/mix-push-test/1/chat/proto'
const MIX = { ...DEVNET_MIX }
let baseDir: string
const mixNodes: LogosNode[] = []
let a: TestNode, s: TestNode

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'delivery-mix-'))
  const network = (bootstrap: string[]): Record<string, unknown> => ({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap, mix: MIX, discovery: DEVNET_DISCOVERY })
  const first = await startNode({ dataDir: join(baseDir, 'm0'), only: ['network'], packages: false, config: { logLevel: 'warn', modules: { network: { config: network([]) } } } })
  mixNodes.push(first)
  const info = await first.kernel.call<{ peerId: string, multiaddrs: string[] }>('network', 'info')
  const boot = info.multiaddrs.map(m => m.includes('/p2p/') ? m : `${m}/p2p/${info.peerId}`)
  mixNodes.push(...await Promise.all([1, 2, 3].map(async i => await startNode({ dataDir: join(baseDir, `m${i}`), only: ['network'], packages: false, config: { logLevel: 'warn', modules: { network: { config: network(boot) } } } }))))
  s = await startTestNode({ name: 's', baseDir, rln: false, bootstrap: boot, network: { mix: MIX, discovery: DEVNET_DISCOVERY } })
  a = await startTestNode({ name: 'a', baseDir, rln: false, bootstrap: boot, network: { mix: MIX, discovery: DEVNET_DISCOVERY }, delivery: { sendVia: 'lightpush-mix', lightpushPeer: s.peerId } })
  await s.call('delivery', 'subscribe', { contentTopic: CONTENT })
  const end = Date.now() + 90_000
  for (;;) {
    const known = await a.call<unknown[]>('network', 'mixNodes')
    const relays = await s.call<{ relayPeers: number }>('delivery', 'health')
    if (known.length >= 5 && relays.relayPeers >= 1) break
    if (Date.now() > end) throw new Error(`A knows ${known.length} mix nodes`)
    await delay(250)
  }
}, 150_000)

afterAll(async () => {
  await Promise.allSettled([a?.stop(), s?.stop(), ...mixNodes.map(async n => { await n.stop() })])
  await rm(baseDir, { recursive: true, force: true })
})

describe('lightpush through the mixnet', () => {
  it('reaches the service node through an exit node, not from the sender, and the answer comes back', async () => {
    const { requestId } = await a.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: new TextEncoder().encode('anonymous push') })
    const propagated = await a.waitFor('delivery:message_propagated', p => p.requestId === requestId, 60_000)
    expect(propagated.peers).toBeGreaterThanOrEqual(1)
    const got = await s.waitFor('delivery:message_received', p => new TextDecoder().decode(p.payload as Uint8Array) === 'anonymous push', 30_000)
    // S took the request from the exit node of the mix path: one of the mix-only nodes, not A.
    const mixIds = await Promise.all(mixNodes.map(async n => (await n.kernel.call<{ peerId: string }>('network', 'info')).peerId))
    expect(got.from).not.toBe(a.peerId)
    expect(mixIds).toContain(got.from)
    expect(a.of('delivery:message_error')).toEqual([])
  }, 90_000)
})
