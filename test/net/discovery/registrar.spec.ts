import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import {
  MessageType, NimMessageType, Registrar, RegistrationStatus, RoutingTable, decodeMessage, encodeMessage, peerKeyOf,
  resolveParams, sealAdvertisement, serviceIdOf
} from '../../../src/net/discovery/index.ts'
import type { DiscoveryMessage, DiscoveryParams, PeerRef, RequestContext, Ticket } from '../../../src/net/discovery/index.ts'

const T0 = 1_800_000_000_000

async function peer (): Promise<{ key: PrivateKey, ref: PeerRef }> {
  const key = await generateKeyPair('Ed25519')
  const idBytes = peerIdFromPrivateKey(key).toMultihash().bytes
  return { key, ref: { id: peerIdFromPrivateKey(key).toString(), idBytes, key: peerKeyOf(idBytes), addrs: [] } }
}

async function registrar (params: Partial<DiscoveryParams> = {}, peers = 0): Promise<{ r: Registrar, key: PrivateKey, table: RoutingTable }> {
  const me = await peer()
  const table = new RoutingTable(me.ref.key, 256)
  for (let i = 0; i < peers; i++) table.add((await peer()).ref)
  const r = new Registrar({ privateKey: me.key, self: me.ref.id, params: resolveParams(params), mainTable: table })
  return { r, key: me.key, table }
}

function register (protocol: string, ad: Uint8Array, ticket?: Ticket, type: number = MessageType.REGISTER): DiscoveryMessage {
  return { type, key: serviceIdOf(protocol), closerPeers: [], register: ticket === undefined ? { advertisement: ad } : { advertisement: ad, ticket } }
}

const ctx = (from: PeerRef, ip: string, nowMs: number): RequestContext => ({ from, fromServes: true, ip, nowMs })

