import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { VirtualClock } from '../../../src/net/discovery-sim/index.ts'
import {
  DiscoveryNode, MessageType, RegistrationStatus, RequestFailedError, bucketIndex, decodeMessage, encodeMessage, peerKeyOf,
  resolveParams, sealAdvertisement, serviceIdOf
} from '../../../src/net/discovery/index.ts'
import type { DiscoveryParams, DiscoveryTransport, FoundProvider, Key, LookupResult, PeerRef } from '../../../src/net/discovery/index.ts'

interface Identity { key: PrivateKey, ref: PeerRef }

const SERVICE = '/cap/rare'
const SERVICE_ID = serviceIdOf(SERVICE)

async function identity (): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  const idBytes = peerIdFromPrivateKey(key).toMultihash().bytes
  return { key, ref: { id: peerIdFromPrivateKey(key).toString(), idBytes, key: peerKeyOf(idBytes), addrs: [] } }
}

/** An identity whose key falls in bucket `wanted` (or beyond, for `orCloser`) of a table centred on `center`. */
async function identityIn (center: Key, wanted: number, orCloser = false): Promise<Identity> {
  for (;;) {
    const id = await identity()
    const b = bucketIndex(center, id.ref.key, 16)
    if (b === wanted || (orCloser && b > wanted)) return id
  }
}

/**
 * A small network, by hand: the discoverer's table holds, in the farthest bucket b_0 (asked first), `sybils` Sybil
 * registrars that answer every GET_ADS with F_return valid ads of distinct Sybil identities, plus empty honest
 * registrars to fill K_lookup; and, in a close bucket, one honest registrar holding the single honest provider's ad.
 */
async function eclipseWorld (params: DiscoveryParams, sybils: number, honestFar = 1): Promise<{ lookup: (limit?: number) => Promise<LookupResult & { announced: FoundProvider[] }>, provider: Identity, sybilAdvertisers: Set<string> }> {
  const clock = new VirtualClock()
  const me = await identity()
  const handlers = new Map<string, (bytes: Uint8Array) => Uint8Array | undefined>()
  const transport: DiscoveryTransport = {
    request: async (peer, bytes, options) => {
      await clock.sleep(20, options)
      const answer = handlers.get(peer.id)?.(bytes)
      if (answer === undefined) throw new RequestFailedError('closed')
      return answer
    }
  }
  const peers: PeerRef[] = []
  const sybilAdvertisers = new Set<string>()
  for (let s = 0; s < sybils; s++) {
    const registrar = await identityIn(SERVICE_ID, 0)
    const ads: Uint8Array[] = []
    for (let a = 0; a < params.fReturn; a++) {
      const advertiser = await identity()
      sybilAdvertisers.add(advertiser.ref.id)
      ads.push(await sealAdvertisement(advertiser.key, { seq: 1n, addrs: [], services: [{ id: SERVICE }] }))
    }
    handlers.set(registrar.ref.id, (bytes) => decodeMessage(bytes).type === MessageType.GET_ADS
      ? encodeMessage({ type: MessageType.GET_ADS, closerPeers: [], getAds: { advertisements: ads } })
      : undefined)
    peers.push(registrar.ref)
  }
  const serve = (node: DiscoveryNode) => (bytes: Uint8Array): Uint8Array | undefined =>
    node.handle(bytes, { from: me.ref, fromServes: false, ip: '10.0.0.9' })
  for (let h = 0; h < honestFar; h++) {
    const far = await identityIn(SERVICE_ID, 0)
    const node = new DiscoveryNode({ privateKey: far.key, self: far.ref.id, selfBytes: far.ref.idBytes, params, transport, clock })
    handlers.set(far.ref.id, serve(node))
    peers.push(far.ref)
  }
  // The close registrar holds the provider's ad: the advertiser placed it there, close to the service id.
  const close = await identityIn(SERVICE_ID, 3, true)
  const closeNode = new DiscoveryNode({ privateKey: close.key, self: close.ref.id, selfBytes: close.ref.idBytes, params, transport, clock })
  const provider = await identity()
  const ad = await sealAdvertisement(provider.key, { seq: 1n, addrs: [], services: [{ id: SERVICE }] })
  const admitted = decodeMessage(closeNode.handle(
    encodeMessage({ type: MessageType.REGISTER, key: SERVICE_ID, closerPeers: [], register: { advertisement: ad } }),
    { from: provider.ref, fromServes: true, ip: '10.0.0.2' }
  ) as Uint8Array)
  expect(admitted.register?.status).toBe(RegistrationStatus.CONFIRMED)
  handlers.set(close.ref.id, serve(closeNode))
  peers.push(close.ref)

  const client = new DiscoveryNode({ privateKey: me.key, self: me.ref.id, selfBytes: me.ref.idBytes, params, transport, clock, clientMode: true })
  for (const p of peers) client.addPeer(p)
  return {
    provider,
    sybilAdvertisers,
    lookup: async (limit) => {
      const announced: FoundProvider[] = []
      const result = await clock.runWhile(client.lookup(SERVICE_ID, { limit, onProvider: (p) => announced.push(p) }))
      return { ...result, announced }
    }
  }
}

