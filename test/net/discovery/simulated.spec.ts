import { describe, expect, it } from 'vitest'
import { SimNetwork, VirtualClock, runScenario } from '../../../src/net/discovery-sim/index.ts'
import { sealAdvertisement, serviceIdOf } from '../../../src/net/discovery/index.ts'
import type { LookupResult } from '../../../src/net/discovery/index.ts'

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

  it('with 20 % Sybil registrars, lookups of a popular capability are not eclipsed; a rare one is the hard case', async () => {
    const r = await runScenario({ nodes: 300, sybilFraction: 0.2, lookups: 30, settleMs: 300_000, seed: 5 })
    expect(r.sybils).toBe(60)
    expect(r.eclipseRate).toBeLessThan(0.1)
    expect(r.rareLookupSuccess).toBeGreaterThan(0.2)
  }, 120_000)
})
