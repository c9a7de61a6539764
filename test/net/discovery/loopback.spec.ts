import { generateKeyPair } from '@libp2p/crypto/keys'
import { RecordEnvelope } from '@libp2p/peer-record'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as lp from 'it-length-prefixed'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ClientModeError, DISCOVERY_PROTOCOL, MessageType, RegistrationStatus, decodeMessage, encodeMessage, encodeXpr,
  sealAdvertisement, serviceIdOf
} from '../../../src/net/discovery/index.ts'
import type { DiscoveryMessage } from '../../../src/net/discovery/index.ts'
import { startTestNode, stopAll, waitUntil } from './helpers.ts'
import type { TestNode } from './helpers.ts'

const COMMON = ['/logos/test/chat/1.0.0', '/logos/test/store/1.0.0']
const EXTRA = ['/logos/test/relay/1.0.0', '/logos/test/filter/1.0.0', '/logos/test/push/1.0.0']
const RARE = '/logos/test/rare/1.0.0'
const RARE_DATA = new Uint8Array(33).fill(0xab)

/** One request over a real stream, as any peer could send it. */
async function rawRequest (from: TestNode, to: Multiaddr, message: DiscoveryMessage): Promise<DiscoveryMessage> {
  const stream = await from.libp2p.dialProtocol(to, DISCOVERY_PROTOCOL)
  stream.send(lp.encode.single(encodeMessage(message)))
  const reply = await lp.decode(stream)[Symbol.asyncIterator]().next()
  await stream.close()
  if (reply.done === true) throw new Error('no reply')
  return decodeMessage(reply.value.subarray())
}

