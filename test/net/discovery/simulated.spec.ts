import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { SimNetwork, VirtualClock, runScenario } from '../../../src/net/discovery-sim/index.ts'
import {
  DiscoveryNode, MessageType, RequestFailedError, encodeMessage, peerKeyOf, resolveParams, sealAdvertisement, serviceIdOf
} from '../../../src/net/discovery/index.ts'
import type { DiscoveryTransport, LookupResult, PeerRef } from '../../../src/net/discovery/index.ts'

describe('discovery over the simulator (the same classes, in memory)', () => {
  it('the virtual clock runs timers in order and honours aborts', async () => {
    const clock = new VirtualClock(0)
    const order: number[] = []
    void clock.sleep(30).then(() => order.push(30))
    void clock.sleep(10).then(() => order.push(10))
    const ac = new AbortController()
    const aborted = clock.sleep(20, { signal: ac.signal }).then(() => order.push(20), () => order.push(-1))
    ac.abort()
    await aborted
    await clock.runUntil(100)
    expect(order).toEqual([-1, 10, 30])
    expect(clock.now()).toBe(100)
  })

  it('request deadlines run on the simulated clock: a slow machine never times out a request answered in time', async () => {
    const clock = new VirtualClock()
    const params = resolveParams({ requestTimeoutMs: 20, ipSimilarityWeight: 0 })
    const identity = async (): Promise<{ key: PrivateKey, ref: PeerRef }> => {
      const key = await generateKeyPair('Ed25519')
      const idBytes = peerIdFromPrivateKey(key).toMultihash().bytes
      return { key, ref: { id: peerIdFromPrivateKey(key).toString(), idBytes, key: peerKeyOf(idBytes), addrs: [] } }
    }
    const [a, b, c] = [await identity(), await identity(), await identity()]
    const unused: DiscoveryTransport = { request: async () => { throw new RequestFailedError('unused') } }
    const registrar = new DiscoveryNode({ privateKey: b.key, self: b.ref.id, selfBytes: b.ref.idBytes, params, transport: unused, clock })
    // C's ad sits at B.
    const ad = await sealAdvertisement(c.key, { seq: 1n, addrs: [], services: [{ id: '/cap/slow' }] })
    registrar.handle(encodeMessage({ type: MessageType.REGISTER, key: serviceIdOf('/cap/slow'), closerPeers: [], register: { advertisement: ad } }), { from: c.ref, fromServes: true, ip: '10.0.0.3' })
    // A's requests to B take 3 ms of simulated time and, on this slow machine, 45 ms of real time over several turns
    // of the event loop, more than the 20 ms deadline.
    const slow: DiscoveryTransport = {
      request: async (_peer, bytes, options) => {
        for (let i = 0; i < 3; i++) {
          const until = performance.now() + 15
          while (performance.now() < until) { /* the machine is busy */ }
          await clock.sleep(1, options)
        }
        const response = registrar.handle(bytes, { from: a.ref, fromServes: false, ip: '10.0.0.1' })
        if (response === undefined) throw new RequestFailedError('refused')
        return response
      }
    }
    const client = new DiscoveryNode({ privateKey: a.key, self: a.ref.id, selfBytes: a.ref.idBytes, params, transport: slow, clock, clientMode: true })
    client.addPeer(b.ref)
    const result = await clock.runWhile(client.lookup(serviceIdOf('/cap/slow')))
    expect(result.providers.map(p => p.ad.peerIdString)).toEqual([c.ref.id])
    expect(result.failures).toBe(0)
  })

  it('every lookup for a capability with one provider among 200 nodes finds it', async () => {
    const r = await runScenario({ nodes: 200, lookups: 25, settleMs: 240_000, seed: 3 })
    expect(r.rareProviders).toBe(1)
    expect(r.rareLookupSuccess).toBe(1)
    expect(r.registerRequests).toBeGreaterThan(300)
    expect(r.lookupMessagesP50).toBeLessThan(r.randomWalkMessagesP50)
  }, 120_000)

  it('a client-mode node finds providers through registrars without being in any table, and dead registrars are skipped', async () => {
    const net = new SimNetwork({ seed: 11, params: { ipSimilarityWeight: 1 } })
    const servers = await net.addNodes(120)
    const [light] = await net.addNodes(1, { clientMode: true })
    net.fillTables()
    const providers = servers.slice(0, 3)
    for (const p of providers) {
      p.engine?.advertise('/cap/1', serviceIdOf('/cap/1'), await sealAdvertisement(p.privateKey, { seq: 1n, addrs: p.ref.addrs, services: [{ id: '/cap/1', data: new Uint8Array([7]) }] }))
    }
    await net.clock.advance(300_000)
    expect(servers.every(s => !(s.engine?.mainTable.has(light?.id ?? '') ?? false))).toBe(true)
    expect(light?.engine?.registrar).toBeUndefined()
    // a quarter of the registrars go down
    for (const s of servers.slice(60, 90)) s.down = true
    const result = await net.clock.runWhile(light?.engine?.lookup(serviceIdOf('/cap/1')) as Promise<LookupResult>)
    expect(new Set(result.providers.map(p => p.ad.peerIdString))).toEqual(new Set(providers.map(p => p.id)))
    expect(result.providers[0]?.service.data?.[0]).toBe(7)
    expect(servers.every(s => s.engine?.registrar?.cache.size !== undefined)).toBe(true)
  }, 60_000)

  it('with 20 % Sybil registrars, lookups of neither a popular nor a rare capability are eclipsed', async () => {
    // With the spec's stopping rule (lookupAdsPerRegistrar = F_return) this seed eclipses 13 of the 30 rare lookups.
    const r = await runScenario({ nodes: 300, sybilFraction: 0.2, lookups: 30, settleMs: 300_000, seed: 5 })
    expect(r.sybils).toBe(60)
    expect(r.eclipseRate).toBeLessThan(0.1)
    expect(r.rareEclipseRate).toBeLessThan(0.1)
    expect(r.rareLookupSuccess).toBeGreaterThan(0.9)
  }, 120_000)
})
