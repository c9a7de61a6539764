import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { InvalidTicketError, signTicket, ticketSigningBytes, validateTicket, verifyTicketSignature } from '../../../src/net/discovery/index.ts'

describe('tickets', () => {
  const ad = new Uint8Array([1, 2, 3])

  it('signs ad || t_init (u64 BE) || t_mod (u64 BE) || t_wait_for (u32 BE), as nim-libp2p does', () => {
    const b = ticketSigningBytes({ advertisement: ad, tInit: 0x0102, tMod: 0x0304, tWaitFor: 0x05 })
    expect([...b]).toEqual([1, 2, 3, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 5])
  })

  it('validates: own signature, same ad, inside [t_mod + t_wait_for, + delta]', async () => {
    const registrar = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const t = signTicket(registrar, { advertisement: ad, tInit: 1000, tMod: 1010, tWaitFor: 30 })
    expect(verifyTicketSignature(registrar.publicKey, t)).toBe(true)
    expect(verifyTicketSignature(other.publicKey, t)).toBe(false)
    validateTicket(t, ad, registrar.publicKey, 1040, 1)
    validateTicket(t, ad, registrar.publicKey, 1041, 1)
    expect(() => validateTicket(t, ad, registrar.publicKey, 1039, 1)).toThrow(/early/)
    expect(() => validateTicket(t, ad, registrar.publicKey, 1042, 1)).toThrow(/after its window/)
    expect(() => validateTicket(t, new Uint8Array([9]), registrar.publicKey, 1040, 1)).toThrow(/another advertisement/)
    expect(() => validateTicket(t, ad, other.publicKey, 1040, 1)).toThrow(InvalidTicketError)
    // any change to a signed field breaks the signature
    expect(() => validateTicket({ ...t, tInit: 900 }, ad, registrar.publicKey, 1040, 1)).toThrow(/not signed/)
    expect(() => validateTicket({ ...t, tWaitFor: 0, tMod: 1040 }, ad, registrar.publicKey, 1040, 1)).toThrow(/not signed/)
  })
})
