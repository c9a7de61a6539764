import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { InvalidTicketError, TicketKey, serviceIdOf, ticketSigningBytes, validateTicket } from '../../../src/net/discovery/index.ts'

describe('tickets', () => {
  const ad = new Uint8Array([1, 2, 3])
  const service = serviceIdOf('/svc/a')
  const other = serviceIdOf('/svc/b')

  it('authenticates ad || t_init (u64 BE) || t_mod (u64 BE) || t_wait_for (u32 BE), as nim-libp2p lays it out, then the service id', () => {
    const b = ticketSigningBytes({ advertisement: ad, tInit: 0x0102, tMod: 0x0304, tWaitFor: 0x05 }, service)
    expect([...b.subarray(0, 23)]).toEqual([1, 2, 3, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 5])
    expect([...b.subarray(23)]).toEqual([...service])
  })

  it('validates: issued by this registrar, same ad, same service, inside [t_mod + t_wait_for, + delta]', async () => {
    const registrar = new TicketKey(await generateKeyPair('Ed25519'))
    const stranger = new TicketKey(await generateKeyPair('Ed25519'))
    const t = registrar.sign({ advertisement: ad, tInit: 1000, tMod: 1010, tWaitFor: 30 }, service)
    // The field keeps an Ed25519 signature's length, so advertisers that echo tickets see no difference.
    expect(t.signature.byteLength).toBe(64)
    expect(registrar.verify(t, service)).toBe(true)
    expect(stranger.verify(t, service)).toBe(false)
    expect(registrar.verify(t, other)).toBe(false)
    validateTicket(t, ad, service, registrar, 1040, 1)
    validateTicket(t, ad, service, registrar, 1041, 1)
    expect(() => validateTicket(t, ad, service, registrar, 1039, 1)).toThrow(/early/)
    expect(() => validateTicket(t, ad, service, registrar, 1042, 1)).toThrow(/after its window/)
    expect(() => validateTicket(t, new Uint8Array([9]), service, registrar, 1040, 1)).toThrow(/another advertisement/)
    expect(() => validateTicket(t, ad, service, stranger, 1040, 1)).toThrow(InvalidTicketError)
    // issued for another service: the time waited there does not count here
    expect(() => validateTicket(t, ad, other, registrar, 1040, 1)).toThrow(/not signed/)
    // any change to an authenticated field breaks it, and so does a cut or flipped authenticator
    expect(() => validateTicket({ ...t, tInit: 900 }, ad, service, registrar, 1040, 1)).toThrow(/not signed/)
    expect(() => validateTicket({ ...t, tWaitFor: 0, tMod: 1040 }, ad, service, registrar, 1040, 1)).toThrow(/not signed/)
    expect(registrar.verify({ ...t, signature: t.signature.subarray(0, 32) }, service)).toBe(false)
    const flipped = Uint8Array.from(t.signature)
    flipped[0] = (flipped[0] as number) ^ 1
    expect(registrar.verify({ ...t, signature: flipped }, service)).toBe(false)
  })

  it('a registrar rebuilt from the same private key (a restart) accepts the tickets it issued', async () => {
    const key = await generateKeyPair('Ed25519')
    const fields = { advertisement: ad, tInit: 5, tMod: 6, tWaitFor: 7 }
    const t = new TicketKey(key).sign(fields, service)
    expect(new TicketKey(key).verify(t, service)).toBe(true)
    validateTicket(t, ad, service, new TicketKey(key), 13, 1)
  })
})
