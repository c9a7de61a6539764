import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  HIDDEN_DEFAULTS, HiddenRequestTimeoutError, MSG, dh, encodeEstablishIntro, encodeIntroduce, generateDhKey,
  generateSigningKey, sealIntroduce
} from '../../../src/net/mix-hidden/index.ts'
import type { HiddenMixTransport, HostedService } from '../../../src/net/mix-hidden/index.ts'
import type { MixNodeInfo } from '../../../src/net/mix/index.ts'
import { startHiddenNet, waitUntil } from './helpers.ts'
import type { HiddenNet, HiddenNode } from './helpers.ts'

const CODEC = HIDDEN_DEFAULTS.HIDDEN_SERVICES_CODEC

/** What each node does wrong when armed: the test turns misbehaviour on and off per node. */
const armed = { replayIntroduce2: new Set<number>(), tamperIntroduce2: new Set<number>(), tamperRendezvous: new Set<number>(), losePublish: new Set<number>(), losePublishAck: new Set<number>() }
/** Discovery keys whose first publish each node lost already (a node loses one copy per key: one per epoch published). */
const lost = new Set<string>()
/** Introduce1 messages that reached each node's hidden-service layer as an exit (what the mixnet did not lose). */
const introduce1Arrived = new Map<number, number>()

/**
 * A node's view of its mix service with hooks for a misbehaving introduction point or rendezvous node: it can send
 * an Introduce2 it forwarded once more through a fresh intro-SURB the service sends it, flip a bit of an Introduce2
 * it forwards, flip a bit of a Rendezvous payload it relays, or, as a directory, lose the first copy of a descriptor
 * it is sent, or the answer to the next one it stores (as a lost packet would).
 */
function misbehaving (inner: HiddenMixTransport, i: number): HiddenMixTransport {
  let saved: Uint8Array | undefined
  return {
    knownNodes: () => inner.knownNodes(),
    unhandleInternal: (codec) => { inner.unhandleInternal(codec) },
    sendToExit: async (exit, codec, data, options) => { await inner.sendToExit(exit, codec, data, options) },
    createSurbs: (count, options) => inner.createSurbs(count, options),
    dropSurbs: (group) => { inner.dropSurbs(group) },
    handleInternal: (codec, handler) => {
      inner.handleInternal(codec, async (msg) => {
        if (msg.data[0] === MSG.introduce1) introduce1Arrived.set(i, (introduce1Arrived.get(i) ?? 0) + 1)
        if (armed.losePublish.has(i) && msg.data[0] === MSG.publishDescriptor) {
          const key = `${i}:${Buffer.from(msg.data.subarray(1, 33)).toString('hex')}`
          if (!lost.has(key)) {
            lost.add(key)
            return
          }
        }
        if (armed.replayIntroduce2.has(i) && msg.data[0] === MSG.introSurbs && saved !== undefined && msg.surbs.length > 1) {
          // Keep one of the fresh intro-SURBs for the replay (and out of the introduction point's own supply).
          const again = saved
          saved = undefined
          await inner.sendViaSurb(msg.surbs[msg.surbs.length - 1] as Uint8Array, again)
          await handler({ ...msg, surbs: msg.surbs.slice(0, -1) })
          return
        }
        if (armed.tamperRendezvous.has(i) && msg.data[0] === MSG.rendezvous) {
          const data = Uint8Array.from(msg.data)
          data[1 + 734 + 100] = (data[1 + 734 + 100] as number) ^ 0x04
          await handler({ ...msg, data })
          return
        }
        await handler(msg)
      })
    },
    sendViaSurb: async (surb, message, options) => {
      if (message[0] === MSG.publishAck && armed.losePublishAck.delete(i)) return
      if (message[0] === MSG.introduce2) {
        if (armed.replayIntroduce2.has(i)) saved = Uint8Array.from(message)
        if (armed.tamperIntroduce2.has(i)) {
          const m = Uint8Array.from(message)
          m[1 + 32 + 32 + 2 + 5] = (m[1 + 32 + 32 + 2 + 5] as number) ^ 1
          await inner.sendViaSurb(surb, m, options)
          return
        }
      }
      await inner.sendViaSurb(surb, message, options)
    }
  }
}

let net: HiddenNet
let C: HiddenNode
let S: HiddenNode
let X: HiddenNode
let service: HostedService
const everyone = [0, 1, 2, 3, 4, 5, 6]

const infoOf = (n: HiddenNode): MixNodeInfo => ({ peerId: n.peerId, multiaddrs: n.getMultiaddrs(), mixPublicKey: n.services.mix.publicKey })
const rejected = (n: HiddenNode, code: string): number => n.services.hidden.getStats().rejected[code] ?? 0
const counter = (n: HiddenNode, name: string): number => n.services.hidden.getStats().counters[name] ?? 0

