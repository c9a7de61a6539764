import { createHash, randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SURB_LENGTH, decodeAddress, encodeAddress } from '../../../src/crypto/sphinx/index.ts'
import {
  HIDDEN_DEFAULTS, HiddenDescriptorNotFoundError, HiddenDuplicateServiceError, HiddenResponseError, HiddenUnauthorizedError,
  MSG, decodeRendezvous, defaultPublicEntropy, dh, discoveryKey, encodeIntroduce, encodeMixAddress, encodeOuter,
  generateDhKey, generateSigningKey, sealIntroduce
} from '../../../src/net/mix-hidden/index.ts'
import type { HostedService } from '../../../src/net/mix-hidden/index.ts'
import { recordingTransport, startHiddenNet, waitUntil } from './helpers.ts'
import type { HiddenNet, HiddenNode } from './helpers.ts'

const CODEC = HIDDEN_DEFAULTS.HIDDEN_SERVICES_CODEC
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Nodes 0..7 on loopback: C = 0 is the client, S = 7 hosts the service, the others relay (and so do C and S). */
let net: HiddenNet
let C: HiddenNode
let S: HiddenNode
let service: HostedService
const atC = { received: [] as Uint8Array[], sent: [] as Uint8Array[], created: [] as Uint8Array[] }
const clientAuth = generateDhKey()

beforeAll(async () => {
  net = await startHiddenNet(8, {
    wrap: (t, i) => i === 0 ? recordingTransport(t, atC) : t,
    hidden: (i) => i === 0 ? { clientAuthKey: clientAuth.privateKey } : {}
  })
  C = net.nodes[0] as HiddenNode
  S = net.nodes[7] as HiddenNode
  service = await S.services.hidden.host({ protocol: '/test/echo/1', handler: ({ data }) => Uint8Array.from(data).reverse() })
}, 60_000)

afterAll(async () => { await net?.stop() })

function sumCounter (name: string): number {
  return net.nodes.reduce((n, node) => n + (node.services.hidden.getStats().counters[name] ?? 0), 0)
}

