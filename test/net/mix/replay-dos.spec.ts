import { randomBytes } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { LogosError } from '../../../src/common/index.ts'
import { buildPacket, encodeForwardMessage } from '../../../src/crypto/sphinx/index.ts'
import type { PathHop } from '../../../src/crypto/sphinx/index.ts'
import { ReplayCache, encodeFrame, isPublicIPv4 } from '../../../src/net/mix/index.ts'
import { KeyManager } from '../../../src/net/mix/key-manager.ts'
import { FAST, ManualEpochs, hopOf, nextEvent, startMixNet, waitUntil } from './helpers.ts'
import type { MixNet, MixNode } from './helpers.ts'

let net: MixNet | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

/** A valid packet for `path`, to `destination` (a hop's address), with the given codec and per-hop mean delay. */
function packetFor (path: PathHop[], destination: Uint8Array, codec: string, data: Uint8Array, delayMs = 5): Uint8Array {
  const message = encodeForwardMessage({ codec, surbs: [], fragment: { messageId: randomBytes(8), index: 0, count: 1 }, data })
  return buildPacket({ hops: path, delays: path.slice(1).map(() => delayMs), exit: { destination }, ephemeral: randomBytes(32), message }).packet
}

/** Collects every rejection code of a relay. */
function rejections (node: MixNode): string[] {
  const codes: string[] = []
  node.services.mix.addEventListener('packet:rejected', (e) => { codes.push(e.detail.code) })
  return codes
}

async function rawStream (from: MixNode, to: MixNode): Promise<Stream> {
  return await from.dialProtocol(to.getMultiaddrs(), '/mix/1.0.0')
}

