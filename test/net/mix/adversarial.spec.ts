import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  HEADER_LENGTH, PACKET_LENGTH, basePointMul, buildPacket, encodeAddress, encodeForwardMessage, importScalar,
  processPacket
} from '../../../src/crypto/sphinx/index.ts'
import type { PathHop } from '../../../src/crypto/sphinx/index.ts'
import { encodeFrame } from '../../../src/net/mix/index.ts'
import { FAST, nextEvent, startMixNet, waitUntil } from './helpers.ts'
import type { MixNet, MixNode } from './helpers.ts'

const keys = Array.from({ length: 6 }, () => new Uint8Array(randomBytes(32)))
let net: MixNet
let A: MixNode
let B: MixNode
const received: Uint8Array[] = []

beforeAll(async () => {
  net = await startMixNet(6, i => ({ ...FAST, mixPrivateKey: keys[i] }))
  A = net.nodes[0] as MixNode
  B = net.nodes[5] as MixNode
  await B.services.mix.handle('/test/adv/1', ({ data }) => { received.push(data) })
})

afterAll(async () => { await net?.stop() })

function hopOf (i: number): PathHop {
  const node = net.nodes[i] as MixNode
  const addr = multiaddr(node.getMultiaddrs()[0]?.toString().replace(/\/p2p\/.*$/, ''))
  return { publicKey: basePointMul(keys[i] as Uint8Array), address: encodeAddress(node.peerId, addr) }
}

/** A packet A builds by hand for the path X=1, Y=2, Z=3 (exit) to B's /test/adv/1. */
function craft (data: Uint8Array): Uint8Array {
  const message = encodeForwardMessage({ codec: '/test/adv/1', surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data })
  return buildPacket({ hops: [hopOf(1), hopOf(2), hopOf(3)], delays: [5, 5], exit: { destination: hopOf(5).address }, ephemeral: randomBytes(32), message }).packet
}

async function rawStream (to: number): Promise<Stream> {
  return await A.dialProtocol((net.nodes[to] as MixNode).getMultiaddrs(), '/mix/1.0.0')
}

describe('mixing', () => {
  it('holds each packet for an exponential delay with the mean written in the header (on by default)', async () => {
    const relay = (net.nodes[1] as MixNode).services.mix
    const delays: number[] = []
    for (let i = 0; i < 300; i++) {
      // The cover codec: the exit drops these at once, so they leave nothing behind for the next tests.
      const message = encodeForwardMessage({ codec: '/mix/cover/1.0.0', surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data: Uint8Array.of(1) })
      const { packet } = buildPacket({ hops: [hopOf(1), hopOf(2), hopOf(3)], delays: [40, 5], exit: { destination: hopOf(5).address }, ephemeral: randomBytes(32), message })
      const outcome = await relay.receive(packet)
      if (outcome.type !== 'forwarded') throw new Error('expected a forward')
      delays.push(outcome.delayMs)
    }
    // Bounds at 5 standard deviations (a false failure once in about two million runs per check): an exponential of
    // mean 40 has standard deviation 40, so the mean of 300 samples has 40 / sqrt(300) = 2.3; a fraction p = 1 - 1/e
    // of the samples falls under the mean, with standard deviation sqrt(p (1 - p) / 300) = 0.028.
    const n = delays.length
    const mean = delays.reduce((a, b) => a + b, 0) / n
    const meanSd = 40 / Math.sqrt(n)
    expect(Math.abs(mean - 40)).toBeLessThan(5 * meanSd)
    const p = 1 - 1 / Math.E
    const below = delays.filter(d => d < 40).length / n
    expect(Math.abs(below - p)).toBeLessThan(5 * Math.sqrt(p * (1 - p) / n))
    expect(Math.max(...delays)).toBeLessThanOrEqual(40 * -Math.log(1e-6))
  })
})

