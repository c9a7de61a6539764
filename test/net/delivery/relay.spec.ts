import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../../src/common/index.ts'
import {
  DeliveryLightpushError, MessageArchive, autoshard, encodeWakuMessage, hashHex, messageHash, nsFromMs, wakuLightpush,
  wakuRelay, wakuStore
} from '../../../src/net/delivery/index.ts'
import type { RelayRejection, RelayedMessage, WakuLightpush, WakuMessage, WakuRelay, WakuStore } from '../../../src/net/delivery/index.ts'
import { loopbackTcp } from '../loopback.ts'

type Node = Libp2p<{ identify: unknown, relay: WakuRelay, store: WakuStore, lightpush: WakuLightpush }>

const CLUSTER = 1
const SHARDS = 8
const CONTENT = '/relay-test/1/chat/proto'
const TOPIC = autoshard(CONTENT, CLUSTER, SHARDS)

let dir: string
const nodes: Node[] = []
const got = new Map<string, RelayedMessage[]>()
const rejected: RelayRejection[] = []

async function makeNode (name: string): Promise<Node> {
  const node = await createLibp2p({
    ...loopbackTcp(),
    services: {
      identify: identify(),
      relay: wakuRelay({ gossipsub: { heartbeatInterval: 300 } }),
      store: wakuStore({ path: join(dir, `${name}.sqlite`) }),
      lightpush: wakuLightpush({ pubsubTopicOf: (m) => autoshard(m.contentTopic, CLUSTER, SHARDS) })
    }
  }) as unknown as Node
  const list: RelayedMessage[] = []
  got.set(name, list)
  node.services.relay.addEventListener('message', (e) => { list.push(e.detail) })
  node.services.relay.addEventListener('rejected', (e) => { rejected.push(e.detail) })
  node.services.relay.subscribe(TOPIC)
  nodes.push(node)
  return node
}

function message (text: string, extra: Partial<WakuMessage> = {}): WakuMessage {
  return { payload: new TextEncoder().encode(text), contentTopic: CONTENT, timestamp: nsFromMs(Date.now()), ...extra }
}

const texts = (name: string): string[] => (got.get(name) ?? []).map(m => new TextDecoder().decode(m.message?.payload))

let a: Node, b: Node, c: Node

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'delivery-relay-'))
  a = await makeNode('a')
  b = await makeNode('b')
  c = await makeNode('c')
  // A line: A - B - C, so what reaches C from A was validated and forwarded by B.
  await a.dial(b.getMultiaddrs()[0] as never)
  await c.dial(b.getMultiaddrs()[0] as never)
  // B holds back anything whose payload starts with "bad", and every message for 200 ms: C must not see a message
  // before B's validator accepted it.
  b.services.relay.setValidator(TOPIC, async (m) => {
    await new Promise(resolve => setTimeout(resolve, 200))
    return new TextDecoder().decode(m.message?.payload).startsWith('bad') ? 'reject' : 'accept'
  })
  await waitFor(() => b.services.relay.getMeshPeers(TOPIC).length === 2 && a.services.relay.getMeshPeers(TOPIC).length === 1 && c.services.relay.getMeshPeers(TOPIC).length === 1, { timeoutMs: 20_000, intervalMs: 100 })
}, 60_000)

afterAll(async () => {
  for (const n of nodes) await Promise.resolve(n.stop()).catch(() => {})
  await rm(dir, { recursive: true, force: true })
})

describe('Waku relay over real TCP', () => {
  it('speaks /vac/waku/relay/2.0.0, unsigned, and forwards only after the validator accepted', async () => {
    expect(b.services.relay.engine.protocols).toEqual(['/vac/waku/relay/2.0.0'])
    const sent = Date.now()
    const r = await a.services.relay.publish(TOPIC, encodeWakuMessage(message('hello C')))
    expect(r.recipients).toEqual([b.peerId.toString()])
    await waitFor(() => texts('c').includes('hello C'), { timeoutMs: 10_000 })
    expect(Date.now() - sent).toBeGreaterThanOrEqual(190)
    expect(texts('b')).toContain('hello C')
    const atC = got.get('c')?.find(m => new TextDecoder().decode(m.message?.payload) === 'hello C')
    expect(atC?.from).toBe(b.peerId.toString())
    expect(atC?.msgId).toMatch(/^[0-9a-f]{64}$/)
  })

  it('drops what the validator rejects, penalises the peer that sent it, and lets it recover', async () => {
    const before = b.services.relay.stats.rejected
    await a.services.relay.publish(TOPIC, encodeWakuMessage(message('bad one')))
    await waitFor(() => b.services.relay.stats.rejected === before + 1, { timeoutMs: 10_000 })
    // One invalid message costs -100 (P4), halving every second: poll often, the score is cached for a heartbeat.
    await waitFor(() => b.services.relay.getScore(a.peerId.toString()) < -1, { timeoutMs: 3_000, intervalMs: 10 })
    await new Promise(resolve => setTimeout(resolve, 800))
    expect(texts('c')).not.toContain('bad one')
    // P4 decays (0.5 per second): the penalty fades.
    await waitFor(() => b.services.relay.getScore(a.peerId.toString()) > -1, { timeoutMs: 15_000, intervalMs: 250 })
  })

  it('refuses malformed and oversized messages before any validator, with a typed reason', async () => {
    // Around the relay's own checks: straight into gossipsub, as a misbehaving peer would.
    await a.services.relay.engine.publish(TOPIC, Uint8Array.of(0x0a, 0x05, 1))
    await a.services.relay.engine.publish(TOPIC, encodeWakuMessage(message('x'.repeat(160 * 1024))))
    await a.services.relay.engine.publish(TOPIC, encodeWakuMessage(message('meta', { meta: new Uint8Array(65) })))
    await waitFor(() => rejected.length >= 3, { timeoutMs: 10_000 })
    expect(rejected.map(r => r.code).sort()).toEqual(['ERR_DLV_DECODE', 'ERR_DLV_INVALID_MESSAGE', 'ERR_DLV_MESSAGE_TOO_LARGE'])
    expect(rejected.every(r => r.verdict === 'reject' && r.from === a.peerId.toString())).toBe(true)
    await expect(a.services.relay.publish(TOPIC, Uint8Array.of(1, 2, 3))).rejects.toMatchObject({ code: 'ERR_DLV_DECODE' })
    await waitFor(() => b.services.relay.getScore(a.peerId.toString()) > -1, { timeoutMs: 20_000, intervalMs: 250 })
  })
})

