import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import {
  MessageType, NimMessageType, Registrar, RegistrationStatus, RoutingTable, decodeMessage, encodeMessage, peerKeyOf,
  resolveParams, sealAdvertisement, serviceIdOf, toHex
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

  it('refuses a record older than the one it holds for that advertiser, and refreshes only on the same bytes', async () => {
    const { r } = await registrar({ ipSimilarityWeight: 0 })
    const a = await peer()
    const seal = async (seq: bigint, port = 1): Promise<Uint8Array> =>
      await sealAdvertisement(a.key, { seq, addrs: [multiaddr(`/ip4/10.0.0.1/tcp/${port}`).bytes], services: [{ id: '/svc/1' }] })
    const held = (): { seq: bigint, expiresS: number } | undefined => {
      const e = r.cache.get(toHex(serviceIdOf('/svc/1')), a.ref.id)
      return e === undefined ? undefined : { seq: e.ad.seq, expiresS: e.expiresS }
    }
    const ads = (nowMs: number): string[] => (r.handle({ type: MessageType.GET_ADS, key: serviceIdOf('/svc/1'), closerPeers: [] }, ctx(a.ref, '10.0.0.9', nowMs))?.getAds?.advertisements ?? []).map(b => Buffer.from(b).toString('hex'))
    /** Registers `ad`, following the registrar's tickets; returns when (ms) it was confirmed. */
    const admit = (ad: Uint8Array, nowMs: number): number => {
      let ticket: Ticket | undefined
      for (let round = 0; round < 3; round++) {
        const res = r.handle(register('/svc/1', ad, ticket), ctx(a.ref, '10.0.0.1', nowMs))
        if (res?.register?.status === RegistrationStatus.CONFIRMED) return nowMs
        expect(res?.register?.status).toBe(RegistrationStatus.WAIT)
        ticket = res?.register?.ticket as Ticket
        nowMs = (ticket.tMod + ticket.tWaitFor) * 1000
      }
      throw new Error('not admitted')
    }
    const v5 = await seal(5n)
    expect(r.handle(register('/svc/1', v5), ctx(a.ref, '10.0.0.1', T0))?.register?.status).toBe(RegistrationStatus.CONFIRMED)
    const first = held()
    expect(first?.seq).toBe(5n)
    // An older record, validly signed (a replay of what the advertiser published before): refused, and the entry
    // keeps its record and its expiry.
    expect(r.handle(register('/svc/1', await seal(3n)), ctx(a.ref, '10.0.0.1', T0 + 10_000))?.register?.status).toBe(RegistrationStatus.REJECTED)
    // The same seq with other content: refused too (one seq names one record).
    expect(r.handle(register('/svc/1', await seal(5n, 2)), ctx(a.ref, '10.0.0.1', T0 + 20_000))?.register?.status).toBe(RegistrationStatus.REJECTED)
    expect(held()).toEqual(first)
    expect(ads(T0 + 21_000)).toEqual([Buffer.from(v5).toString('hex')])
    // The very same record again (after the short wait its own entry costs it) refreshes the entry's expiry.
    const refreshedAt = admit(v5, T0 + 30_000)
    expect(held()?.expiresS).toBe(Math.floor(refreshedAt / 1000) + 900)
    expect(held()?.expiresS).toBeGreaterThan(first?.expiresS as number)
    // A newer record replaces it.
    const v6 = await seal(6n)
    admit(v6, T0 + 40_000)
    expect(held()?.seq).toBe(6n)
    expect(ads(T0 + 41_000)).toEqual([Buffer.from(v6).toString('hex')])
    expect(r.cache.size).toBe(1)
  })

  it('a ticket earned for one service of a multi-service record is refused for another', async () => {
    const { r } = await registrar()
    // Occupy the address, so a second advertiser from it waits (about E) and gets a ticket.
    const seedPeer = await peer()
    r.handle(register('/a', await sealAdvertisement(seedPeer.key, { seq: 1n, addrs: [], services: [{ id: '/a' }] })), ctx(seedPeer.ref, '10.0.0.1', T0))
    const a = await peer()
    const both = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/a' }, { id: '/b' }] })
    const waitA = r.handle(register('/a', both), ctx(a.ref, '10.0.0.1', T0))
    expect(waitA?.register?.status).toBe(RegistrationStatus.WAIT)
    const ticket = waitA?.register?.ticket as Ticket
    const due = (ticket.tMod + ticket.tWaitFor) * 1000
    // The waiting time accumulated under /a cannot be spent on /b, even inside the ticket's window.
    expect(r.handle(register('/b', both, ticket), ctx(a.ref, '10.0.0.1', due))?.register?.status).toBe(RegistrationStatus.REJECTED)
    // Under /a it is honoured.
    expect(r.handle(register('/a', both, ticket), ctx(a.ref, '10.0.0.1', due))?.register?.status).not.toBe(RegistrationStatus.REJECTED)
  })

  it('bounds what one peer may ask: past its bucket its requests are refused unread, other peers are still served', async () => {
    const { r } = await registrar({ peerRequestsPerSecond: 1, peerRequestBurst: 3 }, 10)
    const [a, b] = [await peer(), await peer()]
    const getAds = encodeMessage({ type: MessageType.GET_ADS, key: serviceIdOf('/svc/1'), closerPeers: [] })
    const served = (from: PeerRef, nowMs: number): boolean => r.handleBytes(getAds, ctx(from, '10.0.0.1', nowMs)) !== undefined
    expect([1, 2, 3, 4, 5].map(() => served(a.ref, T0))).toEqual([true, true, true, false, false])
    expect(served(b.ref, T0)).toBe(true)
    // A REGISTER over the limit costs no verification and no signature: it is refused before it is read.
    const ad = await sealAdvertisement(a.key, { seq: 1n, addrs: [], services: [{ id: '/svc/1' }] })
    expect(r.handleBytes(encodeMessage(register('/svc/1', ad)), ctx(a.ref, '10.0.0.1', T0))).toBeUndefined()
    expect(r.stats.confirmed + r.stats.wait + r.stats.rejected).toBe(0)
    expect(r.stats.rateLimited).toBe(3)
    // The bucket refills at its rate.
    expect([1, 2, 3].map(() => served(a.ref, T0 + 2000))).toEqual([true, true, false])
    // Local lookups (no requester) are never limited.
    expect(r.handle({ type: MessageType.GET_ADS, key: serviceIdOf('/svc/1'), closerPeers: [] }, { from: undefined, fromServes: false, ip: undefined, nowMs: T0 })).toBeDefined()
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
