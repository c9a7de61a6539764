import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { delay } from '../../../src/common/index.ts'
import { Rln, fieldFromHex, fromBytesLE, loadIdentity, poseidon, resolveResources, serializeProof, toBytesLE } from '../../../src/crypto/rln/index.ts'
import {
  MAX_TIMESTAMP_GAP_MS, WAKU_RLN_IDENTIFIER, autoshard, decodeRateLimitProof, decodeWakuMessage, encodeRateLimitProof,
  encodeWakuMessage, epochOfTimestamp, fromZerokitProof, nsFromMs, proofEpoch, rlnSignal, toZerokitProof
} from '../../../src/net/delivery/index.ts'
import type { WakuMessage } from '../../../src/net/delivery/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'
import { msLeftInEpoch, startTestNet, startTestNode, testRlnConfig } from './harness.ts'
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

function decodeOrUndefined (data: Uint8Array): WakuMessage | undefined {
  try {
    return decodeWakuMessage(data)
  } catch {
    return undefined
  }
}

describe('rate limit', () => {
  it('a second message under one nullifier is rejected and its sender is slashed on every node', async () => {
    const epochSeconds = testRlnConfig().epochPeriodSeconds as number
    const HONEST = 'B, honestly'
    const DOUBLE = 'B, a second time under the same nullifier'
    // A second instance of B's RLN identity with its own (empty) record of used message_ids: the rogue proves the
    // message_id B's node used for the honest message once more. Its record refuses a message_id twice, so each
    // attempt below gets a fresh instance, made (group, proving key, a first proof) before its timestamp is taken.
    const identity = await loadIdentity(join(b.dataDir, 'modules', 'rln', 'identity.json'))
    if (identity === undefined) throw new Error('B has no RLN identity')
    const resources = await resolveResources({ path: testResourcesDir(), download: false })
    const members = await b.call<Array<{ commitment: string, userMessageLimit: number }>>('rln', 'members')
    const limit = Math.max(...members.map(m => m.userMessageLimit))
    const makeRogue = async (): Promise<Rln> => {
      const rln = await Rln.create({ resources, identity, rlnIdentifier: WAKU_RLN_IDENTIFIER, epoch: { periodSeconds: epochSeconds, maxGap: 1 }, rootWindow: 50, workers: 1, lightWorkers: 1 })
      try {
        for (const m of members) rln.group.register(fieldFromHex(m.commitment), m.userMessageLimit)
        // Never published (epoch 0): warms the proving thread up.
        await rln.prove(enc('warm-up'), { epoch: 0n })
      } catch (err) {
        await rln.stop()
        throw err
      }
      return rln
    }
    let rogue = await makeRogue()
    // The honest message as A's relay received it (with its proof), to learn its epoch and nullifier.
    const relayed: Uint8Array[] = []
    const unsubscribe = a.node.kernel.subscribe('test', 'network', 'relay:message', (p) => {
      const m = p as { topic?: unknown, data?: unknown }
      if (m.topic === TOPIC && m.data instanceof Uint8Array) relayed.push(m.data)
    })
    try {
      // Both messages must fall in one epoch: from here, B's send (up to 90 s below) and the rogue's proofs (seconds
      // each, many times that on a loaded machine) must fit in what is left of it; if not, start in the next one.
      if (msLeftInEpoch(epochSeconds) < 180_000) await delay(msLeftInEpoch(epochSeconds) + 1_000)
      const { requestId } = await b.call<{ requestId: string }>('delivery', 'send', { contentTopic: CONTENT, payload: enc(HONEST) })
      await b.waitFor('delivery:message_propagated', p => p.requestId === requestId, 90_000)
      // A relays B's honest message (vi.waitUntil resolves to what the callback found).
      const honest = await vi.waitUntil(() => relayed.map(decodeOrUndefined).find(m => m !== undefined && dec(m.payload) === HONEST), { timeout: 30_000, interval: 100 })
      expect(honest.proof).toBeDefined()
      const honestProof = decodeRateLimitProof(honest.proof as Uint8Array)
      const epoch = proofEpoch(honestProof)
      expect(epochOfTimestamp(honest.timestamp ?? 0n, epochSeconds)).toBe(epoch)
      // The message_id B's node used (the lowest free one, or the next if it proved twice for a slow proof):
      // the one whose nullifier Poseidon(Poseidon(a0, external_nullifier, message_id)) the honest proof carries.
      const nullifier = fromBytesLE(honestProof.nullifier)
      const messageId = Array.from({ length: limit }, (_, i) => i).find(i => poseidon([poseidon([identity.secret, rogue.externalNullifier(epoch), BigInt(i)])]) === nullifier)
      if (messageId === undefined) throw new Error('the honest message\'s nullifier is not B\'s for any message_id')
      // Relays refuse a timestamp more than 20 s off their clock (checked before the proof): as the delivery service
      // does, a proof that took long is made again with a fresh timestamp (by a fresh rogue: see above).
      let double: WakuMessage | undefined
      for (let attempt = 1; double === undefined; attempt++) {
        if (attempt > 1) {
          await rogue.stop()
          rogue = await makeRogue()
        }
        const stampedAt = Date.now()
        const unproven: WakuMessage = { payload: enc(DOUBLE), contentTopic: CONTENT, timestamp: nsFromMs(stampedAt), version: 0 }
        // Same epoch as the honest message, or there is no nullifier clash to detect (the wait above leaves room).
        expect(epochOfTimestamp(unproven.timestamp ?? 0n, epochSeconds)).toBe(epoch)
        const made = await rogue.prove(rlnSignal(unproven), { epoch, messageId })
        if (Date.now() - stampedAt > MAX_TIMESTAMP_GAP_MS / 2) continue
        double = { ...unproven, proof: encodeRateLimitProof(fromZerokitProof(serializeProof(made.proof), made.epoch, toBytesLE(rogue.rlnIdentifier))) }
      }
      const doubleProof = decodeRateLimitProof(double.proof as Uint8Array)
      expect(proofEpoch(doubleProof)).toBe(epoch)
      expect(doubleProof.nullifier).toEqual(honestProof.nullifier)
      await b.call('network', 'relayPublish', { topic: TOPIC, data: encodeWakuMessage(double) })
    } finally {
      unsubscribe()
      await rogue.stop()
    }
    for (const n of [a, c]) {
      const spam = await n.waitFor('delivery:message_rejected', p => p.code === 'ERR_RLN_SPAM_DETECTED', 60_000)
      expect(spam).toMatchObject({ verdict: 'reject', from: b.peerId })
      expect(received(n, DOUBLE)).toBe(false)
    }
    const commitment = (await b.call<{ commitment: string }>('rln', 'identity')).commitment
    // Slashed everywhere: every node, B included, removed B from its group (the evidence travelled as a notice).
    for (const n of [a, b, c]) {
      const end = Date.now() + 60_000
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
  }, 600_000)
})
