import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { autoshard, encodeWakuMessage, nsFromMs } from '../../../src/net/delivery/index.ts'
import { parseRelayConfig } from '../../../src/modules/network/index.ts'

/** The network module's Waku relay and request/response methods, between two nodes, as other modules use them. */
const MODULE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/modules/network')
const TOPIC = autoshard('/net-test/1/x/proto', 1, 8)

async function boot (dataDir: string, config: Record<string, unknown> = {}): Promise<LogosNode> {
  return await startNode({ dataDir, moduleDirs: [MODULE_DIR], config: { logLevel: 'warn', modules: { network: { config: { mix: { enabled: false }, relay: { heartbeatMs: 300 }, ...config } } } } })
}

async function until (check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

let root: string
let a: LogosNode, b: LogosNode
let aId: string, bId: string
const atB: Array<{ id?: string, topic: string, data: Uint8Array, from: string }> = []
const requests: Array<{ id: string, protocol: string, from: string, data: Uint8Array }> = []

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'logos-net-relay-'))
  a = await boot(join(root, 'a'))
  const info = await a.kernel.call<{ peerId: string, multiaddrs: string[] }>('network', 'info')
  aId = info.peerId
  const addr = info.multiaddrs[0] as string
  b = await boot(join(root, 'b'), { bootstrap: [addr.includes('/p2p/') ? addr : `${addr}/p2p/${aId}`] })
  bId = (await b.kernel.call<{ peerId: string }>('network', 'info')).peerId
  b.kernel.subscribe('test', 'network', 'relay:message', (p) => { atB.push(p as never) })
  b.kernel.subscribe('test', 'network', 'protocol:request', (p) => { requests.push(p as never) })
  await a.kernel.call('network', 'relaySubscribe', { topic: TOPIC })
  await b.kernel.call('network', 'relaySubscribe', { topic: TOPIC, validate: true })
  await until(async () => (await a.kernel.call<{ subscribers: string[] }>('network', 'relayPeers', { topic: TOPIC })).subscribers.includes(bId))
}, 60_000)

afterAll(async () => {
  await Promise.all([a, b].map(async n => { await n?.stop() }))
  await rm(root, { recursive: true, force: true })
})

describe('network module: relay and request methods', () => {
  it('hands a relayed message to the validating module with an id, and takes its verdict', async () => {
    const data = encodeWakuMessage({ payload: Uint8Array.of(1), contentTopic: '/net-test/1/x/proto', timestamp: nsFromMs(Date.now()) })
    const r = await a.kernel.call<{ recipients: number, peers: string[] }>('network', 'relayPublish', { topic: TOPIC, data })
    expect(r).toEqual({ recipients: 1, peers: [bId] })
    await until(async () => atB.length === 1)
    const m = atB[0] as { id: string, topic: string, data: Uint8Array, from: string }
    expect(m).toMatchObject({ topic: TOPIC, data, from: aId })
    expect(m.id).toBeTypeOf('string')
    expect(await b.kernel.call('network', 'relayValidate', { id: m.id, verdict: 'reject' })).toEqual({ found: true })
    expect(await b.kernel.call('network', 'relayValidate', { id: m.id, verdict: 'accept' })).toEqual({ found: false })
    await expect(b.kernel.call('network', 'relayValidate', { id: m.id, verdict: 'maybe' })).rejects.toMatchObject({ code: 'ERR_NET_PARAMS' })
    const info = await b.kernel.call<{ stats: { rejected: number }, topics: string[] }>('network', 'relayInfo')
    expect(info.stats.rejected).toBe(1)
    expect(info.topics).toContain(TOPIC)
    await expect(a.kernel.call('network', 'relayPublish', { topic: TOPIC, data: Uint8Array.of(1, 2) })).rejects.toMatchObject({ code: 'ERR_DLV_DECODE' })
  })

  it('serves a request/response protocol for a module, and answers nothing to an unknown one', async () => {
    await b.kernel.call('network', 'handleProtocol', { protocol: '/test/echo/1' })
    const reply = a.kernel.call<{ data: Uint8Array }>('network', 'request', { peerId: bId, protocol: '/test/echo/1', data: Uint8Array.of(7, 8) })
    await until(async () => requests.length === 1)
    const req = requests[0] as { id: string, protocol: string, from: string, data: Uint8Array }
    expect(req).toMatchObject({ protocol: '/test/echo/1', from: aId, data: Uint8Array.of(7, 8) })
    expect(await b.kernel.call('network', 'respond', { id: req.id, data: Uint8Array.of(9) })).toEqual({ found: true })
    expect((await reply).data).toEqual(Uint8Array.of(9))
    await expect(a.kernel.call('network', 'request', { peerId: bId, protocol: '/test/none/1', data: Uint8Array.of(1) })).rejects.toMatchObject({ code: 'ERR_DLV_REQUEST_FAILED' })
    await b.kernel.call('network', 'unhandleProtocol', { protocol: '/test/echo/1' })
    await expect(a.kernel.call('network', 'request', { peerId: bId, protocol: '/test/echo/1', data: Uint8Array.of(1) })).rejects.toMatchObject({ code: 'ERR_DLV_REQUEST_FAILED' })
    await expect(a.kernel.call('network', 'request', { protocol: '/test/echo/1', data: Uint8Array.of(1) })).rejects.toMatchObject({ code: 'ERR_NET_PARAMS' })
  })

  it('parses the relay configuration strictly', () => {
    expect(parseRelayConfig(undefined)).toEqual({})
    expect(parseRelayConfig({ enabled: false })).toBeUndefined()
    expect(parseRelayConfig({ heartbeatMs: 200, validationTimeoutMs: 1000 })).toEqual({ gossipsub: { heartbeatInterval: 200 }, validationTimeoutMs: 1000 })
    expect(() => parseRelayConfig({ nope: 1 })).toThrow(/unknown relay option/)
    expect(() => parseRelayConfig({ heartbeatMs: -1 })).toThrow(/positive/)
    expect(() => parseRelayConfig([])).toThrow(/object/)
  })
})
