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
import type { DiscoveryMessage, FindProvidersOptions, ServiceProvider } from '../../../src/net/discovery/index.ts'
import { delay } from '../../../src/common/index.ts'
import { startTestNode, stopAll, waitUntil } from './helpers.ts'
import type { TestNode } from './helpers.ts'

const COMMON = ['/logos/test/chat/1.0.0', '/logos/test/store/1.0.0']
const EXTRA = ['/logos/test/relay/1.0.0', '/logos/test/filter/1.0.0', '/logos/test/push/1.0.0']
const RARE = '/logos/test/rare/1.0.0'
const RARE_DATA = new Uint8Array(33).fill(0xab)
/** A lookup that misses (a registrar timed out on a loaded machine) is tried again, a few times, after a pause. */
const LOOKUP_ATTEMPTS = 3
const LOOKUP_PAUSE_MS = 2000

/** A lookup tried again after a pause, up to LOOKUP_ATTEMPTS, until its result is `enough`; `before` runs before each. */
async function lookUp (n: TestNode, service: string, enough: (found: ServiceProvider[]) => boolean, before = (): void => {}, options: FindProvidersOptions = {}): Promise<ServiceProvider[]> {
  for (let attempt = 1; ; attempt++) {
    before()
    const found = await n.discovery.findProviders(service, options)
    if (enough(found) || attempt === LOOKUP_ATTEMPTS) return found
    await delay(LOOKUP_PAUSE_MS)
  }
}

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
    await waitUntil(() => nodes.every(n => (n.discovery.node?.mainTable.size ?? 0) >= 4), 60_000)
    await Promise.all(nodes.map(async (n, i) => {
      for (const c of COMMON) await n.discovery.advertise(c)
      await n.discovery.advertise(EXTRA[i % EXTRA.length] as string)
    }))
    await nodes[rareIndex]?.discovery.advertise(RARE, { data: RARE_DATA })
    const rare = nodes[rareIndex]?.discovery.node?.advertiser
    await waitUntil(() => (rare?.state().find(s => s.protocol === RARE)?.registeredAt.length ?? 0) >= 4, 60_000)
  }, 150_000)

  afterAll(async () => {
    await stopAll([...nodes, ...extras])
  })

  it('every node finds the single provider of the rare capability, with its data and address', async () => {
    const provider = nodes[rareIndex] as TestNode
    const others = nodes.filter((_, i) => i !== rareIndex)
    // On a loaded machine a walk can miss a registrar that timed out; a node then looks again after a pause, as
    // startDiscovering does. Every node must succeed within LOOKUP_ATTEMPTS.
    const results = await Promise.all(others.map(async n => await lookUp(n, RARE, found => found.length > 0)))
    for (const found of results) {
      expect(found.map(p => p.peerId.toString())).toEqual([provider.libp2p.peerId.toString()])
      expect(found[0]?.data).toEqual(RARE_DATA)
      expect(found[0]?.serviceId).toBe(RARE)
      expect(found[0]?.multiaddrs.map(String)).toContain(provider.addr.decapsulateCode(421).toString())
    }
  }, 120_000)

  it('common capabilities are found with many providers; the limit is honoured; events announce new providers', async () => {
    let seen: string[] = []
    nodes[3]?.discovery.addEventListener('provider', (e) => { seen.push((e as CustomEvent<{ serviceId: string }>).detail.serviceId) })
    const chat = await lookUp(nodes[3] as TestNode, COMMON[0] as string, found => found.length >= 15, () => { seen = [] })
    expect(chat.length).toBeGreaterThanOrEqual(15)
    expect(seen.filter(s => s === COMMON[0]).length).toBe(chat.length)
    const few = await lookUp(nodes[4] as TestNode, COMMON[1] as string, found => found.length >= 3, () => {}, { limit: 3 })
    expect(few.length).toBe(3)
    const relay = await lookUp(nodes[5] as TestNode, EXTRA[0] as string, found => found.length >= 5)
    // nodes 0, 3, 6, ... advertise relay; node 5 is not one of them
    expect(relay.length).toBeGreaterThanOrEqual(5)
  }, 60_000)

  it('a light client finds the rare provider through one registrar without joining the DHT or any table', async () => {
    const light = await startTestNode({ dht: false, discovery: { clientMode: true } })
    extras.push(light)
    expect(light.libp2p.getProtocols()).not.toContain(DISCOVERY_PROTOCOL)
    await light.libp2p.dial((nodes[12] as TestNode).addr)
    await waitUntil(() => (light.discovery.node?.mainTable.size ?? 0) >= 1)
    const found = await lookUp(light, RARE, found => found.length > 0)
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
    // 3. the genuine one is accepted (by every registrar, so any walk meets it), and only it is ever returned
    for (const n of nodes) {
      await rawRequest(attacker, n.addr, { type: MessageType.REGISTER, key: serviceIdOf(service), closerPeers: [], register: { advertisement: forged.marshal() } })
      const ok = await rawRequest(attacker, n.addr, { type: MessageType.REGISTER, key: serviceIdOf(service), closerPeers: [], register: { advertisement: genuine } })
      expect(ok.register?.status).toBe(RegistrationStatus.CONFIRMED)
    }
    const found = await (nodes[9] as TestNode).discovery.findProviders(service)
    expect(found.map(p => p.peerId.toString())).toEqual([peerIdFromPrivateKey(key).toString()])
    expect(registrar.discovery.node?.registrar?.stats.rejected).toBeGreaterThanOrEqual(2)
  }, 60_000)

  it('a registrar flooded from one address keeps every table bounded, and its admission holds when the bounds evict', async () => {
    // A registrar with the spec's IP scoring on, a small cache, and small service-table, lower-bound and verified-ad
    // limits, so the flood pushes all of them; its per-peer rate is raised so the flood reaches admission control.
    const target = await startTestNode({ discovery: { ipSimilarityWeight: 1, cacheCapacity: 40, maxRegistrarTables: 8, maxBoundEntries: 16, verifyCacheSize: 16, peerRequestBurst: 1000 } })
    const attacker = await startTestNode({ discovery: { clientMode: true }, dht: false })
    extras.push(target, attacker)
    const registrar = target.discovery.node?.registrar as NonNullable<NonNullable<TestNode['discovery']['node']>['registrar']>
    const stream = await attacker.libp2p.dialProtocol(target.addr, DISCOVERY_PROTOCOL)
    const replies = lp.decode(stream)[Symbol.asyncIterator]()
    const ask = async (message: DiscoveryMessage): Promise<DiscoveryMessage> => {
      // many requests on one stream, as the spec allows
      stream.send(lp.encode.single(encodeMessage(message)))
      const reply = await replies.next()
      return decodeMessage((reply.value as { subarray: () => Uint8Array }).subarray())
    }
    const flood: Array<{ service: string, ad: Uint8Array, status: number, waitS: number }> = []
    for (let i = 0; i < 150; i++) {
      const sybil = await generateKeyPair('Ed25519')
      const service = `/flood/${i % 30}/1.0.0`
      const ad = await sealAdvertisement(sybil, { seq: 1n, addrs: [attacker.addr.bytes], services: [{ id: service }] })
      const reply = await ask({ type: MessageType.REGISTER, key: serviceIdOf(service), closerPeers: [], register: { advertisement: ad } })
      flood.push({ service, ad, status: reply.register?.status ?? -1, waitS: reply.register?.ticket?.tWaitFor ?? 0 })
    }
    // Admission: the first registration from the address is confirmed; every other one waits a full E (120 s here,
    // the most one ticket carries), since the address already holds an entry.
    expect(flood[0]?.status).toBe(RegistrationStatus.CONFIRMED)
    expect(flood.slice(1).every(f => f.status === RegistrationStatus.WAIT && f.waitS === 120)).toBe(true)
    expect(registrar.cache.size).toBe(1)
    // GET_ADS for 40 fresh services and the flooded ones: service tables beyond 8 are dropped, least recently used first.
    for (let i = 0; i < 40; i++) await ask({ type: MessageType.GET_ADS, key: serviceIdOf(`/probe/${i}`), closerPeers: [] })
    // Every bound was pushed to its limit: 30 services' lower bounds in a table of 16, 150 ads in a verified cache of 16.
    expect(registrar.tableCount).toBe(8)
    expect(registrar.bounds.serviceEntries).toBe(16)
    expect(registrar.bounds.ipEntries).toBe(1)
    expect(registrar.verifier.size).toBe(16)
    // With the first services' bounds, tables and verified ads evicted, their admission still holds: the address's
    // own bound and score keep the wait at E, and the confirmed ad is served from a rebuilt table.
    const again = await ask({ type: MessageType.REGISTER, key: serviceIdOf(flood[1]?.service as string), closerPeers: [], register: { advertisement: flood[1]?.ad as Uint8Array } })
    expect(again.register?.status).toBe(RegistrationStatus.WAIT)
    expect(again.register?.ticket?.tWaitFor).toBe(120)
    const served = await ask({ type: MessageType.GET_ADS, key: serviceIdOf(flood[0]?.service as string), closerPeers: [] })
    expect(served.getAds?.advertisements.map(a => Buffer.from(a).toString('hex'))).toEqual([Buffer.from(flood[0]?.ad as Uint8Array).toString('hex')])
    expect(registrar.cache.size).toBe(1)
    await stream.close()
  }, 60_000)

  it('a registrar answers one peer only as fast as its bucket allows, and closes the stream past it', async () => {
    const target = await startTestNode({ discovery: { peerRequestBurst: 5, peerRequestsPerSecond: 0.001 } })
    const [greedy, other] = [await startTestNode({ discovery: { clientMode: true }, dht: false }), await startTestNode({ discovery: { clientMode: true }, dht: false })]
    extras.push(target, greedy, other)
    const getAds = encodeMessage({ type: MessageType.GET_ADS, key: serviceIdOf(RARE), closerPeers: [] })
    const stream = await greedy.libp2p.dialProtocol(target.addr, DISCOVERY_PROTOCOL)
    const replies = lp.decode(stream)[Symbol.asyncIterator]()
    let answered = 0
    for (let i = 0; i < 8; i++) {
      stream.send(lp.encode.single(getAds))
      const reply = await replies.next().catch(() => ({ done: true as const, value: undefined }))
      if (reply.done === true) break
      answered++
    }
    expect(answered).toBe(5)
    expect(target.discovery.node?.registrar?.stats.rateLimited).toBe(1)
    // Another peer has its own bucket.
    const reply = await rawRequest(other, target.addr, { type: MessageType.GET_ADS, key: serviceIdOf(RARE), closerPeers: [] })
    expect(reply.getAds).toBeDefined()
  }, 60_000)
})
