import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  DescriptorStore, HiddenCapacityError, HiddenDescriptorInvalidError, HiddenDescriptorStaleError, HiddenMalformedError,
  HiddenUnauthorizedError, blindSigningKey, buildDescriptor, decodeOuter, defaultPublicEntropy, discoveryKey, encodeOuter,
  epochOf, generateDhKey, openDescriptor, signingKeyFromSeed, verifyOuter
} from '../../../src/net/mix-hidden/index.ts'
import type { IntroPointEntry, SigningKey } from '../../../src/net/mix-hidden/index.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const DAY = 86_400_000

let points: IntroPointEntry[]
let identity: SigningKey
const epoch = 20_100n

beforeAll(async () => {
  identity = signingKeyFromSeed(randomBytes(32))
  points = await Promise.all([4001, 4002, 4003].map(async port => ({
    peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    multiaddr: multiaddr(`/ip4/127.0.0.1/tcp/${port}`),
    mixPublicKey: generateDhKey().publicKey,
    authKey: signingKeyFromSeed(randomBytes(32)).publicKey,
    serviceKey: generateDhKey().publicKey
  })))
})

function build (overrides: { revision?: bigint, validity?: number, authorizedClients?: Uint8Array[], epochOverride?: bigint } = {}): Uint8Array {
  return buildDescriptor({
    hsId: identity.publicKey,
    blindedKey: blindSigningKey(identity, overrides.epochOverride ?? epoch),
    revisionCounter: overrides.revision ?? 7n,
    validity: overrides.validity ?? 10_800,
    introPoints: points,
    authorizedClients: overrides.authorizedClients
  })
}

function opened (bytes: Uint8Array, clientAuthKey?: Uint8Array): ReturnType<typeof openDescriptor> {
  return openDescriptor(bytes, { hsId: identity.publicKey, epoch, entropy: defaultPublicEntropy(epoch), clientAuthKey })
}

const discKey = (): Uint8Array => discoveryKey(blindSigningKey(identity, epoch).publicKey, defaultPublicEntropy(epoch))

describe('descriptors (hs 8.5)', () => {
  it('encrypts the intro points so only holders of the address read them, and signs with the epoch\'s blinded key', () => {
    const bytes = build()
    expect(bytes.length).toBeLessThan(1200)
    const d = opened(bytes)
    expect(d.restricted).toBe(false)
    expect(d.outer.revisionCounter).toBe(7n)
    expect(d.outer.validity).toBe(10_800)
    expect(hex(d.outer.signingKey)).toBe(hex(blindSigningKey(identity, epoch).publicKey))
    expect(d.introPoints.map(p => p.peerId.toString())).toEqual(points.map(p => p.peerId.toString()))
    expect(d.introPoints.map(p => p.multiaddr.toString())).toEqual(points.map(p => p.multiaddr.toString()))
    expect(d.introPoints.map(p => hex(p.authKey) + hex(p.serviceKey) + hex(p.mixPublicKey))).toEqual(points.map(p => hex(p.authKey) + hex(p.serviceKey) + hex(p.mixPublicKey)))
    // Nothing of the intro points is in the clear.
    for (const p of points) {
      expect(Buffer.from(bytes).includes(Buffer.from(p.authKey))).toBe(false)
      expect(Buffer.from(bytes).includes(Buffer.from(p.peerId.toMultihash().bytes))).toBe(false)
    }
    // Two descriptors of the same content differ (fresh salt) and are padded to the same size.
    const again = build()
    expect(hex(again)).not.toBe(hex(bytes))
    expect(again.length).toBe(bytes.length)
    expect(hex(encodeOuter(decodeOuter(bytes)))).toBe(hex(bytes))
  })

  it('refuses a tampered descriptor: any flipped bit fails the signature, the MAC or the parse (property)', () => {
    const bytes = build()
    fc.assert(fc.property(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), (bit) => {
      const t = Uint8Array.from(bytes)
      t[bit >> 3] = (t[bit >> 3] as number) ^ (1 << (bit & 7))
      let err: unknown
      try {
        opened(t)
      } catch (e) {
        err = e
      }
      expect(err instanceof HiddenDescriptorInvalidError || err instanceof HiddenMalformedError).toBe(true)
    }), { numRuns: 300 })
  })

  it('refuses a descriptor signed for another epoch, or by another service, or re-signed with a forged inner layer', () => {
    expect(() => opened(build({ epochOverride: epoch + 1n }))).toThrow(/discovery key/)
    const other = signingKeyFromSeed(randomBytes(32))
    const foreign = buildDescriptor({ hsId: other.publicKey, blindedKey: blindSigningKey(other, epoch), revisionCounter: 1n, validity: 10_800, introPoints: points })
    expect(() => opened(foreign)).toThrow(HiddenDescriptorInvalidError)
    // A directory node (knowing bk_i but not hs_id... nor the blinded secret) cannot re-sign: a stolen outer layer
    // with a replaced inner blob fails the signature.
    const outer = decodeOuter(build())
    const swapped = encodeOuter({ ...outer, innerLayer: decodeOuter(build()).innerLayer })
    expect(() => opened(swapped)).toThrow(/bad outer signature/)
  })

  it('restricted mode: only listed clients decrypt the intro points; others get a typed refusal', () => {
    const alice = generateDhKey()
    const bob = generateDhKey()
    const eve = generateDhKey()
    const bytes = build({ authorizedClients: [alice.publicKey, bob.publicKey] })
    expect(opened(bytes, alice.privateKey).introPoints.map(p => p.peerId.toString())).toEqual(points.map(p => p.peerId.toString()))
    expect(opened(bytes, bob.privateKey).restricted).toBe(true)
    expect(() => opened(bytes, eve.privateKey)).toThrow(HiddenUnauthorizedError)
    expect(() => opened(bytes)).toThrow(HiddenUnauthorizedError)
    // The directory still checks it like any other (the outer layer is the same).
    expect(verifyOuter(bytes, { discKey: discKey(), epochs: [{ epoch, entropy: defaultPublicEntropy(epoch) }] }).epoch).toBe(epoch)
    // Two and six clients give the same size: the list is padded to a multiple of 8.
    const six = build({ authorizedClients: Array.from({ length: 6 }, () => generateDhKey().publicKey) })
    expect(six.length).toBe(bytes.length)
  })
})

