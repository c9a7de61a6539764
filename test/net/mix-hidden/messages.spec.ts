import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MESSAGE_LENGTH, forwardDataCapacity } from '../../../src/crypto/sphinx/index.ts'
import {
  FRAME_LENGTH, HIDDEN_DEFAULTS, HiddenIntroAuthError, HiddenIntroMacError, HiddenKeyError, HiddenMalformedError,
  HiddenRendezvousIntegrityError, INTRO_APP_DATA_CAPACITY, MSG, decodeEstablishIntro, decodeFrame, decodeIntroduce,
  decodeRendezvous, dh, encodeEstablishIntro, encodeFrame, encodeIntroduce, encodeRendezvous, frameCapacity,
  generateDhKey, generateSigningKey, openInner, openIntroduce, sealInner, sealIntroduce, sessionKeys, verifyEstablishIntro
} from '../../../src/net/mix-hidden/index.ts'
import type { Frame } from '../../../src/net/mix-hidden/index.ts'
import { TagCache } from '../../../src/net/mix-hidden/limits.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const surb = (): Uint8Array => randomBytes(734)

describe('EstablishIntro (hs 7.1, 7.2)', () => {
  it('verifies under the exit secret it was made for and the auth_key that signed it', () => {
    const auth = generateSigningKey().key
    const s = randomBytes(32)
    const wire = encodeEstablishIntro(auth, 4, s)
    expect(wire.length).toBe(1 + 32 + 2 + 16 + 64)
    const m = decodeEstablishIntro(wire)
    expect(hex(m.authKey)).toBe(hex(auth.publicKey))
    expect(m.surbMax).toBe(4)
    expect(() => { verifyEstablishIntro(m, s) }).not.toThrow()
    // Replayed to another intro point (another Sphinx secret): the auth_mac fails.
    expect(() => { verifyEstablishIntro(m, randomBytes(32)) }).toThrow(/auth_mac/)
    // Someone else's auth_key: the signature fails (the MAC is recomputed to isolate the signature check).
    const other = generateSigningKey().key
    const forged = decodeEstablishIntro(encodeEstablishIntro(other, 4, s))
    expect(() => { verifyEstablishIntro({ ...forged, sig: m.sig }, s) }).toThrow(HiddenIntroAuthError)
    expect(() => { verifyEstablishIntro({ ...m, surbMax: 5 }, s) }).toThrow(HiddenIntroAuthError)
    expect(() => decodeEstablishIntro(wire.subarray(0, 100))).toThrow(HiddenMalformedError)
  })
})

describe('Introduce1 / Introduce2 (hs 9.1, 9.2)', () => {
  it('only the service key holder decrypts; the MAC binds auth_key, client_key and the payload', () => {
    const service = generateDhKey()
    const client = generateDhKey()
    const auth = generateSigningKey().key.publicKey
    const sClient = dh(client.privateKey, service.publicKey)
    const request = { appData: randomBytes(500), clientSurbs: [surb(), surb(), surb()] }
    const intro = sealIntroduce(auth, client.publicKey, sClient, request)
    const wire = encodeIntroduce(MSG.introduce1, intro)
    // Forwarded as Introduce2 unchanged (hs 9.1: "simply the forwarded Introduce1 contents").
    const two = decodeIntroduce(MSG.introduce2, encodeIntroduce(MSG.introduce2, decodeIntroduce(MSG.introduce1, wire)))
    const sService = dh(service.privateKey, two.clientKey)
    expect(hex(sService)).toBe(hex(sClient))
    const opened = openIntroduce(two, sService)
    expect(hex(opened.appData)).toBe(hex(request.appData))
    expect(opened.clientSurbs.map(hex)).toEqual(request.clientSurbs.map(hex))
    // Moved to another intro point (another auth_key), or with a flipped payload bit, or under another key: refused.
    expect(() => openIntroduce({ ...two, authKey: generateSigningKey().key.publicKey }, sService)).toThrow(HiddenIntroMacError)
    const flipped = Uint8Array.from(two.encPayload)
    flipped[10] = (flipped[10] as number) ^ 1
    expect(() => openIntroduce({ ...two, encPayload: flipped }, sService)).toThrow(HiddenIntroMacError)
    expect(() => openIntroduce(two, dh(generateDhKey().privateKey, two.clientKey))).toThrow(HiddenIntroMacError)
    // A malformed client_key is refused before any work (hs 9.4 step 3).
    expect(() => dh(service.privateKey, new Uint8Array(32))).toThrow(HiddenKeyError)
  })

  it('a full introduction fits one packet with its ack SURB, and its Introduce2 one SURB reply', () => {
    const intro = sealIntroduce(randomBytes(32), randomBytes(32), randomBytes(32), { appData: randomBytes(INTRO_APP_DATA_CAPACITY), clientSurbs: [surb(), surb(), surb()] })
    const one = encodeIntroduce(MSG.introduce1, intro)
    expect(one.length).toBe(forwardDataCapacity(HIDDEN_DEFAULTS.HIDDEN_SERVICES_CODEC, HIDDEN_DEFAULTS.INTRO_ACK_SURBS))
    expect(encodeIntroduce(MSG.introduce2, intro).length).toBeLessThanOrEqual(MESSAGE_LENGTH)
    expect(INTRO_APP_DATA_CAPACITY).toBe(907)
  })
})