describe('a hidden service over the mixnet, on real js-libp2p nodes (TCP loopback)', () => {
  it('S hosts: k = 3 introduction points on other nodes, descriptors at the directories closest to the discovery key', () => {
    expect(service.address).toMatch(/^[a-z2-7]{55}\.mix$/)
    const ips = service.introPointIds()
    expect(ips).toHaveLength(3)
    expect(new Set(ips).size).toBe(3)
    expect(ips).not.toContain(S.peerId.toString())
    const registered = net.nodes.filter(n => (n.services.hidden.getStats().introRegistrations) > 0).map(n => n.peerId.toString())
    expect(registered.sort()).toEqual([...ips].sort())
    // One descriptor per epoch published (the previous epoch's too near an epoch start), each at 4 directories.
    const published = service.lastPublish ?? []
    expect(published.length).toBeGreaterThanOrEqual(1)
    for (const p of published) expect(p.stored).toBe(4)
    expect(net.nodes.reduce((n, x) => n + x.services.hidden.getStats().storedDescriptors, 0)).toBe(4 * published.length)
  })

  it('C reaches S by address alone, and nothing C receives names S or where it is', async () => {
    const data = randomBytes(300)
    // The first request looks up, introduces itself and may try another introduction point: on a loaded machine
    // that can take longer than the default 60 s a request is given.
    const reply = await C.services.hidden.request(service.address, '/test/echo/1', data, { timeoutMs: 120_000 })
    expect(hex(reply)).toBe(hex(Uint8Array.from(data).reverse()))
    expect(S.services.hidden.getStats().sessions).toBe(1)
    // A second request rides the session: no new introduction, through rendezvous nodes both ways.
    const introductions = C.services.hidden.getStats().counters['client.introductions']
    expect(introductions).toBeGreaterThanOrEqual(1)
    const relayedBefore = sumCounter('rendezvousRelayed')
    const second = await C.services.hidden.request(service.address, '/test/echo/1', Uint8Array.of(1, 2, 3))
    expect(Array.from(second)).toEqual([3, 2, 1])
    expect(C.services.hidden.getStats().counters['client.introductions']).toBe(introductions)
    expect(sumCounter('rendezvousRelayed')).toBeGreaterThanOrEqual(relayedBefore + 2)

    // What identifies S: its peer id, its mix key, its address as a multiaddr and as a Sphinx hop address.
    const sAddr = S.getMultiaddrs()[0] as ReturnType<typeof S.getMultiaddrs>[number]
    const base = multiaddr(sAddr.toString().replace(/\/p2p\/.*$/, ''))
    const marks = [S.peerId.toMultihash().bytes, new TextEncoder().encode(S.peerId.toString()), S.services.mix.publicKey, base.bytes, encodeAddress(S.peerId, base)]
    expect(atC.received.length).toBeGreaterThan(3)
    for (const received of atC.received) {
      // C's own SURBs may come back to it (when C is the rendezvous node for one): their return paths are C's own
      // choice, S among the candidates as any mix node, so they are blanked out first.
      const bytes = Buffer.from(received)
      for (const own of atC.created) {
        for (let at = bytes.indexOf(own); at >= 0; at = bytes.indexOf(own, at + 1)) bytes.fill(0, at, at + own.length)
      }
      for (const mark of marks) expect(bytes.includes(Buffer.from(mark))).toBe(false)
    }
    // The descriptor lists introduction points, never S.
    const d = await C.services.hidden.lookup(service.address)
    expect(d.introPoints.map(p => p.peerId.toString())).not.toContain(S.peerId.toString())
    // Every SURB of S that C used (in its Rendezvous messages) starts at some mix node other than S.
    const rendezvous = atC.sent.filter(b => b[0] === MSG.rendezvous).map(decodeRendezvous)
    expect(rendezvous.length).toBeGreaterThanOrEqual(1)
    for (const r of rendezvous) {
      expect(r.surb.length).toBe(SURB_LENGTH)
      expect(decodeAddress(r.surb.subarray(0, 94)).peerId.equals(S.peerId)).toBe(false)
      for (const mark of marks) expect(Buffer.from(r.surb).includes(Buffer.from(mark))).toBe(false)
    }
  }, 150_000)

  it('carries a 20 KB request and a 40 KB response over the session (SURB credit flow), and concurrent requests', async () => {
    const big = await S.services.hidden.host({ protocol: '/test/big/1', handler: ({ data }) => new Uint8Array(Buffer.concat([data, data])) })
    const data = randomBytes(20_000)
    const reply = await C.services.hidden.request(big.address, '/test/big/1', data)
    expect(reply.length).toBe(40_000)
    expect(hex(reply.subarray(20_000))).toBe(hex(data))
    const replies = await Promise.all(Array.from({ length: 5 }, async (_, i) => await C.services.hidden.request(big.address, '/test/big/1', Uint8Array.of(i))))
    expect(replies.map(r => Array.from(r))).toEqual([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]])
    await S.services.hidden.unhost(big.address)
  })

  it('answers a request for another protocol with a typed "no handler"; an unknown address is not found', async () => {
    await expect(C.services.hidden.request(service.address, '/test/other/1', new Uint8Array(1))).rejects.toThrow(HiddenResponseError)
    const nobody = encodeMixAddress(generateSigningKey().key.publicKey)
    await expect(C.services.hidden.lookup(nobody)).rejects.toThrow(HiddenDescriptorNotFoundError)
  })

  it('refuses a replayed Introduce1 at the introduction point (hs 9.5)', async () => {
    const d = await C.services.hidden.lookup(service.address)
    const ip = d.introPoints.find(p => !p.peerId.equals(C.peerId)) as (typeof d.introPoints)[number]
    const ipNode = net.nodes.find(n => n.peerId.equals(ip.peerId)) as HiddenNode
    const client = generateDhKey()
    const intro = sealIntroduce(ip.authKey, client.publicKey, dh(client.privateKey, ip.serviceKey), { appData: new Uint8Array(0), clientSurbs: [] })
    const wire = encodeIntroduce(MSG.introduce1, intro)
    const info = { peerId: ip.peerId, multiaddrs: [ip.multiaddr], mixPublicKey: ipNode.services.mix.publicKey }
    const before = ipNode.services.hidden.getStats()
    const servedBefore = S.services.hidden.getStats().rejected.ERR_HS_MALFORMED ?? 0
    await C.services.mix.sendToExit(info, CODEC, wire)
    await waitUntil(() => (ipNode.services.hidden.getStats().counters.introductionsForwarded ?? 0) === (before.counters.introductionsForwarded ?? 0) + 1)
    // The service got it (and dropped it: its app_data is no frame), then the very same message again:
    await waitUntil(() => (S.services.hidden.getStats().rejected.ERR_HS_MALFORMED ?? 0) > servedBefore)
    await C.services.mix.sendToExit(info, CODEC, wire)
    await waitUntil(() => (ipNode.services.hidden.getStats().rejected.ERR_HS_REPLAY ?? 0) === (before.rejected.ERR_HS_REPLAY ?? 0) + 1)
    expect(ipNode.services.hidden.getStats().counters.introductionsForwarded).toBe((before.counters.introductionsForwarded ?? 0) + 1)
  })

  it('a directory node refuses a tampered descriptor and a stale one, and says so', async () => {
    const d = await C.services.hidden.lookup(service.address)
    const entropy = defaultPublicEntropy(d.epoch)
    const key = discoveryKey(d.outer.signingKey, entropy)
    // The directories responsible for the key: the 4 nodes closest to it (every node knows all 8 here).
    const ring = [...net.nodes].sort((a, b) => {
      const pa = createHash('sha256').update(a.peerId.toMultihash().bytes).digest()
      const pb = createHash('sha256').update(b.peerId.toMultihash().bytes).digest()
      for (let i = 0; i < 32; i++) {
        const x = ((pa[i] as number) ^ (key[i] as number)) - ((pb[i] as number) ^ (key[i] as number))
        if (x !== 0) return x
      }
      return 0
    })
    const dirNode = ring.slice(0, 4).find(n => n !== C) as HiddenNode
    const statusOf = async (descriptor: Uint8Array): Promise<number> => {
      let got: Uint8Array | undefined
      const surbs = C.services.mix.createSurbs(1, { group: `t-${hex(randomBytes(4))}`, exclude: [dirNode.peerId], onReply: (m) => { got = m } })
      const body = new Uint8Array([MSG.publishDescriptor, ...key, descriptor.length >> 8, descriptor.length & 0xff, ...descriptor])
      await C.services.mix.sendToExit({ peerId: dirNode.peerId, multiaddrs: dirNode.getMultiaddrs(), mixPublicKey: dirNode.services.mix.publicKey }, CODEC, body, { surbs })
      await waitUntil(() => got !== undefined)
      return (got as Uint8Array)[1] as number
    }
    const bytes = encodeOuter(d.outer)
    const before = dirNode.services.hidden.getStats().rejected
    // The very descriptor it stores, again: not a higher revision, so stale (status 1).
    expect(await statusOf(bytes)).toBe(1)
    // One flipped bit in the encrypted inner layer: the signature fails (status 2).
    const tampered = Uint8Array.from(bytes)
    tampered[40] = (tampered[40] as number) ^ 1
    expect(await statusOf(tampered)).toBe(2)
    const after = dirNode.services.hidden.getStats().rejected
    expect((after.ERR_HS_DESCRIPTOR_STALE ?? 0) - (before.ERR_HS_DESCRIPTOR_STALE ?? 0)).toBe(1)
    expect((after.ERR_HS_DESCRIPTOR_INVALID ?? 0) - (before.ERR_HS_DESCRIPTOR_INVALID ?? 0)).toBe(1)
    // What clients fetch is still the genuine one.
    const again = await C.services.hidden.lookup(service.address, { fresh: true })
    expect(again.outer.revisionCounter).toBe(d.outer.revisionCounter)
  })

  it('restricted mode: the listed client gets in, another is refused the descriptor', async () => {
    const restricted = await S.services.hidden.host({ protocol: '/test/private/1', handler: () => Uint8Array.of(42), authorizedClients: [clientAuth.publicKey] })
    try {
      expect(Array.from(await C.services.hidden.request(restricted.address, '/test/private/1', new Uint8Array(0)))).toEqual([42])
      const D = net.nodes[3] as HiddenNode
      await expect(D.services.hidden.request(restricted.address, '/test/private/1', new Uint8Array(0))).rejects.toThrow(HiddenUnauthorizedError)
    } finally {
      await S.services.hidden.unhost(restricted.address)
    }
  })

  it('hosting the same identity twice is refused', async () => {
    const identity = randomBytes(32)
    const one = await S.services.hidden.host({ protocol: '/dup/1', handler: () => new Uint8Array(0), identity })
    await expect(S.services.hidden.host({ protocol: '/dup/1', handler: () => new Uint8Array(0), identity })).rejects.toThrow(HiddenDuplicateServiceError)
    await S.services.hidden.unhost(one.address)
  })
})
