import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { parseNetworkConfig } from '../../../src/modules/network/index.ts'

const MODULE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/modules/network')
const DISCOVERY = { ipSimilarityWeight: 0, maintenanceIntervalMs: 1000 }

async function boot (dataDir: string, config: Record<string, unknown> = {}): Promise<LogosNode> {
  return await startNode({ dataDir, moduleDirs: [MODULE_DIR], config: { logLevel: 'warn', modules: { network: { config: { discovery: DISCOVERY, ...config } } } } })
}

async function until (check: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

interface Info { peerId: string, multiaddrs: string[] }

describe('network module', () => {
  let root: string
  const nodes: LogosNode[] = []

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'logos-network-'))
    nodes.push(await boot(join(root, 'a')))
    const a = await nodes[0]?.kernel.call('network', 'info') as Info
    const bootstrap = [a.multiaddrs[0] as string]
    nodes.push(...await Promise.all([boot(join(root, 'b'), { bootstrap }), boot(join(root, 'c'), { bootstrap })]))
    await until(async () => {
      const s = await Promise.all(nodes.map(async n => await n.kernel.call('network', 'status') as { discoveryPeers: number }))
      return s.every(x => x.discoveryPeers >= 2)
    })
  }, 60_000)

  afterAll(async () => {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await rm(root, { recursive: true, force: true })
  })

  it('owns a js-libp2p node with a persistent identity in its data directory', async () => {
    const dir = join(root, 'persist')
    const first = await boot(dir)
    const id1 = (await first.kernel.call('network', 'info') as Info).peerId
    await first.stop()
    expect((await stat(join(dir, 'modules', 'network', 'peer-key'))).mode & 0o777).toBe(0o600)
    const second = await boot(dir)
    const info = await second.kernel.call('network', 'info') as Info & { mode: string }
    await second.stop()
    expect(info.peerId).toBe(id1)
    expect(info.mode).toBe('server')
    expect(info.multiaddrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
  }, 30_000)

  it('advertises a capability with data and finds its providers, with provider:found events', async () => {
    const [a, b, c] = nodes as [LogosNode, LogosNode, LogosNode]
    const key = new Uint8Array(32).fill(5)
    await b.kernel.call('network', 'advertise', { protocol: '/test/mix/1.0.0', data: key })
    await c.kernel.call('network', 'advertise', { protocol: '/test/mix/1.0.0', data: key })
    const events: Array<{ peerId: string, protocol: string }> = []
    const off = a.kernel.subscribe('test', 'network', 'provider:found', (p) => { events.push(p as { peerId: string, protocol: string }) })
    const bId = (await b.kernel.call('network', 'info') as Info).peerId
    const cId = (await c.kernel.call('network', 'info') as Info).peerId
    let found: Array<{ peerId: string, data: Uint8Array, protocol: string, multiaddrs: string[], seq: string }> = []
    await until(async () => {
      found = await a.kernel.call('network', 'findProviders', { protocol: '/test/mix/1.0.0' }) as typeof found
      return found.length === 2
    })
    off()
    expect(new Set(found.map(f => f.peerId))).toEqual(new Set([bId, cId]))
    expect(found.every(f => f.data.length === 32 && f.data[0] === 5 && f.protocol === '/test/mix/1.0.0' && f.multiaddrs.length > 0)).toBe(true)
    expect(BigInt(found[0]?.seq ?? '0')).toBeGreaterThan(0n)
    expect(new Set(events.map(e => e.peerId))).toEqual(new Set([bId, cId]))

    await b.kernel.call('network', 'stopAdvertising', { protocol: '/test/mix/1.0.0' })
    await expect(b.kernel.call('network', 'advertise', { protocol: '/test/big/1.0.0', data: new Uint8Array(34) })).rejects.toMatchObject({ code: 'ERR_DISC_SERVICE_DATA_TOO_LARGE' })
    await expect(b.kernel.call('network', 'advertise', {})).rejects.toMatchObject({ code: 'ERR_NET_PARAMS' })
  }, 60_000)

  it('carries gossipsub messages between modules of different nodes', async () => {
    const [a, b] = nodes as [LogosNode, LogosNode]
    const got: Array<{ topic: string, data: Uint8Array, from: string }> = []
    b.kernel.subscribe('test', 'network', 'pubsub:message', (m) => { got.push(m as { topic: string, data: Uint8Array, from: string }) })
    await a.kernel.call('network', 'subscribe', { topic: 'logos/test' })
    await b.kernel.call('network', 'subscribe', { topic: 'logos/test' })
    const aId = (await a.kernel.call('network', 'info') as Info).peerId
    await until(async () => (await a.kernel.call('network', 'subscribers', { topic: 'logos/test' }) as string[]).length > 0)
    await until(async () => {
      await a.kernel.call('network', 'publish', { topic: 'logos/test', data: new TextEncoder().encode('hello') })
      return got.length > 0
    })
    expect(got[0]?.topic).toBe('logos/test')
    expect(new TextDecoder().decode(got[0]?.data)).toBe('hello')
    expect(got[0]?.from).toBe(aId)
  }, 60_000)

  it('lists peers, connects by multiaddr and reports dial failures with a typed error', async () => {
    const [a, b] = nodes as [LogosNode, LogosNode]
    const peers = await a.kernel.call('network', 'peers') as Array<{ peerId: string }>
    expect(peers.length).toBeGreaterThanOrEqual(2)
    const bInfo = await b.kernel.call('network', 'info') as Info
    expect(await a.kernel.call('network', 'connect', { multiaddr: bInfo.multiaddrs[0] })).toEqual({ peerId: bInfo.peerId })
    const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await expect(a.kernel.call('network', 'connect', { multiaddr: '/ip4/127.0.0.1/tcp/1/p2p/' + nobody })).rejects.toMatchObject({ code: 'ERR_NET_DIAL_FAILED' })
  }, 30_000)

  it('refuses a malformed configuration, naming the field', () => {
    expect(() => parseNetworkConfig({ listen: ['not a multiaddr'] })).toThrow(/listen/)
    expect(() => parseNetworkConfig({ mode: 'relay' })).toThrow(/mode/)
    expect(() => parseNetworkConfig({ discovery: { kRegisterX: 1 } })).toThrow(/kRegisterX/)
    expect(parseNetworkConfig({}).listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
  })
})