describe('lookup against Sybil registrars (a rare capability)', () => {
  it('three Sybils in the farthest bucket end the spec\'s walk with Sybils only; with the per-registrar share the walk reaches the honest registrar', async () => {
    const defaults = resolveParams({ ipSimilarityWeight: 0 })
    expect(defaults.lookupAdsPerRegistrar).toBe(1)
    const defended = await eclipseWorld(defaults, 4)
    const r = await defended.lookup()
    const ids = r.providers.map(p => p.ad.peerIdString)
    expect(ids).toContain(defended.provider.ref.id)
    // Every verified ad is kept: the result is still full, the honest provider among Sybil ones.
    expect(ids).toHaveLength(defaults.fLookup)
    expect(new Set(ids).size).toBe(ids.length)
    // The 5 registrars of b_0, then the close one; the provider it names in closerPeers may be asked too (and fail, as
    // it serves nothing here) when its key falls in a bucket not yet walked.
    expect(r.messages - r.failures).toBe(6)
    expect(r.announced.map(p => p.ad.peerIdString).sort()).toEqual([...ids].sort())

    // The spec's stopping rule (every ad counts): the four Sybils' 40 ads end the walk in b_0.
    const spec = resolveParams({ ipSimilarityWeight: 0, lookupAdsPerRegistrar: defaults.fReturn })
    const eclipsed = await eclipseWorld(spec, 4)
    const e = await eclipsed.lookup()
    expect(e.messages).toBe(5)
    expect(e.providers).toHaveLength(spec.fLookup)
    expect(e.providers.every(p => eclipsed.sybilAdvertisers.has(p.ad.peerIdString))).toBe(true)
  }, 60_000)

  it('one registrar cannot end a lookup by itself', async () => {
    const world = await eclipseWorld(resolveParams({ ipSimilarityWeight: 0 }), 1, 0)
    const r = await world.lookup(2)
    // The Sybil's first ad counts, its other nine wait; the walk goes on and the close registrar's ad makes two.
    expect(r.providers.map(p => p.ad.peerIdString)).toContain(world.provider.ref.id)
    expect(r.providers).toHaveLength(2)
    expect(r.messages).toBe(2)
  }, 60_000)

  it('the share is a positive integer; F_return gives the spec\'s rule', () => {
    expect(() => resolveParams({ lookupAdsPerRegistrar: 0 })).toThrow(/positive integer/)
    expect(() => resolveParams({ lookupAdsPerRegistrar: 1.5 })).toThrow(/positive integer/)
    expect(resolveParams({ lookupAdsPerRegistrar: 10 }).lookupAdsPerRegistrar).toBe(10)
  })
})