describe('capability discovery on 20 real nodes over TCP', () => {
  let nodes: TestNode[] = []
  const extras: TestNode[] = []
  const rareIndex = 7

  beforeAll(async () => {
    const first = await startTestNode()
    const rest = await Promise.all(Array.from({ length: 19 }, async () => await startTestNode()))
    nodes = [first, ...rest]
    await Promise.all(rest.map(async n => await n.libp2p.dial(first.addr)))
    await waitUntil(() => nodes.every(n => (n.discovery.node?.mainTable.size ?? 0) >= 4), 30_000)
    await Promise.all(nodes.map(async (n, i) => {
      for (const c of COMMON) await n.discovery.advertise(c)
      await n.discovery.advertise(EXTRA[i % EXTRA.length] as string)
    }))
    await nodes[rareIndex]?.discovery.advertise(RARE, { data: RARE_DATA })
    const rare = nodes[rareIndex]?.discovery.node?.advertiser
    await waitUntil(() => (rare?.state().find(s => s.protocol === RARE)?.registeredAt.length ?? 0) >= 4, 30_000)
  }, 90_000)

  afterAll(async () => {
    await stopAll([...nodes, ...extras])
  })

  it('every node finds the single provider of the rare capability, with its data and address', async () => {
    const provider = nodes[rareIndex] as TestNode
    const others = nodes.filter((_, i) => i !== rareIndex)
    const results = await Promise.all(others.map(async n => await n.discovery.findProviders(RARE)))
    for (const found of results) {
      expect(found.map(p => p.peerId.toString())).toEqual([provider.libp2p.peerId.toString()])
      expect(found[0]?.data).toEqual(RARE_DATA)
      expect(found[0]?.serviceId).toBe(RARE)
      expect(found[0]?.multiaddrs.map(String)).toContain(provider.addr.decapsulateCode(421).toString())
    }
  }, 60_000)

  it('common capabilities are found with many providers; the limit is honoured; events announce new providers', async () => {
    const seen: string[] = []
    nodes[3]?.discovery.addEventListener('provider', (e) => { seen.push((e as CustomEvent<{ serviceId: string }>).detail.serviceId) })
    const chat = await nodes[3]?.discovery.findProviders(COMMON[0] as string)
    expect(chat?.length).toBeGreaterThanOrEqual(15)
    expect(seen.filter(s => s === COMMON[0]).length).toBe(chat?.length)
    const few = await nodes[4]?.discovery.findProviders(COMMON[1] as string, { limit: 3 })
    expect(few?.length).toBe(3)
    const relay = await nodes[5]?.discovery.findProviders(EXTRA[0] as string)
    // nodes 0, 3, 6, ... advertise relay; node 5 is not one of them
    expect(relay?.length).toBeGreaterThanOrEqual(5)
  }, 60_000)

  it('a light client finds the rare provider through one registrar without joining the DHT or any table', async () => {
    const light = await startTestNode({ dht: false, discovery: { clientMode: true } })
    extras.push(light)
    expect(light.libp2p.getProtocols()).not.toContain(DISCOVERY_PROTOCOL)
    await light.libp2p.dial((nodes[12] as TestNode).addr)
    await waitUntil(() => (light.discovery.node?.mainTable.size ?? 0) >= 1)
    const found = await light.discovery.findProviders(RARE)
    expect(found.map(p => p.peerId.toString())).toEqual([nodes[rareIndex]?.libp2p.peerId.toString()])
    await expect(light.discovery.advertise('/anything')).rejects.toThrow(ClientModeError)
    const id = light.libp2p.peerId.toString()
    expect(nodes.some(n => n.discovery.node?.mainTable.has(id) === true)).toBe(false)
  }, 60_000)

  it('registrars refuse forged and tampered records, and lookups never return them', async () => {
    const attacker = await startTestNode({ discovery: { clientMode: true }, dht: false })
    extras.push(attacker)
    const registrar = nodes[2] as TestNode
    const victim = nodes[rareIndex] as TestNode
    const service = '/logos/test/forged/1.0.0'
    // 1. a record that claims the victim's peer id, signed with the attacker's own key
    const payload = encodeXpr({ peerId: victim.libp2p.peerId.toMultihash().bytes, seq: 1n, addrs: [attacker.addr.bytes], services: [{ id: service }] })
    const forged = await RecordEnvelope.seal({ domain: 'libp2p-peer-record', codec: Uint8Array.from([3, 1]), marshal: () => payload, equals: () => false },
      await generateKeyPair('Ed25519'))
    // 2. a genuine record of the attacker's, tampered with after signing
    const key = await generateKeyPair('Ed25519')
    const genuine = await sealAdvertisement(key, { seq: 1n, addrs: [attacker.addr.bytes], services: [{ id: service }] })
    const tampered = Uint8Array.from(genuine)
    tampered[tampered.length - 40] = (tampered[tampered.length - 40] as number) ^ 0x01
    for (const ad of [forged.marshal(), tampered]) {
      const reply = await rawRequest(attacker, registrar.addr, { type: MessageType.REGISTER, key: serviceIdOf(service), closerPeers: [], register: { advertisement: ad } })
      expect(reply.register?.status).toBe(RegistrationStatus.REJECTED)
    }
    // 3. the genuine one is accepted, and only it is ever returned
    const ok = await rawRequest(attacker, registrar.addr, { type: MessageType.REGISTER, key: serviceIdOf(service), closerPeers: [], register: { advertisement: genuine } })
    expect(ok.register?.status).toBe(RegistrationStatus.CONFIRMED)
    const found = await (nodes[9] as TestNode).discovery.findProviders(service)
    expect(found.map(p => p.peerId.toString())).toEqual([peerIdFromPrivateKey(key).toString()])
    expect(registrar.discovery.node?.registrar?.stats.rejected).toBeGreaterThanOrEqual(2)
  }, 60_000)

  it('a registrar flooded with registrations from one address keeps its table bounded', async () => {
    // A registrar with the spec's IP scoring on and a small cache; the flood comes from one host.
    const target = await startTestNode({ discovery: { ipSimilarityWeight: 1, cacheCapacity: 40 } })
    const attacker = await startTestNode({ discovery: { clientMode: true }, dht: false })
    extras.push(target, attacker)
    const statuses: number[] = []
    const stream = await attacker.libp2p.dialProtocol(target.addr, DISCOVERY_PROTOCOL)
    const replies = lp.decode(stream)[Symbol.asyncIterator]()
    for (let i = 0; i < 150; i++) {
      const sybil = await generateKeyPair('Ed25519')
      const service = `/flood/${i % 30}/1.0.0`
      const ad = await sealAdvertisement(sybil, { seq: 1n, addrs: [attacker.addr.bytes], services: [{ id: service }] })
      // many requests on one stream, as the spec allows
      stream.send(lp.encode.single(encodeMessage({ type: MessageType.REGISTER, key: serviceIdOf(service), closerPeers: [], register: { advertisement: ad } })))
      const reply = await replies.next()
      statuses.push(decodeMessage((reply.value as { subarray: () => Uint8Array }).subarray()).register?.status ?? -1)
    }
    await stream.close()
    const cache = target.discovery.node?.registrar?.cache
    expect(cache?.size).toBeLessThanOrEqual(40)
    expect(statuses.filter(s => s === RegistrationStatus.CONFIRMED).length).toBeLessThan(5)
    expect(statuses.filter(s => s === RegistrationStatus.WAIT).length).toBeGreaterThan(140)
  }, 60_000)
})
