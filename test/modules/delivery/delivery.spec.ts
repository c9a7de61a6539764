import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { delay } from '../../../src/common/index.ts'
import { Rln, fieldFromHex, loadIdentity, resolveResources } from '../../../src/crypto/rln/index.ts'
import {
  WAKU_RLN_IDENTIFIER, autoshard, decodeRateLimitProof, encodeRateLimitProof, encodeWakuMessage, fromZerokitProof,
  nsFromMs, proveRlnMessage, rlnRelayOver, rlnSignal, toZerokitProof
} from '../../../src/net/delivery/index.ts'
import type { WakuMessage } from '../../../src/net/delivery/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'
import { msLeftInEpoch, startTestNet, startTestNode } from './harness.ts'
import type { TestNode } from './harness.ts'

/**
 * Three Logos nodes (network + rln + delivery) over TCP on loopback: A is the RLN membership registrar, B and C
 * follow it. Everything goes through kernel calls and events, as an application would use the module.
 */
const CONTENT = '/delivery-test/1/chat/proto'
const TOPIC = autoshard(CONTENT, 1, 8)
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: unknown): string => new TextDecoder().decode(b as Uint8Array)

let baseDir: string
let a: TestNode, b: TestNode, c: TestNode

beforeAll(async () => {
  baseDir = await mkdtemp(join(tmpdir(), 'delivery-module-'))
  ;[a, b, c] = await startTestNet(3, baseDir, { names: ['a', 'b', 'c'] }) as [TestNode, TestNode, TestNode]
  for (const n of [a, b, c]) await n.call('delivery', 'subscribe', { contentTopic: CONTENT })
}, 180_000)

afterAll(async () => {
  await Promise.allSettled([a, b, c].map(async n => { await n?.stop() }))
  await rm(baseDir, { recursive: true, force: true })
})

function received (n: TestNode, text: string): boolean {
  return n.of('delivery:message_received').some(m => dec(m.payload) === text)
}

describe('delivery between three nodes', () => {
  it('shares one RLN membership through the registrar', async () => {
    const groups = await Promise.all([a, b, c].map(async n => await n.call<Array<{ commitment: string }>>('rln', 'members')))
    expect(groups[0]).toHaveLength(3)
    expect(groups[1]).toEqual(groups[0])
    expect(groups[2]).toEqual(groups[0])
    const roots = await Promise.all([a, b, c].map(async n => await n.call<string[]>('rln', 'roots')))
    expect(roots[1]?.at(-1)).toBe(roots[0]?.at(-1))
    expect(roots[2]?.at(-1)).toBe(roots[0]?.at(-1))
  })

  it('a message sent on A arrives on B and C, proven, propagated and confirmed by a store node', { timeout: 150_000 }, async () => {
    const { requestId } = await a.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: enc('hello from A'), meta: Uint8Array.of(1, 2) })
    // The first proof of a node waits for its prover's first precomputation: generous timeouts, the machine is shared.
    const propagated = await a.waitFor('delivery:message_propagated', p => p.requestId === requestId, 90_000)
    expect(propagated.peers).toBe(2)
    const messageHash = propagated.messageHash
    expect(messageHash).toMatch(/^0x[0-9a-f]{64}$/)
    for (const n of [b, c]) {
      const m = await n.waitFor('delivery:message_received', p => p.messageHash === messageHash, 30_000)
      expect(m).toMatchObject({ contentTopic: CONTENT, pubsubTopic: TOPIC, ephemeral: false, meta: Uint8Array.of(1, 2) })
      expect(dec(m.payload)).toBe('hello from A')
      expect(Math.abs((m.timestampMs as number) - Date.now())).toBeLessThan(20_000)
    }
    const sent = await a.waitFor('delivery:message_sent', p => p.requestId === requestId, 30_000)
    expect([b.peerId, c.peerId]).toContain(sent.storePeer)
    expect(a.of('delivery:message_error')).toEqual([])
  })
})