describe('a relay under attack (real libp2p nodes on TCP)', () => {
  it('a hand-built packet goes through (control)', async () => {
    const data = randomBytes(40)
    const s = await rawStream(1)
    s.send(encodeFrame(craft(data)))
    await waitUntil(() => received.some(r => Buffer.from(r).equals(data)))
  })

  it('drops a header tampered with on the way at the next hop', async () => {
    const first = processPacket(craft(randomBytes(40)), [{ privateKey: importScalar(keys[1] as Uint8Array), replay: { has: () => false, add: () => {} } }])
    if (first.type !== 'forward') throw new Error('expected a forward')
    const tampered = Uint8Array.from(first.packet)
    tampered[100] = (tampered[100] as number) ^ 0x10
    const rejected = nextEvent((net.nodes[2] as MixNode).services.mix, 'packet:rejected')
    ;(await rawStream(2)).send(encodeFrame(tampered))
    expect((await rejected).code).toBe('ERR_SPHINX_BAD_MAC')
  })

  it('detects a tampered payload at the exit after the relays passed it on', async () => {
    const packet = craft(randomBytes(40))
    packet[HEADER_LENGTH + 1234] = (packet[HEADER_LENGTH + 1234] as number) ^ 1
    const before = [1, 2].map(i => (net.nodes[i] as MixNode).services.mix.getStats())
    const rejected = nextEvent((net.nodes[3] as MixNode).services.mix, 'packet:rejected')
    ;(await rawStream(1)).send(encodeFrame(packet))
    expect((await rejected).code).toBe('ERR_SPHINX_PAYLOAD_INTEGRITY')
    const after = [1, 2].map(i => (net.nodes[i] as MixNode).services.mix.getStats())
    after.forEach((s, i) => {
      expect(s.received).toBeGreaterThan((before[i] as typeof s).received)
      expect(s.rejected).toEqual((before[i] as typeof s).rejected)
    })
  })

  it('drops a replayed packet', async () => {
    const packet = craft(randomBytes(40))
    const s = await rawStream(1)
    const rejected = nextEvent((net.nodes[1] as MixNode).services.mix, 'packet:rejected')
    s.send(encodeFrame(packet))
    s.send(encodeFrame(packet))
    expect((await rejected).code).toBe('ERR_SPHINX_REPLAY')
  })

  it('survives random and mutated packets: every one is a typed rejection, and it still relays afterwards', async () => {
    const relay = (net.nodes[4] as MixNode).services.mix
    const codes: string[] = []
    relay.addEventListener('packet:rejected', (e) => { codes.push(e.detail.code) })
    const valid = buildPacket({
      hops: [hopOf(4), hopOf(2), hopOf(3)],
      delays: [5, 5],
      exit: { destination: hopOf(5).address },
      ephemeral: randomBytes(32),
      message: encodeForwardMessage({ codec: '/test/adv/1', surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data: randomBytes(10) })
    }).packet
    const frames = fc.sample(fc.oneof(
      fc.uint8Array({ minLength: PACKET_LENGTH, maxLength: PACKET_LENGTH }),
      fc.uint8Array({ minLength: 0, maxLength: 6000 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: HEADER_LENGTH - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map(ms => {
        const p = Uint8Array.from(valid)
        for (const [o, x] of ms) p[o] = (p[o] as number) ^ x
        return p
      })
    ), { numRuns: 120, seed: 42 })
    const before = relay.getStats().received
    const s = await rawStream(4)
    for (const f of frames) s.send(encodeFrame(f))
    // Every frame gets a verdict: no random or header-mutated packet passes the MAC.
    await waitUntil(() => relay.getStats().received - before >= frames.length && codes.length >= frames.length, 30_000)
    expect(codes.length).toBe(frames.length)
    for (const code of codes) expect(code).toMatch(/^ERR_(SPHINX|MIX)_/)
    expect(new Set(codes)).toEqual(new Set(['ERR_MIX_BAD_FRAME', 'ERR_SPHINX_BAD_MAC', 'ERR_SPHINX_INVALID_POINT']))
    expect(relay.getStats().rejected.ERR_UNEXPECTED).toBeUndefined()
    // A frame longer than any packet ends that stream (its framing can no longer be trusted), not the relay.
    const bad = await rawStream(4)
    const streamRejected = nextEvent(relay, 'packet:rejected', d => d.code === 'ERR_MIX_BAD_FRAME')
    bad.send(Uint8Array.from([0xff, 0xff, 0xff, 0x7f]))
    await streamRejected
    // Still a working relay.
    const data = randomBytes(40)
    const s2 = await rawStream(4)
    s2.send(encodeFrame(buildPacket({
      hops: [hopOf(4), hopOf(2), hopOf(3)],
      delays: [5, 5],
      exit: { destination: hopOf(5).address },
      ephemeral: randomBytes(32),
      message: encodeForwardMessage({ codec: '/test/adv/1', surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data })
    }).packet))
    await waitUntil(() => received.some(r => Buffer.from(r).equals(data)))
  })
})