describe('store v3', () => {
  it('archives relayed messages and answers queries by content topic, time and hash, page by page', async () => {
    const sent: WakuMessage[] = []
    const base = Date.now()
    for (let i = 0; i < 5; i++) {
      const m = message(`stored ${i}`, { timestamp: nsFromMs(base + i) })
      sent.push(m)
      await a.services.relay.publish(TOPIC, encodeWakuMessage(m))
    }
    await a.services.relay.publish(TOPIC, encodeWakuMessage(message('ephemeral', { ephemeral: true })))
    await waitFor(() => texts('c').includes('stored 4') && texts('c').includes('ephemeral'), { timeoutMs: 10_000 })
    const archive = c.services.store.archive
    const pages: string[][] = []
    for await (const page of a.services.store.queryAll(b.peerId, { pubsubTopic: TOPIC, contentTopics: [CONTENT], timeStart: nsFromMs(base), paginationLimit: 2, paginationForward: true })) {
      pages.push(page.map(e => new TextDecoder().decode(e.message?.payload)))
    }
    expect(pages).toEqual([['stored 0', 'stored 1'], ['stored 2', 'stored 3'], ['stored 4']])
    const backward: string[][] = []
    for await (const page of a.services.store.queryAll(b.peerId, { pubsubTopic: TOPIC, contentTopics: [CONTENT], timeStart: nsFromMs(base), paginationLimit: 2 })) {
      backward.push(page.map(e => new TextDecoder().decode(e.message?.payload)))
    }
    expect(backward).toEqual([['stored 3', 'stored 4'], ['stored 1', 'stored 2'], ['stored 0']])
    const hashes = sent.map(m => messageHash(TOPIC, m))
    const lookup = await a.services.store.query(b.peerId, { messageHashes: [hashes[1] as Uint8Array, hashes[3] as Uint8Array, new Uint8Array(32)], includeData: false })
    expect(lookup.messages.map(e => hashHex(e.messageHash))).toEqual([hashHex(hashes[1] as Uint8Array), hashHex(hashes[3] as Uint8Array)])
    expect(lookup.messages[0]?.message).toBeUndefined()
    expect(archive.count).toBeGreaterThanOrEqual(6)
    // Time range: [start, end) in ns.
    const ranged = await a.services.store.query(b.peerId, { pubsubTopic: TOPIC, contentTopics: [CONTENT], timeStart: nsFromMs(base + 1), timeEnd: nsFromMs(base + 3), paginationForward: true })
    expect(ranged.messages.map(e => new TextDecoder().decode(e.message?.payload))).toEqual(['stored 1', 'stored 2'])
  })

  it('answers bad queries with 400, and keeps its archive across a restart', async () => {
    await expect(a.services.store.query(b.peerId, { pubsubTopic: TOPIC, messageHashes: [new Uint8Array(32)] })).rejects.toMatchObject({ code: 'ERR_DLV_STORE_QUERY', data: { status: 400 } })
    await expect(a.services.store.query(b.peerId, { pubsubTopic: TOPIC })).rejects.toMatchObject({ data: { status: 400 } })
    await expect(a.services.store.query(b.peerId, { paginationCursor: new Uint8Array(32).fill(5) })).rejects.toMatchObject({ data: { status: 400 } })
    const path = join(dir, 'c.sqlite')
    const before = c.services.store.archive.count
    const reopened = new MessageArchive(path)
    try {
      expect(reopened.count).toBe(before)
      const page = reopened.query({ pubsubTopic: TOPIC, contentTopics: [CONTENT], forward: true, limit: 100 })
      expect(page.messages.map(m => new TextDecoder().decode(m.message.payload))).toContain('stored 4')
      expect(page.messages.map(m => new TextDecoder().decode(m.message.payload))).not.toContain('ephemeral')
    } finally {
      reopened.close()
    }
  })
})

describe('lightpush v3', () => {
  it('relays a pushed message through the service node, after its validator', async () => {
    const r = await c.services.lightpush.push(b.peerId, message('pushed by C'))
    expect(r.statusCode).toBe(200)
    expect(r.relayPeerCount).toBeGreaterThanOrEqual(1)
    await waitFor(() => texts('a').includes('pushed by C'), { timeoutMs: 10_000 })
  })

  it('answers a refused push with its status: 400 for a rejected message, 421 for a foreign topic', async () => {
    const err = await c.services.lightpush.push(b.peerId, message('bad push')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DeliveryLightpushError)
    expect((err as DeliveryLightpushError).data.status).toBe(400)
    const foreign = await c.services.lightpush.push(b.peerId, message('x', { contentTopic: 'not a topic' })).catch((e: unknown) => e)
    expect((foreign as DeliveryLightpushError).data.status).toBe(421)
    expect(texts('a')).not.toContain('bad push')
  })
})