describe('RLN relay validation across the nodes', () => {
  it('rejects a message with a bad proof or a stale timestamp, and penalises the peer that sent it', async () => {
    // A genuine proof from C's rln module for one message, then published with another payload: the proof no
    // longer matches the signal. Straight onto the relay, around C's delivery module, as a misbehaving node would.
    const sentAt = Date.now()
    const good: WakuMessage = { payload: enc('the proven payload'), contentTopic: CONTENT, timestamp: nsFromMs(sentAt), version: 0 }
    const made = await c.call<{ proof: Uint8Array, epoch: string }>('rln', 'prove', { signal: rlnSignal(good) })
    const params = await c.call<{ rlnIdentifier: string }>('rln', 'params')
    const proof = encodeRateLimitProof(fromZerokitProof(made.proof, BigInt(made.epoch), Uint8Array.from(Buffer.from(params.rlnIdentifier, 'hex'))))
    const forged = encodeWakuMessage({ ...good, payload: enc('not what was proven'), proof })
    await c.call('network', 'relayPublish', { topic: TOPIC, data: forged })
    // A timestamp 60 s old: refused before its proof is looked at.
    const stale = encodeWakuMessage({ ...good, payload: enc('stale'), timestamp: nsFromMs(sentAt - 60_000), proof })
    await c.call('network', 'relayPublish', { topic: TOPIC, data: stale })
    for (const n of [a, b]) {
      const bad = await n.waitFor('delivery:message_rejected', p => p.code === 'ERR_RLN_INVALID_PROOF')
      expect(bad).toMatchObject({ verdict: 'reject', from: c.peerId, contentTopic: CONTENT, pubsubTopic: TOPIC })
      const old = await n.waitFor('delivery:message_rejected', p => p.code === 'ERR_DLV_TIMESTAMP')
      expect(old.verdict).toBe('reject')
    }
    await delay(500)
    for (const n of [a, b]) {
      expect(received(n, 'not what was proven')).toBe(false)
      expect(received(n, 'stale')).toBe(false)
    }
    // Gossipsub's P4 penalty: C's score at A fell (the scores are cached for one heartbeat).
    const end = Date.now() + 5_000
    let score = 0
    while (Date.now() < end) {
      score = (await a.call<{ scores: Record<string, number> }>('network', 'relayPeers', { topic: TOPIC })).scores[c.peerId] ?? 0
      if (score < 0) break
      await delay(100)
    }
    expect(score).toBeLessThan(0)
    // The proof itself was fine: the unaltered message is accepted (its nullifier is new).
    await c.call('network', 'relayPublish', { topic: TOPIC, data: encodeWakuMessage({ ...good, proof }) })
    await a.waitFor('delivery:message_received', p => dec(p.payload) === 'the proven payload', 10_000)
    const before = decodeRateLimitProof(proof)
    expect(toZerokitProof(before, made.proof.subarray(160, 192))).toEqual(made.proof)
  }, 150_000)
})

describe('store', () => {
  it('answers store queries from other nodes: by content topic, time and hash, in pages', async () => {
    const q = await a.call<{ messages: Array<{ messageHash: string, message: { payload: Uint8Array } }>, peerId: string }>('delivery', 'storeQuery', { contentTopics: [CONTENT], peerId: b.peerId, forward: true })
    expect(q.peerId).toBe(b.peerId)
    const texts = q.messages.map(m => dec(m.message.payload))
    expect(texts).toContain('hello from A')
    expect(texts).toContain('the proven payload')
    expect(texts).not.toContain('not what was proven')
    const one = await a.call<{ messages: Array<{ messageHash: string }>, cursor?: string }>('delivery', 'storeQuery', { contentTopics: [CONTENT], peerId: b.peerId, limit: 1 })
    expect(one.messages).toHaveLength(1)
    expect(one.cursor).toMatch(/^0x/)
    const byHash = await a.call<{ messages: Array<{ messageHash: string, message?: unknown }> }>('delivery', 'storeQuery', { hashes: [q.messages[0]?.messageHash], peerId: c.peerId, includeData: false })
    expect(byHash.messages).toEqual([{ messageHash: q.messages[0]?.messageHash, message: undefined }])
    await expect(a.call('delivery', 'storeQuery', { contentTopics: ['bad topic'] })).rejects.toMatchObject({ code: 'ERR_DLV_CONTENT_TOPIC' })
  })

  it('keeps its archive across a restart, and a restarted node can send through lightpush', async () => {
    await c.stop()
    c = await startTestNode({ name: 'c', baseDir, bootstrap: a.multiaddrs, registrarKey: (await a.call<{ membership: { registrarKey: string } }>('delivery', 'info')).membership.registrarKey, delivery: { sendVia: 'lightpush' } }, c)
    const local = await c.call<{ messages: Array<{ message: { payload: Uint8Array } }>, peerId: string }>('delivery', 'storeQuery', { contentTopics: [CONTENT], peerId: 'self' })
    expect(local.peerId).toBe('self')
    expect(local.messages.map(m => dec(m.message.payload))).toContain('hello from A')
    await c.call('delivery', 'subscribe', { contentTopic: CONTENT })
    // From A too, once C is back on the relay.
    const end = Date.now() + 30_000
    for (;;) {
      const r = await a.call<{ messages: unknown[] }>('delivery', 'storeQuery', { contentTopics: [CONTENT], peerId: c.peerId }).catch(() => ({ messages: [] }))
      if (r.messages.length > 0) break
      if (Date.now() > end) throw new Error('C does not answer store queries after its restart')
      await delay(250)
    }
    const { requestId } = await c.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: enc('pushed by C after its restart') })
    const propagated = await c.waitFor('delivery:message_propagated', p => p.requestId === requestId, 90_000)
    expect(propagated.peers).toBeGreaterThanOrEqual(1)
    for (const n of [a, b]) await n.waitFor('delivery:message_received', p => dec(p.payload) === 'pushed by C after its restart', 30_000)
  }, 180_000)
})

