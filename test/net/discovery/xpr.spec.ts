import { generateKeyPair } from '@libp2p/crypto/keys'
import { RecordEnvelope } from '@libp2p/peer-record'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import {
  AdvertisementVerifier, InvalidAdvertisementError, MAX_RECORD_SIZE, ServiceDataTooLargeError, decodeXpr, encodeXpr,
  openAdvertisement, sealAdvertisement, serviceIdOf
} from '../../../src/net/discovery/index.ts'

const addr = multiaddr('/ip4/127.0.0.1/tcp/4001').bytes

describe('extensible peer records', () => {
  it('seal and open: a libp2p signed envelope, domain libp2p-peer-record, payload type 0x0301', async () => {
    const key = await generateKeyPair('Ed25519')
    const bytes = await sealAdvertisement(key, { seq: 7n, addrs: [addr], services: [{ id: '/mix/1.0.0', data: new Uint8Array(33).fill(1) }] })
    const envelope = await RecordEnvelope.openAndCertify(bytes, 'libp2p-peer-record')
    expect([...envelope.payloadType]).toEqual([0x03, 0x01])
    const ad = openAdvertisement(bytes)
    expect(ad.peerIdString).toBe(peerIdFromPrivateKey(key).toString())
    expect(ad.seq).toBe(7n)
    expect(ad.services[0]?.id).toBe('/mix/1.0.0')
    expect(ad.services[0]?.data?.length).toBe(33)
    expect(multiaddr(ad.addrs[0] as Uint8Array).toString()).toBe('/ip4/127.0.0.1/tcp/4001')
  })

  it('is a superset of the libp2p PeerRecord encoding (fields 1-3 unchanged)', () => {
    const rec = { peerId: new Uint8Array([0, 2, 8, 1]), seq: 300n, addrs: [addr], services: [{ id: '/a' }] }
    const back = decodeXpr(encodeXpr(rec))
    expect(back.seq).toBe(300n)
    expect([...back.peerId]).toEqual([0, 2, 8, 1])
    expect(back.services).toEqual([{ id: '/a' }])
  })

  it('refuses a tampered record, a record signed for another peer, another domain or payload type', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const good = await sealAdvertisement(key, { seq: 1n, addrs: [addr], services: [{ id: '/x' }] })
    // flip one byte of the payload (the address), keep the signature
    const tampered = Uint8Array.from(good)
    const at = Buffer.from(tampered).indexOf(Buffer.from(addr)) + 3
    tampered[at] = (tampered[at] as number) ^ 0xff
    expect(() => openAdvertisement(tampered)).toThrow(InvalidAdvertisementError)

    // a record naming `key`'s peer id but signed by `other`
    const forgedPayload = encodeXpr({ peerId: peerIdFromPrivateKey(key).toMultihash().bytes, seq: 1n, addrs: [addr], services: [{ id: '/x' }] })
    const forged = await RecordEnvelope.seal({ domain: 'libp2p-peer-record', codec: Uint8Array.from([3, 1]), marshal: () => forgedPayload, equals: () => false }, other)
    expect(() => openAdvertisement(forged.marshal())).toThrow(/other than its peer id/)

    const wrongDomain = await RecordEnvelope.seal({ domain: 'libp2p-routing-state', codec: Uint8Array.from([3, 1]), marshal: () => forgedPayload, equals: () => false }, key)
    expect(() => openAdvertisement(wrongDomain.marshal())).toThrow(/signature is invalid/)
    const wrongType = await RecordEnvelope.seal({ domain: 'libp2p-peer-record', codec: Uint8Array.from([3, 2]), marshal: () => forgedPayload, equals: () => false }, key)
    expect(() => openAdvertisement(wrongType.marshal())).toThrow(/payload type/)
    expect(() => openAdvertisement(new Uint8Array([1, 2, 3]))).toThrow(InvalidAdvertisementError)
  })

  it('enforces 33 B of service data and 1024 B per record', async () => {
    const key = await generateKeyPair('Ed25519')
    await expect(sealAdvertisement(key, { seq: 1n, addrs: [], services: [{ id: '/x', data: new Uint8Array(34) }] })).rejects.toThrow(ServiceDataTooLargeError)
    const many = Array.from({ length: 40 }, (_, i) => ({ id: `/service/${i}/1.0.0`, data: new Uint8Array(10) }))
    await expect(sealAdvertisement(key, { seq: 1n, addrs: [], services: many })).rejects.toThrow(InvalidAdvertisementError)
    expect(() => openAdvertisement(new Uint8Array(MAX_RECORD_SIZE + 1))).toThrow(InvalidAdvertisementError)
  })

  it('binds the ad to the service asked for', async () => {
    const key = await generateKeyPair('Ed25519')
    const bytes = await sealAdvertisement(key, { seq: 1n, addrs: [], services: [{ id: '/a/1.0.0' }, { id: '/b/1.0.0' }] })
    const v = new AdvertisementVerifier(4)
    expect(v.openFor(bytes, serviceIdOf('/b/1.0.0')).service.id).toBe('/b/1.0.0')
    expect(() => v.openFor(bytes, serviceIdOf('/c/1.0.0'))).toThrow(InvalidAdvertisementError)
  })
})