describe('registrar', () => {
  it('admits the first ad at once on an empty cache, and serves it to GET_ADS', async () => {
    const { r } = await registrar({}, 30)
    const a = await peer()
    const ad = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    const res = r.handle(register('/svc/1', ad), ctx(a.ref, '10.0.0.1', T0))
    expect(res?.register?.status).toBe(RegistrationStatus.CONFIRMED)
    expect(res?.closerPeers.length).toBeGreaterThan(0)
    const got = r.handle({ type: MessageType.GET_ADS, key: serviceIdOf('/svc/1'), closerPeers: [] }, ctx(a.ref, '10.0.0.2', T0 + 1000))
    expect(got?.getAds?.advertisements.map(b => Buffer.from(b).toString('hex'))).toEqual([Buffer.from(ad).toString('hex')])
    // a registrar never names the requester itself among closer peers, and names at most one peer per bucket
    expect(got?.closerPeers.some(p => Buffer.from(p.id).equals(Buffer.from(a.ref.idBytes)))).toBe(false)
    expect(got?.closerPeers.length).toBeLessThanOrEqual(16)
  })

  it('answers WAIT with a signed ticket, and admits on a retry inside the window: waiting time accumulates', async () => {
    const { r, key } = await registrar()
    const first = await peer()
    r.handle(register('/svc/1', await sealAdvertisement(first.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })), ctx(first.ref, '10.0.0.1', T0))
    // A second advertiser from the same address: IP score 1, waits about E.
    const a = await peer()
    const ad = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    const wait = r.handle(register('/svc/1', ad), ctx(a.ref, '10.0.0.1', T0 + 5_000))
    expect(wait?.register?.status).toBe(RegistrationStatus.WAIT)
    const t1 = wait?.register?.ticket as Ticket
    expect(t1.tInit).toBe(Math.floor(T0 / 1000) + 5)
    expect(t1.tWaitFor).toBeGreaterThan(800)
    expect(t1.tWaitFor).toBeLessThanOrEqual(900)
    expect(key.publicKey.verify).toBeDefined()
    // too early: rejected
    const early = r.handle(register('/svc/1', ad, t1), ctx(a.ref, '10.0.0.1', T0 + 6_000))
    expect(early?.register?.status).toBe(RegistrationStatus.REJECTED)
    // On time: the waiting time is recomputed and the time waited since t_init is taken off it. The first wait
    // was capped at E, so a short second one may remain; it never restarts from zero.
    let t = t1
    let status: number | undefined
    let rounds = 0
    while (rounds < 5) {
      rounds++
      const res = r.handle(register('/svc/1', ad, t), ctx(a.ref, '10.0.0.1', (t.tMod + t.tWaitFor) * 1000 + 300))
      status = res?.register?.status
      if (status !== RegistrationStatus.WAIT) break
      expect(res?.register?.ticket?.tInit).toBe(t1.tInit)
      expect(res?.register?.ticket?.tWaitFor).toBeLessThan(60)
      t = res?.register?.ticket as Ticket
    }
    expect(status).toBe(RegistrationStatus.CONFIRMED)
    expect(rounds).toBeLessThanOrEqual(2)
    expect(r.stats.confirmed).toBe(2)
  })

  it('refuses forged ads, ads for another service, tampered tickets and tickets for another ad', async () => {
    const { r } = await registrar()
    const a = await peer()
    const ad = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    const forged = Uint8Array.from(ad)
    forged[forged.length - 5] = (forged[forged.length - 5] as number) ^ 1
    expect(r.handle(register('/svc/1', forged), ctx(a.ref, '10.0.0.1', T0))?.register?.status).toBe(RegistrationStatus.REJECTED)
    expect(r.handle(register('/svc/2', ad), ctx(a.ref, '10.0.0.1', T0))?.register?.status).toBe(RegistrationStatus.REJECTED)
    expect(r.handle({ type: 6, closerPeers: [], register: { advertisement: ad } }, ctx(a.ref, '10.0.0.1', T0))?.register?.status).toBe(RegistrationStatus.REJECTED)
    // occupy the IP so the next one waits, then play with its ticket
    const b = await peer()
    r.handle(register('/svc/1', ad), ctx(a.ref, '10.0.0.1', T0))
    const adB = await sealAdvertisement(b.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    const t = r.handle(register('/svc/1', adB), ctx(b.ref, '10.0.0.1', T0))?.register?.ticket as Ticket
    const at = (t.tMod + t.tWaitFor) * 1000
    expect(r.handle(register('/svc/1', adB, { ...t, tInit: t.tInit - 10_000 }), ctx(b.ref, '10.0.0.1', at))?.register?.status).toBe(RegistrationStatus.REJECTED)
    expect(r.handle(register('/svc/1', ad, t), ctx(b.ref, '10.0.0.1', at))?.register?.status).toBe(RegistrationStatus.REJECTED)
    expect(r.stats.rejected).toBe(5)
    expect(r.stats.confirmed).toBe(1)
  })

  it('anti-grinding: asking again without the ticket does not shorten the wait', async () => {
    const { r } = await registrar()
    const seedAd = await peer()
    r.handle(register('/svc/1', await sealAdvertisement(seedAd.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })), ctx(seedAd.ref, '10.0.0.1', T0))
    const a = await peer()
    const ad = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    const w1 = r.handle(register('/svc/1', ad), ctx(a.ref, '10.0.0.1', T0))?.register?.ticket?.tWaitFor as number
    // The entry that made the IP crowded goes away (expiry), so the formula alone would now say 0...
    const w2 = r.handle(register('/svc/1', ad), ctx(a.ref, '10.0.0.1', T0 + 100_000))?.register?.ticket?.tWaitFor as number
    expect(w2).toBeGreaterThanOrEqual(w1 - 100)
  })

  it('under a flood of registrations from one address the cache stays bounded and the waits grow', async () => {
    const { r } = await registrar({ cacheCapacity: 50 })
    let confirmed = 0
    let lastWait = 0
    for (let i = 0; i < 200; i++) {
      const s = await peer()
      const protocol = `/flood/${i % 20}`
      const ad = await sealAdvertisement(s.key, { seq: 1n, addrs: [], services: [{ id: protocol }] })
      const res = r.handle(register(protocol, ad), ctx(s.ref, '66.66.66.66', T0 + i * 10))
      if (res?.register?.status === RegistrationStatus.CONFIRMED) confirmed++
      else lastWait = res?.register?.ticket?.tWaitFor ?? 0
    }
    expect(r.cache.size).toBeLessThanOrEqual(50)
    expect(confirmed).toBeLessThan(5)
    expect(lastWait).toBeGreaterThan(600)
  })

  it('with the IP score off, advertisers that follow their tickets still cannot pass the capacity', async () => {
    const { r } = await registrar({ cacheCapacity: 20, ipSimilarityWeight: 0 })
    const flood = await Promise.all(Array.from({ length: 60 }, async () => {
      const s = await peer()
      return { s, ad: await sealAdvertisement(s.key, { seq: 1n, addrs: [], services: [{ id: '/one' }] }), ticket: undefined as Ticket | undefined, due: 0, done: false }
    }))
    const waits: number[] = []
    let most = 0
    const t0 = Math.floor(T0 / 1000)
    for (let now = t0; now < t0 + 3000; now++) {
      for (const f of flood) {
        if (f.done || now < f.due) continue
        const res = r.handle(register('/one', f.ad, f.ticket), ctx(f.s.ref, '66.66.66.66', now * 1000))
        if (res?.register?.status === RegistrationStatus.WAIT) {
          f.ticket = res.register.ticket
          f.due = now + (f.ticket?.tWaitFor ?? 1)
          waits.push(f.ticket?.tWaitFor ?? 0)
        } else f.done = true
      }
      expect(r.cache.size).toBeLessThanOrEqual(20)
      most = Math.max(most, r.cache.size)
    }
    expect(most).toBeGreaterThanOrEqual(3)
    // as the cache fills the waits reach E (the cap of one ticket)
    expect(Math.max(...waits)).toBe(900)
  })

  it('answers in the numbering the request used (nim-libp2p uses 16/17) and closes on junk', async () => {
    const { r } = await registrar({}, 5)
    const a = await peer()
    const ad = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    expect(r.handle(register('/svc/1', ad, undefined, NimMessageType.REGISTER), ctx(a.ref, '1.2.3.4', T0))?.type).toBe(16)
    const bytes = r.handleBytes(encodeMessage({ type: NimMessageType.GET_ADS, key: serviceIdOf('/svc/1'), closerPeers: [] }), ctx(a.ref, '1.2.3.4', T0))
    expect(decodeMessage(bytes as Uint8Array).type).toBe(17)
    expect(r.handleBytes(Uint8Array.from([0xff, 0xff]), ctx(a.ref, '1.2.3.4', T0))).toBeUndefined()
    expect(r.handle({ type: 4, closerPeers: [] }, ctx(a.ref, '1.2.3.4', T0))).toBeUndefined()
  })

  it('expires ads after E and returns at most F_return', async () => {
    const { r } = await registrar({ ipSimilarityWeight: 0, fReturn: 3, advertExpiryMs: 60_000 })
    for (let i = 0; i < 6; i++) {
      const s = await peer()
      const ad = await sealAdvertisement(s.key, { seq: 1n, addrs: [], services: [{ id: '/svc' }] })
      expect(r.handle(register('/svc', ad), ctx(s.ref, `10.0.${i}.1`, T0))?.register?.status).toBe(RegistrationStatus.CONFIRMED)
    }
    const get = (now: number): number => r.handle({ type: 7, key: serviceIdOf('/svc'), closerPeers: [] }, ctx(undefined as unknown as PeerRef, '1.1.1.1', now))?.getAds?.advertisements.length ?? -1
    expect(get(T0 + 1000)).toBe(3)
    expect(get(T0 + 61_000)).toBe(0)
    expect(r.cache.size).toBe(0)
    expect(r.cache.ipTree.size).toBe(0)
  })
})