describe('rate limit', () => {
  it('a second message under one nullifier is rejected and its sender is slashed on every node', async () => {
    // Both messages must fall in one epoch (600 s): start afresh if this one is about to end.
    if (msLeftInEpoch() < 40_000) await delay(msLeftInEpoch() + 500)
    const { requestId } = await b.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: enc('B, honestly') })
    await b.waitFor('delivery:message_propagated', p => p.requestId === requestId, 90_000)
    // A second instance of B's RLN identity, with its own (empty) record of used message_ids: it proves
    // message_id 0 again, which B's node already used for the message above.
    const identity = await loadIdentity(join(b.dataDir, 'modules', 'rln', 'identity.json'))
    expect(identity).toBeDefined()
    const rogue = await Rln.create({ resources: await resolveResources({ path: testResourcesDir(), download: false }), identity, rlnIdentifier: WAKU_RLN_IDENTIFIER, epoch: { periodSeconds: 600, maxGap: 1 }, rootWindow: 50, workers: 1, lightWorkers: 1 })
    try {
      for (const m of await b.call<Array<{ commitment: string, userMessageLimit: number }>>('rln', 'members')) rogue.group.register(fieldFromHex(m.commitment), m.userMessageLimit)
      const double = await proveRlnMessage({ payload: enc('B, a second time under the same nullifier'), contentTopic: CONTENT, timestamp: nsFromMs(Date.now()), version: 0 }, rlnRelayOver(rogue))
      await b.call('network', 'relayPublish', { topic: TOPIC, data: encodeWakuMessage(double) })
    } finally {
      await rogue.stop()
    }
    for (const n of [a, c]) {
      const spam = await n.waitFor('delivery:message_rejected', p => p.code === 'ERR_RLN_SPAM_DETECTED', 20_000)
      expect(spam).toMatchObject({ verdict: 'reject', from: b.peerId })
      expect(received(n, 'B, a second time under the same nullifier')).toBe(false)
    }
    const commitment = (await b.call<{ commitment: string }>('rln', 'identity')).commitment
    // Slashed everywhere: every node, B included, removed B from its group (the evidence travelled as a notice).
    for (const n of [a, b, c]) {
      const end = Date.now() + 20_000
      for (;;) {
        const members = await n.call<Array<{ commitment: string, removed: boolean }>>('rln', 'members')
        if (members.find(m => m.commitment === commitment)?.removed === true) break
        if (Date.now() > end) throw new Error(`${n.name} did not remove B`)
        await delay(200)
      }
    }
    expect(a.of('delivery:member_slashed').some(p => p.commitment === commitment)).toBe(true)
    // B can no longer send.
    const after = await b.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: enc('B after slashing') })
    const err = await b.waitFor('delivery:message_error', p => p.requestId === after.requestId, 30_000)
    expect(err.code).toBe('ERR_DLV_NOT_A_MEMBER')
    // The others still can, against the new root.
    await a.call('delivery', 'send', { contentTopic: CONTENT, payload: enc('A after the slashing') })
    await c.waitFor('delivery:message_received', p => dec(p.payload) === 'A after the slashing', 90_000)
  }, 240_000)
})