describe('SURB-rendezvous (hs 10.1)', () => {
  it('a Rendezvous message with its SURB and j-byte inner payload fits one forward packet; j fits a SURB reply', () => {
    const wire = encodeRendezvous(surb(), randomBytes(HIDDEN_DEFAULTS.RENDEZVOUS_INNER_LENGTH))
    expect(wire.length).toBeLessThanOrEqual(forwardDataCapacity(HIDDEN_DEFAULTS.HIDDEN_SERVICES_CODEC, 0))
    expect(HIDDEN_DEFAULTS.RENDEZVOUS_INNER_LENGTH).toBeLessThanOrEqual(MESSAGE_LENGTH)
    expect(decodeRendezvous(wire).innerPayload.length).toBe(3184)
    expect(() => encodeRendezvous(surb(), randomBytes(100))).toThrow(HiddenMalformedError)
  })

  it('frames round-trip (property), with and without zero padding', () => {
    const frame = fc.record({
      kind: fc.constantFrom(1, 2, 3),
      used: fc.integer({ min: 0, max: 0xffffffff }),
      want: fc.integer({ min: 0, max: 255 }),
      messageId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
      response: fc.boolean(),
      last: fc.boolean(),
      index: fc.integer({ min: 0, max: 0xffff }),
      surbs: fc.array(fc.uint8Array({ minLength: 734, maxLength: 734 }), { maxLength: 2 }),
      data: fc.uint8Array({ maxLength: frameCapacity(2) })
    })
    fc.assert(fc.property(frame, (f: Frame) => {
      const bytes = encodeFrame(f)
      expect(bytes.length).toBeLessThanOrEqual(FRAME_LENGTH)
      const padded = new Uint8Array(FRAME_LENGTH)
      padded.set(bytes)
      for (const b of [bytes, padded]) {
        const g = decodeFrame(b)
        expect({ ...g, messageId: hex(g.messageId), surbs: g.surbs.map(hex), data: hex(g.data) }).toEqual({ ...f, messageId: hex(f.messageId), surbs: f.surbs.map(hex), data: hex(f.data) })
      }
    }), { numRuns: 50 })
    expect(() => decodeFrame(Uint8Array.of(9, 0, 0))).toThrow(/unknown frame kind/)
  })

  it('one LIONESS layer keyed per direction and per SURB: the other side reads it, the rendezvous node and a tamperer do not', () => {
    const s = randomBytes(32)
    const k = sessionKeys(s)
    const replyKey = randomBytes(16)
    const f: Frame = { kind: 1, used: 3, want: 0, messageId: randomBytes(8), response: false, last: true, index: 0, surbs: [surb()], data: randomBytes(2000) }
    const inner = sealInner(k.clientToService, replyKey, encodeFrame(f))
    expect(inner.length).toBe(3184)
    // What the SURB carries: inner then the rendezvous node's zero padding.
    const m = new Uint8Array(MESSAGE_LENGTH)
    m.set(inner)
    expect(hex(openInner(k.clientToService, replyKey, m).data)).toBe(hex(f.data))
    // The wrong direction key (a reflected packet), another SURB's key, or a flipped bit: integrity failure.
    expect(() => openInner(k.serviceToClient, replyKey, m)).toThrow(HiddenRendezvousIntegrityError)
    expect(() => openInner(k.clientToService, randomBytes(16), m)).toThrow(HiddenRendezvousIntegrityError)
    const t = Uint8Array.from(m)
    t[2000] = (t[2000] as number) ^ 0x80
    expect(() => openInner(k.clientToService, replyKey, t)).toThrow(HiddenRendezvousIntegrityError)
    // The payload looks random: the frame's data is not visible in it.
    expect(Buffer.from(inner).includes(Buffer.from(f.data.subarray(0, 32)))).toBe(false)
  })
})

describe('DoS bounds (our choice where hs 9.5 is open)', () => {
  it('the replay cache remembers the newest tags up to its bound', () => {
    const c = new TagCache(3)
    const tags = [1, 2, 3, 4].map(i => Uint8Array.of(i))
    for (const t of tags) c.add(t)
    expect(c.size).toBe(3)
    expect(c.has(tags[0] as Uint8Array)).toBe(false)
    expect(tags.slice(1).every(t => c.has(t))).toBe(true)
  })
})