beforeAll(async () => {
  net = await startHiddenNet(7, { wrap: misbehaving })
  C = net.nodes[0] as HiddenNode
  X = net.nodes[3] as HiddenNode
  S = net.nodes[6] as HiddenNode
  service = await S.services.hidden.host({ protocol: '/test/adv/1', handler: () => Uint8Array.of(1) })
}, 60_000)

afterAll(async () => { await net?.stop() })

describe('introduction points refuse what hs 7.2 and 9.3 say they must', () => {
  it('an EstablishIntro whose auth_mac was made for another exit, and a second one for the same auth_key', async () => {
    const auth = generateSigningKey().key
    const before = { auth: rejected(X, 'ERR_HS_INTRO_AUTH'), dup: rejected(X, 'ERR_HS_INTRO_DUPLICATE') }
    // As if replayed from another introduction point: MAC'd under a secret X does not share.
    await C.services.mix.sendToExit(infoOf(X), CODEC, encodeEstablishIntro(auth, 4, randomBytes(32)))
    await waitUntil(() => rejected(X, 'ERR_HS_INTRO_AUTH') === before.auth + 1)
    const acks: Uint8Array[] = []
    const surbs = C.services.mix.createSurbs(2, { group: 'est', exclude: [X.peerId], onReply: (m) => { acks.push(m) } })
    await C.services.mix.sendToExit(infoOf(X), CODEC, (s) => encodeEstablishIntro(auth, 4, s), { surbs })
    await waitUntil(() => acks.length === 1)
    expect(Array.from(acks[0]?.subarray(0, 2) ?? [])).toEqual([MSG.introEstablished, 0])
    await C.services.mix.sendToExit(infoOf(X), CODEC, (s) => encodeEstablishIntro(auth, 4, s))
    await waitUntil(() => rejected(X, 'ERR_HS_INTRO_DUPLICATE') === before.dup + 1)
  })

  it('an Introduce1 for an auth_key it does not serve; a flood beyond its intro-SURBs and its rate limit', async () => {
    // C registers an auth_key of its own at X, with 4 intro-SURBs leading back to C.
    const auth = generateSigningKey().key
    const service = generateDhKey()
    const forwarded: Uint8Array[] = []
    let established = false
    const surbs = C.services.mix.createSurbs(5, { group: 'flood', ttlMs: 60_000, exclude: [X.peerId], onReply: (m) => { if (m[0] === MSG.introEstablished) established = true; else forwarded.push(m) } })
    await C.services.mix.sendToExit(infoOf(X), CODEC, (s) => encodeEstablishIntro(auth, 4, s), { surbs })
    await waitUntil(() => established)
    const introduce = (authKey: Uint8Array): Uint8Array => {
      const client = generateDhKey()
      return encodeIntroduce(MSG.introduce1, sealIntroduce(authKey, client.publicKey, dh(client.privateKey, service.publicKey), { appData: randomBytes(10), clientSurbs: [] }))
    }
    const unknownBefore = rejected(X, 'ERR_HS_UNKNOWN_INTRO')
    await C.services.mix.sendToExit(infoOf(X), CODEC, introduce(generateSigningKey().key.publicKey))
    await waitUntil(() => rejected(X, 'ERR_HS_UNKNOWN_INTRO') === unknownBefore + 1)
    // 200 introductions at once: 4 go through (one intro-SURB each), the rest of the burst of 20 (and what the bucket
    // refills while they arrive, 10 per second) find no intro-SURB, and the others are over the rate limit. Every one
    // that reaches X is accounted for by exactly one of the three; the mixnet itself may lose a few on the way (it is
    // fire-and-forget), so the count is of what arrived, and the relays' own drop counts are in the failure message.
    const arrived = (): number => introduce1Arrived.get(3) ?? 0
    const before = { arrived: arrived(), fwd: counter(X, 'introductionsForwarded'), none: rejected(X, 'ERR_HS_NO_INTRO_SURB'), rate: rejected(X, 'ERR_HS_RATE_LIMITED') }
    const outcomes = (): number => counter(X, 'introductionsForwarded') + rejected(X, 'ERR_HS_NO_INTRO_SURB') + rejected(X, 'ERR_HS_RATE_LIMITED') - before.fwd - before.none - before.rate
    await Promise.all(Array.from({ length: 200 }, async () => { await C.services.mix.sendToExit(infoOf(X), CODEC, introduce(auth.publicKey)) }))
    await waitUntil(() => arrived() - before.arrived === 200, 10_000).catch(() => {})
    await waitUntil(() => outcomes() === arrived() - before.arrived)
    const relayDrops = net.nodes.map(n => n.services.mix.getStats().rejected)
    expect(arrived() - before.arrived, `arrived at X; drops by relay: ${JSON.stringify(relayDrops)}`).toBeGreaterThanOrEqual(190)
    expect(counter(X, 'introductionsForwarded') - before.fwd).toBe(4)
    expect(rejected(X, 'ERR_HS_NO_INTRO_SURB') - before.none).toBeGreaterThanOrEqual(16)
    expect(rejected(X, 'ERR_HS_RATE_LIMITED') - before.rate).toBeGreaterThanOrEqual(1)
    await waitUntil(() => forwarded.length === 4)
    expect(forwarded.every(m => m[0] === MSG.introduce2)).toBe(true)
  })
})

