import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { LogosError } from '../../../src/common/index.ts'
import { basePointMul, buildPacket, encodeForwardMessage } from '../../../src/crypto/sphinx/index.ts'
import type { PathHop } from '../../../src/crypto/sphinx/index.ts'
import { encodeFrame } from '../../../src/net/mix/index.ts'
import type { MixSpamProtection } from '../../../src/net/mix/index.ts'
import { FAST, ManualEpochs, hopOf, nextEvent, startMixNet, waitUntil } from './helpers.ts'
import type { MixNet, MixNode } from './helpers.ts'

let net: MixNet | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

function packetFor (path: PathHop[], destination: PathHop, codec: string, data: Uint8Array): Uint8Array {
  const message = encodeForwardMessage({ codec, surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data })
  return buildPacket({ hops: path, delays: path.slice(1).map(() => 5), exit: { destination: destination.address }, ephemeral: randomBytes(32), message }).packet
}

describe('cover traffic (mix-cover-traffic.md)', () => {
  it('sends constant-rate loops of length 3 that come back to their sender', async () => {
    // R = 120 per 1 s epoch: 0.7 x 120 / 4 = 21 loops/s per node.
    net = await startMixNet(4, { ...FAST, cover: { strategy: 'constant' }, slotsPerEpoch: 120, epochMs: 1000 })
    const nodes = net.nodes
    await waitUntil(() => nodes.every(n => n.services.mix.getStats().coverReturned >= 5), 20_000)
    for (const n of nodes) {
      const s = n.services.mix.getStats()
      expect(s.coverSent).toBeGreaterThanOrEqual(s.coverReturned)
      expect(s.rejected).toEqual({})
    }
  })

  it('sends Poisson-rate loops too', async () => {
    net = await startMixNet(4, { ...FAST, cover: { strategy: 'poisson' }, slotsPerEpoch: 120, epochMs: 1000 })
    await waitUntil(() => net?.nodes.every(n => n.services.mix.getStats().coverReturned >= 3) === true, 20_000)
  })

  it('makes local sends beyond the epoch budget wait for the next epoch', async () => {
    // A's budget is 2 slots per epoch, and its epochs change only when the test says so (no clock involved).
    const epochs = new ManualEpochs(2)
    net = await startMixNet(6, i => ({ ...FAST, ...(i === 0 ? { spamProtection: epochs } : {}) }))
    const [a, b] = [net.nodes[0] as MixNode, net.nodes[5] as MixNode]
    const got: number[] = []
    await b.services.mix.handle('/test/slots/1', ({ data }) => { got.push(data[0] as number) })
    const left: number[] = []
    const sends = [0, 1, 2, 3].map(async i => {
      await a.services.mix.send(b.peerId, '/test/slots/1', Uint8Array.of(i))
      left.push(i)
    })
    // Two fit in this epoch: they leave and arrive. The other two wait for slots, and no slot comes in this epoch.
    await waitUntil(() => got.length === 2)
    expect(left).toHaveLength(2)
    expect(a.services.mix.getStats().slotsRemaining).toBe(0)
    // The next epoch's slots let them go.
    epochs.next()
    await Promise.all(sends)
    await waitUntil(() => got.length === 4)
    expect([...got].sort()).toEqual([0, 1, 2, 3])
    expect([...left].sort()).toEqual([0, 1, 2, 3])
  })

  it('drops a forwarded packet when the relay has no slot left', async () => {
    const keys = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)))
    net = await startMixNet(5, i => ({ ...FAST, mixPrivateKey: keys[i], ...(i === 1 ? { slotsPerEpoch: 1, epochMs: 60_000 } : {}) }))
    const nodes = net.nodes
    const hops = nodes.map((n, i) => hopOf(n, keys[i] as Uint8Array))
    const stream = await (nodes[0] as MixNode).dialProtocol((nodes[1] as MixNode).getMultiaddrs(), '/mix/1.0.0')
    const rejected = nextEvent((nodes[1] as MixNode).services.mix, 'packet:rejected')
    const path = [hops[1], hops[2], hops[3]] as PathHop[]
    stream.send(encodeFrame(packetFor(path, hops[4] as PathHop, '/x', new Uint8Array(1))))
    stream.send(encodeFrame(packetFor(path, hops[4] as PathHop, '/x', new Uint8Array(1))))
    expect((await rejected).code).toBe('ERR_MIX_SLOTS_EXHAUSTED')
  })
})