describe('replay table and key rotation under a flood (mix.md 8.6.1)', () => {
  it('rotates early, so the previous key keeps room for its whole grace period', () => {
    let exhausted = 0
    const km = new KeyManager({ replayCacheSize: 10, graceMs: 60_000, onExhausted: () => { exhausted++ } })
    const t0 = Date.now()
    const fill = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const [current] = km.processingKeys(t0)
        current?.replay.add(randomBytes(32))
      }
    }
    fill(7)
    expect(exhausted).toBe(0)
    fill(1) // 8 of 10: the rotation threshold (80 %)
    km.processingKeys(t0)
    expect(exhausted).toBe(1)
    km.rotate(undefined, t0)
    const [, previous] = km.processingKeys(t0 + 1)
    expect(previous).toBeDefined()
    // The previous key still takes the tags of its in-flight packets (2 of room), whatever the new key does.
    previous?.replay.add(randomBytes(32))
    previous?.replay.add(randomBytes(32))
    expect(km.processingKeys(t0 + 59_999)).toHaveLength(2)
    // Past its capacity it refuses a tag (a typed drop) instead of evicting one or losing the key.
    expect(() => previous?.replay.add(randomBytes(32))).toThrow(LogosError)
    expect(km.processingKeys(t0 + 59_999)).toHaveLength(2)
    expect(km.processingKeys(t0 + 60_000)).toHaveLength(1)
  })

  it('a flood of valid packets that forces a rotation does not kill packets in flight under the old key', async () => {
    const keys = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)))
    // The relay: a replay table of 20, a budget of 16 slots per epoch, epochs advanced by the test.
    const epochs = new ManualEpochs(16)
    net = await startMixNet(5, i => ({ ...FAST, mixPrivateKey: keys[i], ...(i === 1 ? { replayCacheSize: 20, keyGraceMs: 120_000, spamProtection: epochs } : {}) }))
    const nodes = net.nodes
    const [attacker, relay, dest] = [nodes[0] as MixNode, nodes[1] as MixNode, nodes[4] as MixNode]
    const hops = nodes.map((n, i) => hopOf(n, keys[i] as Uint8Array))
    const path = [hops[1], hops[2], hops[3]] as PathHop[]
    const got: string[] = []
    await dest.services.mix.handle('/test/inflight/1', ({ data }) => { got.push(Buffer.from(data).toString()) })
    // An honest sender built this packet with the relay's current key; it is still on its way.
    const inFlight = packetFor(path, hops[4]?.address as Uint8Array, '/test/inflight/1', Buffer.from('in flight'))
    const codes = rejections(relay)

    // The attacker sends as many valid packets as the replay table holds (cover loops that die at the exit). Only
    // the epoch's 16 slots' worth are processed; they take the table past its rotation threshold (80 %).
    const s = await rawStream(attacker, relay)
    for (let i = 0; i < 20; i++) s.send(encodeFrame(packetFor(path, hops[4]?.address as Uint8Array, '/mix/cover/1.0.0', Uint8Array.of(i))))
    await waitUntil(() => relay.services.mix.getStats().received >= 20 && codes.length >= 4)
    expect(codes).toEqual(Array(4).fill('ERR_MIX_SLOTS_EXHAUSTED'))
    expect(relay.services.mix.getStats().keyRotations).toBe(1)
    expect(relay.services.mix.getStats().replayTableSize).toBe(16)

    // The packet built with the old key arrives after the forced rotation, in the next epoch: the old key is in its
    // grace period and its table has room, so it goes through.
    epochs.next()
    s.send(encodeFrame(inFlight))
    await waitUntil(() => got.includes('in flight') || codes.length > 4)
    expect(codes).toHaveLength(4)
    expect(got).toEqual(['in flight'])
  })

  it('claims the slot and checks the delay queue before any Sphinx work: refused packets leave no replay tag', async () => {
    const keys = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)))
    net = await startMixNet(5, i => ({ ...FAST, mixPrivateKey: keys[i], ...(i === 1 ? { slotsPerEpoch: 4, epochMs: 600_000 } : {}), ...(i === 2 ? { maxDelayedPackets: 3 } : {}) }))
    const nodes = net.nodes
    const hops = nodes.map((n, i) => hopOf(n, keys[i] as Uint8Array))
    const dest = hops[4]?.address as Uint8Array

    // Relay 1 has 4 slots this epoch: 4 packets are processed, the other 8 are dropped before any Sphinx work.
    const slotted = nodes[1] as MixNode
    const slotCodes = rejections(slotted)
    const s1 = await rawStream(nodes[0] as MixNode, slotted)
    for (let i = 0; i < 12; i++) s1.send(encodeFrame(packetFor([hops[1], hops[3], hops[4]] as PathHop[], dest, '/mix/cover/1.0.0', Uint8Array.of(i))))
    await waitUntil(() => slotCodes.length === 8)
    expect(new Set(slotCodes)).toEqual(new Set(['ERR_MIX_SLOTS_EXHAUSTED']))
    expect(slotted.services.mix.getStats().replayTableSize).toBe(4)

    // Relay 2 holds at most 3 delayed packets: with long delays, packets past those are dropped before Sphinx work.
    const queued = nodes[2] as MixNode
    const queueCodes = rejections(queued)
    const s2 = await rawStream(nodes[0] as MixNode, queued)
    for (let i = 0; i < 10; i++) s2.send(encodeFrame(packetFor([hops[2], hops[3], hops[4]] as PathHop[], dest, '/mix/cover/1.0.0', Uint8Array.of(i), 30_000)))
    await waitUntil(() => queueCodes.length === 7)
    expect(new Set(queueCodes)).toEqual(new Set(['ERR_MIX_QUEUE_FULL']))
    expect(queued.services.mix.getStats().replayTableSize).toBe(3)
    expect(queued.services.mix.getStats().delayedPackets).toBe(3)
  })

  it('limits the packets each peer may send: past its bucket a peer\'s packets are dropped unread, others still pass', async () => {
    const keys = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)))
    net = await startMixNet(5, i => ({ ...FAST, mixPrivateKey: keys[i], ...(i === 1 ? { inboundPeerRate: { perSecond: 0.001, burst: 5 } } : {}) }))
    const nodes = net.nodes
    const hops = nodes.map((n, i) => hopOf(n, keys[i] as Uint8Array))
    const relay = nodes[1] as MixNode
    const codes = rejections(relay)
    const flood = await rawStream(nodes[0] as MixNode, relay)
    for (let i = 0; i < 12; i++) flood.send(encodeFrame(packetFor([hops[1], hops[2], hops[3]] as PathHop[], hops[4]?.address as Uint8Array, '/mix/cover/1.0.0', Uint8Array.of(i))))
    await waitUntil(() => codes.length === 7)
    expect(new Set(codes)).toEqual(new Set(['ERR_MIX_PEER_RATE_LIMITED']))
    expect(relay.services.mix.getStats().replayTableSize).toBe(5)
    // Junk counts against the bucket too (it costs the relay its X25519s before the MAC says no).
    flood.send(encodeFrame(new Uint8Array(4608)))
    await waitUntil(() => codes.length === 8)
    expect(codes[7]).toBe('ERR_MIX_PEER_RATE_LIMITED')
    // Another peer has its own bucket.
    const got: string[] = []
    await (nodes[4] as MixNode).services.mix.handle('/test/other/1', ({ data }) => { got.push(Buffer.from(data).toString()) })
    ;(await rawStream(nodes[3] as MixNode, relay)).send(encodeFrame(packetFor([hops[1], hops[2], hops[0]] as PathHop[], hops[4]?.address as Uint8Array, '/test/other/1', Buffer.from('other peer'))))
    await waitUntil(() => got.includes('other peer'))
    expect(codes).toHaveLength(8)
  })
})