describe('the service and the session refuse what a misbehaving relay does', () => {
  it('an introduction point that replays an Introduce2 through another intro-SURB: the service\'s replay cache drops it', async () => {
    for (const i of everyone) armed.replayIntroduce2.add(i)
    try {
      const before = rejected(S, 'ERR_HS_REPLAY')
      expect(Array.from(await C.services.hidden.request(service.address, '/test/adv/1', new Uint8Array(0)))).toEqual([1])
      // The service refills the introduction point after the Introduce2; the introduction point uses that SURB to
      // send the same Introduce2 again.
      await waitUntil(() => rejected(S, 'ERR_HS_REPLAY') === before + 1)
      expect(service.stats.introductions).toBe(1)
    } finally {
      armed.replayIntroduce2.clear()
      C.services.hidden.disconnect(service.address)
    }
  })

  it('an introduction point that alters an Introduce2: the MAC fails at the service', async () => {
    for (const i of everyone) armed.tamperIntroduce2.add(i)
    try {
      const before = rejected(S, 'ERR_HS_INTRO_MAC')
      await expect(C.services.hidden.request(service.address, '/test/adv/1', new Uint8Array(0), { timeoutMs: 3000 })).rejects.toThrow(HiddenRequestTimeoutError)
      await waitUntil(() => rejected(S, 'ERR_HS_INTRO_MAC') > before)
    } finally {
      armed.tamperIntroduce2.clear()
    }
  })

  it('a rendezvous node that alters a payload: the integrity check fails at the receiving end', async () => {
    expect(Array.from(await C.services.hidden.request(service.address, '/test/adv/1', new Uint8Array(0)))).toEqual([1])
    for (const i of everyone) armed.tamperRendezvous.add(i)
    try {
      const before = rejected(S, 'ERR_HS_RENDEZVOUS_INTEGRITY') + rejected(C, 'ERR_HS_RENDEZVOUS_INTEGRITY')
      await expect(C.services.hidden.request(service.address, '/test/adv/1', new Uint8Array(0), { timeoutMs: 3000 })).rejects.toThrow(HiddenRequestTimeoutError)
      await waitUntil(() => rejected(S, 'ERR_HS_RENDEZVOUS_INTEGRITY') + rejected(C, 'ERR_HS_RENDEZVOUS_INTEGRITY') > before)
    } finally {
      armed.tamperRendezvous.clear()
    }
    // The session was given up; the next request introduces itself again and gets through.
    expect(Array.from(await C.services.hidden.request(service.address, '/test/adv/1', new Uint8Array(0)))).toEqual([1])
  })
})

describe('publishing descriptors through a lossy mixnet', () => {
  it('a directory that lost the descriptor is sent it again on a fresh path, so every replica holds it', async () => {
    for (const i of everyone) armed.losePublish.add(i)
    const storedBefore = net.nodes.reduce((n, x) => n + x.services.hidden.getStats().storedDescriptors, 0)
    const results = await service.publish()
    for (const i of everyone) armed.losePublish.delete(i)
    for (const r of results) {
      expect(r.stored).toBe(4)
      // Every directory but S itself lost the first copy: each was sent a second one.
      expect(r.retries).toBeGreaterThanOrEqual(3)
    }
    expect(rejected(S, 'ERR_TIMEOUT')).toBeGreaterThanOrEqual(3)
    expect(net.nodes.reduce((n, x) => n + x.services.hidden.getStats().storedDescriptors, 0)).toBe(storedBefore)
  }, 30_000)

  it('a directory whose answer got lost is sent the descriptor again, and its "stale" counts as stored', async () => {
    for (const i of everyone) armed.losePublishAck.add(i)
    const before = rejected(S, 'ERR_TIMEOUT')
    const results = await service.publish()
    for (const i of everyone) armed.losePublishAck.delete(i)
    for (const r of results) expect(r.stored).toBe(4)
    expect(results.reduce((n, r) => n + r.retries, 0)).toBeGreaterThanOrEqual(3)
    expect(rejected(S, 'ERR_TIMEOUT')).toBeGreaterThanOrEqual(before + 3)
  }, 30_000)
})
