import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import {
  InvalidTicketError, TicketKey, serviceIdOf, signTicket, ticketSigningBytes, validateTicket, verifyTicketSignature
} from '../../../src/net/discovery/index.ts'

describe('tickets', () => {
  const ad = new Uint8Array([1, 2, 3])
  const service = serviceIdOf('/svc/a')
  const other = serviceIdOf('/svc/b')

  it('signs ad || t_init (u64 BE) || t_mod (u64 BE) || t_wait_for (u32 BE), as nim-libp2p does, then the service id', () => {
    const b = ticketSigningBytes({ advertisement: ad, tInit: 0x0102, tMod: 0x0304, tWaitFor: 0x05 }, service)
    expect([...b.subarray(0, 23)]).toEqual([1, 2, 3, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 5])
    expect([...b.subarray(23)]).toEqual([...service])
  })

  it('validates: own signature, same ad, same service, inside [t_mod + t_wait_for, + delta]', async () => {
    const registrar = await generateKeyPair('Ed25519')
    const stranger = await generateKeyPair('Ed25519')
    const t = signTicket(registrar, { advertisement: ad, tInit: 1000, tMod: 1010, tWaitFor: 30 }, service)
    expect(verifyTicketSignature(registrar.publicKey, t, service)).toBe(true)
    expect(verifyTicketSignature(stranger.publicKey, t, service)).toBe(false)
    expect(verifyTicketSignature(registrar.publicKey, t, other)).toBe(false)
    validateTicket(t, ad, service, registrar.publicKey, 1040, 1)
    validateTicket(t, ad, service, registrar.publicKey, 1041, 1)
    expect(() => validateTicket(t, ad, service, registrar.publicKey, 1039, 1)).toThrow(/early/)
    expect(() => validateTicket(t, ad, service, registrar.publicKey, 1042, 1)).toThrow(/after its window/)
    expect(() => validateTicket(t, new Uint8Array([9]), service, registrar.publicKey, 1040, 1)).toThrow(/another advertisement/)
    expect(() => validateTicket(t, ad, service, stranger.publicKey, 1040, 1)).toThrow(InvalidTicketError)
    // issued for another service: the time waited there does not count here
    expect(() => validateTicket(t, ad, other, registrar.publicKey, 1040, 1)).toThrow(/not signed/)
    // any change to a signed field breaks the signature
    expect(() => validateTicket({ ...t, tInit: 900 }, ad, service, registrar.publicKey, 1040, 1)).toThrow(/not signed/)
    expect(() => validateTicket({ ...t, tWaitFor: 0, tMod: 1040 }, ad, service, registrar.publicKey, 1040, 1)).toThrow(/not signed/)
  })

  it('the registrar\'s cached key signs exactly as the libp2p key does', async () => {
    const registrar = await generateKeyPair('Ed25519')
    const fast = new TicketKey(registrar)
    const fields = { advertisement: ad, tInit: 5, tMod: 6, tWaitFor: 7 }
    expect([...fast.sign(fields, service).signature]).toEqual([...signTicket(registrar, fields, service).signature])
    expect(verifyTicketSignature(registrar.publicKey, fast.sign(fields, service), service)).toBe(true)
    expect(fast.verify(signTicket(registrar, fields, service), service)).toBe(true)
    expect(fast.verify(signTicket(registrar, fields, service), other)).toBe(false)
    expect(fast.verify({ ...signTicket(registrar, fields, service), tWaitFor: 8 }, service)).toBe(false)
    validateTicket(fast.sign(fields, service), ad, service, fast, 13, 1)
  })
})