describe('key rotation', () => {
  it('re-advertises the new key and keeps the old one through its grace period', async () => {
    const keys = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)))
    const advertised: string[] = []
    net = await startMixNet(5, i => ({ ...FAST, mixPrivateKey: keys[i], keyGraceMs: 3000 }), (source, i) => ({
      getNodes: () => source.getNodes(),
      advertise: async (key) => { if (i === 2) advertised.push(Buffer.from(key).toString('hex')) }
    }))
    const nodes = net.nodes
    const relay = nodes[2] as MixNode
    await waitUntil(() => advertised.length === 1)
    expect(advertised[0]).toBe(Buffer.from(basePointMul(keys[2] as Uint8Array)).toString('hex'))
    const hops = nodes.map((n, i) => hopOf(n, keys[i] as Uint8Array))
    const got: string[] = []
    await (nodes[4] as MixNode).services.mix.handle('/test/rot/1', ({ data }) => { got.push(Buffer.from(data).toString()) })
    // One packet first, so the connections along the path are open before the grace period starts to run.
    const stream = await (nodes[0] as MixNode).dialProtocol((nodes[1] as MixNode).getMultiaddrs(), '/mix/1.0.0')
    const path = [hops[1], hops[2], hops[3]] as PathHop[]
    stream.send(encodeFrame(packetFor(path, hops[4] as PathHop, '/test/rot/1', Buffer.from('before'))))
    await waitUntil(() => got.includes('before'))
    const rotated = nextEvent(relay.services.mix, 'key:rotated')
    const fresh = await relay.services.mix.rotateKey()
    expect(Buffer.from((await rotated).publicKey).equals(Buffer.from(fresh))).toBe(true)
    expect(Buffer.from(fresh).equals(Buffer.from(hops[2]?.publicKey ?? []))).toBe(false)
    expect(advertised[1]).toBe(Buffer.from(fresh).toString('hex'))

    // A packet built with the old key (senders have not heard of the new one yet) still goes through.
    stream.send(encodeFrame(packetFor(path, hops[4] as PathHop, '/test/rot/1', Buffer.from('old key, in grace'))))
    await waitUntil(() => got.includes('old key, in grace'))

    // After the grace period the old key is gone; the new one (once announced) works.
    await new Promise(resolve => setTimeout(resolve, 3100))
    const rejected = nextEvent(relay.services.mix, 'packet:rejected')
    stream.send(encodeFrame(packetFor(path, hops[4] as PathHop, '/test/rot/1', Buffer.from('old key, too late'))))
    expect((await rejected).code).toBe('ERR_SPHINX_BAD_MAC')
    net.announce(relay)
    const newPath = [hops[1], { ...hops[2], publicKey: fresh }, hops[3]] as PathHop[]
    stream.send(encodeFrame(packetFor(newPath, hops[4] as PathHop, '/test/rot/1', Buffer.from('new key'))))
    await waitUntil(() => got.includes('new key'))
    expect(got).not.toContain('old key, too late')
  })

  it('rotates by itself when the replay table reaches its rotation threshold', async () => {
    net = await startMixNet(5, { ...FAST, replayCacheSize: 4 })
    const [a, b] = [net.nodes[0] as MixNode, net.nodes[4] as MixNode]
    await b.services.mix.handle('/test/fill/1', () => {})
    for (let i = 0; i < 10; i++) {
      await a.services.mix.send(b.peerId, '/test/fill/1', Uint8Array.of(i))
      for (const n of net.nodes) net.announce(n) // a discovery source would carry the new keys
    }
    await waitUntil(() => net?.nodes.some(n => n.services.mix.getStats().keyRotations > 0) === true)
  })
})

/**
 * The simplest real MixSpamProtection: sigma = HMAC-SHA256(group key, packet), a 32-byte proof bound to the exact
 * packet bytes. It stands for the RLN plugin in these tests and exercises the same hook.
 */
class GroupMacProtection implements MixSpamProtection {
  readonly proofLength = 32
  generated = 0
  verified = 0
  private readonly key: Uint8Array
  constructor (key: Uint8Array) { this.key = key }
  async generateProof (packet: Uint8Array): Promise<Uint8Array> {
    this.generated++
    return createHmac('sha256', this.key).update(packet).digest()
  }

  async verifyProof (packet: Uint8Array, proof: Uint8Array): Promise<void> {
    this.verified++
    const expected = createHmac('sha256', this.key).update(packet).digest()
    if (proof.length !== 32 || !timingSafeEqual(expected, proof)) throw new LogosError('ERR_TEST_BAD_GROUP_MAC', 'bad proof')
  }
}

describe('spam-protection hook (mix-dos-protection.md 4.2, per-hop proofs)', () => {
  it('appends a fresh proof at the sender and at each intermediary, and checks it before any Sphinx work', async () => {
    const group = randomBytes(32)
    const plugins = Array.from({ length: 5 }, () => new GroupMacProtection(group))
    net = await startMixNet(5, i => ({ ...FAST, spamProtection: plugins[i] }))
    const [a, b] = [net.nodes[0] as MixNode, net.nodes[4] as MixNode]
    await b.services.mix.handle('/test/spam/1', ({ data }) => data)
    const reply = await a.services.mix.request(b.peerId, '/test/spam/1', Uint8Array.of(1, 2, 3))
    expect(Array.from(reply)).toEqual([1, 2, 3])
    // Out: A + 2 intermediaries; back: the exit + 2 intermediaries. Each of the 6 receptions verified one.
    expect(plugins.reduce((n, p) => n + p.generated, 0)).toBe(6)
    expect(plugins.reduce((n, p) => n + p.verified, 0)).toBe(6)

    // A bare 4608-byte packet is refused, and so is one with a wrong proof, before the replay table is touched.
    const relay = net.nodes[1] as MixNode
    const stream = await a.dialProtocol(relay.getMultiaddrs(), '/mix/1.0.0')
    const tableBefore = relay.services.mix.getStats().replayTableSize
    const first = nextEvent(relay.services.mix, 'packet:rejected')
    stream.send(encodeFrame(new Uint8Array(4608)))
    expect((await first).code).toBe('ERR_MIX_BAD_FRAME')
    const second = nextEvent(relay.services.mix, 'packet:rejected')
    stream.send(encodeFrame(new Uint8Array(4608 + 32)))
    const err = await second
    expect(err.code).toBe('ERR_MIX_SPAM_PROOF')
    expect((err.error as LogosError).data.code).toBe('ERR_TEST_BAD_GROUP_MAC')
    expect(relay.services.mix.getStats().replayTableSize).toBe(tableBefore)
  })
})