describe('the exit is no open proxy (private destinations)', () => {
  it('classifies IPv4 addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.0.1', '0.0.0.0', '100.64.0.1', '224.0.0.1', '255.255.255.255', '192.0.2.1', '198.18.0.1', '240.0.0.1']) {
      expect(isPublicIPv4(ip), ip).toBe(false)
    }
    for (const ip of ['1.1.1.1', '8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '193.0.0.1', '11.0.0.1']) {
      expect(isPublicIPv4(ip), ip).toBe(true)
    }
  })

  it('refuses to deliver to, or forward towards, a loopback or private address unless configured to', async () => {
    const keys = Array.from({ length: 5 }, () => new Uint8Array(randomBytes(32)))
    // Nodes 2 and 3 run the deployment default; the others allow private destinations (a loopback test network).
    net = await startMixNet(5, i => ({ ...FAST, mixPrivateKey: keys[i], allowPrivateDestinations: i !== 2 && i !== 3 }))
    const nodes = net.nodes
    const hops = nodes.map((n, i) => hopOf(n, keys[i] as Uint8Array))
    const got: string[] = []
    await (nodes[4] as MixNode).services.mix.handle('/test/private/1', ({ data }) => { got.push(Buffer.from(data).toString()) })
    const from = nodes[0] as MixNode

    // Exit 3 is asked to deliver to 127.0.0.1: it refuses without dialling.
    const exitRejected = nextEvent((nodes[3] as MixNode).services.mix, 'packet:rejected')
    ;(await rawStream(from, nodes[1] as MixNode)).send(encodeFrame(packetFor([hops[1], hops[4], hops[3]] as PathHop[], hops[4]?.address as Uint8Array, '/test/private/1', Buffer.from('via exit 3'))))
    const e = await exitRejected
    expect(e.code).toBe('ERR_MIX_PRIVATE_DESTINATION')
    expect((e.error as LogosError).data.ip).toBe('127.0.0.1')

    // Relay 2 is asked to forward to a next hop on 127.0.0.1: it refuses too.
    const hopRejected = nextEvent((nodes[2] as MixNode).services.mix, 'packet:rejected')
    ;(await rawStream(from, nodes[2] as MixNode)).send(encodeFrame(packetFor([hops[2], hops[1], hops[4]] as PathHop[], hops[4]?.address as Uint8Array, '/test/private/1', Buffer.from('via relay 2'))))
    expect((await hopRejected).code).toBe('ERR_MIX_PRIVATE_DESTINATION')

    // Control: exit 1, which allows private destinations, delivers.
    ;(await rawStream(from, nodes[4] as MixNode)).send(encodeFrame(packetFor([hops[4], hops[0], hops[1]] as PathHop[], hops[4]?.address as Uint8Array, '/test/private/1', Buffer.from('via exit 1'))))
    await waitUntil(() => got.includes('via exit 1'))
    expect(got).toEqual(['via exit 1'])
  })

  it('a replay table never grows past its capacity', () => {
    const c = new ReplayCache(2)
    c.add(randomBytes(32))
    c.add(randomBytes(32))
    expect(() => { c.add(randomBytes(32)) }).toThrow(LogosError)
    expect(c.size).toBe(2)
  })
})