describe('the directory store (hs 8.6 "Discovery Node Processing")', () => {
  const epochs = (): Array<{ epoch: bigint, entropy: Uint8Array }> => [epoch - 1n, epoch, epoch + 1n].map(e => ({ epoch: e, entropy: defaultPublicEntropy(e) }))

  it('stores a valid descriptor for its validity and replaces it only with a higher revision', () => {
    let now = Number(epoch) * DAY + 1000
    const store = new DescriptorStore({ now: () => now, epochs })
    const r = store.put(discKey(), build({ revision: 5n }))
    expect(r.revision).toBe(5n)
    expect(() => store.put(discKey(), build({ revision: 5n }))).toThrow(HiddenDescriptorStaleError)
    expect(() => store.put(discKey(), build({ revision: 4n }))).toThrow(HiddenDescriptorStaleError)
    store.put(discKey(), build({ revision: 6n, validity: 1800 }))
    expect(decodeOuter(store.get(discKey()) as Uint8Array).revisionCounter).toBe(6n)
    now += 1800 * 1000 - 1
    expect(store.get(discKey())).toBeDefined()
    now += 1
    expect(store.get(discKey())).toBeUndefined()
    // Expired: a lower revision may be stored again (a service that restarted its counter with a new epoch, say).
    store.put(discKey(), build({ revision: 1n }))
    expect(store.size).toBe(1)
  })

  it('refuses validity outside 30-720 minutes, a discovery key not derived from the signing key, and a full store', () => {
    const store = new DescriptorStore({ now: () => Number(epoch) * DAY, epochs, capacity: 1 })
    expect(() => store.put(discKey(), build({ validity: 1799 }))).toThrow(/validity/)
    expect(() => store.put(discKey(), build({ validity: 720 * 60 + 1 }))).toThrow(/validity/)
    expect(() => store.put(randomBytes(32), build())).toThrow(/discovery key/)
    // Far-off epochs are refused: only the previous, current and next are accepted.
    const far = signingKeyFromSeed(randomBytes(32))
    const farBk = blindSigningKey(far, epoch + 5n)
    const farDesc = buildDescriptor({ hsId: far.publicKey, blindedKey: farBk, revisionCounter: 1n, validity: 10_800, introPoints: points })
    expect(() => store.put(discoveryKey(farBk.publicKey, defaultPublicEntropy(epoch + 5n)), farDesc)).toThrow(/discovery key/)
    store.put(discKey(), build({ validity: 1800 }))
    const next = blindSigningKey(identity, epoch + 1n)
    const nextDesc = buildDescriptor({ hsId: identity.publicKey, blindedKey: next, revisionCounter: 1n, validity: 1800, introPoints: points })
    expect(() => store.put(discoveryKey(next.publicKey, defaultPublicEntropy(epoch + 1n)), nextDesc)).toThrow(HiddenCapacityError)
  })

  it('epochs are floor(t / 1 day)', () => {
    expect(epochOf(0)).toBe(0n)
    expect(epochOf(DAY - 1)).toBe(0n)
    expect(epochOf(DAY)).toBe(1n)
    expect(epochOf(Date.UTC(2026, 0, 1))).toBe(BigInt(Math.floor(Date.UTC(2026, 0, 1) / DAY)))
  })
})
