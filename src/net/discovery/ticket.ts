import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { InvalidTicketError } from './errors.ts'
import { bytesEqual } from './keyspace.ts'
import type { Ticket } from './message.ts'
import { verifySync } from './xpr.ts'

export type UnsignedTicket = Omit<Ticket, 'signature'>

/**
 * What a registrar signs: ad || t_init || t_mod || t_wait_for (LOGOS-SERVICE-DISCOVERY, Ticket), the times as
 * big-endian uint64, uint64 and uint32 as nim-libp2p lays them out (`Ticket.toBytes`).
 */
export function ticketSigningBytes (t: UnsignedTicket): Uint8Array {
  const out = new Uint8Array(t.advertisement.byteLength + 20)
  out.set(t.advertisement, 0)
  const view = new DataView(out.buffer, t.advertisement.byteLength)
  view.setBigUint64(0, BigInt(t.tInit))
  view.setBigUint64(8, BigInt(t.tMod))
  view.setUint32(16, t.tWaitFor)
  return out
}

/** Signs a ticket with the registrar's own key, in line (Ed25519 and secp256k1 keys sign synchronously). */
export function signTicket (key: PrivateKey, t: UnsignedTicket): Ticket {
  const sig: unknown = key.sign(ticketSigningBytes(t))
  if (!(sig instanceof Uint8Array)) {
    if (sig instanceof Promise) sig.catch(() => {})
    throw new InvalidTicketError(`a registrar needs a key that signs in line (Ed25519 or secp256k1), not ${key.type}`)
  }
  return { ...t, signature: sig }
}

export function verifyTicketSignature (key: PublicKey, t: Ticket): boolean {
  if (t.signature.byteLength === 0) return false
  try {
    return verifySync(key, ticketSigningBytes(t), t.signature)
  } catch {
    return false
  }
}

/**
 * Validates a ticket presented with a REGISTER (LOGOS-SERVICE-DISCOVERY, "REGISTER Request Validation" 4): signed by
 * this registrar, for this very advertisement, presented inside t_mod + t_wait_for <= now <= t_mod + t_wait_for + delta.
 * Throws InvalidTicketError naming the failed rule.
 */
export function validateTicket (t: Ticket, advertisement: Uint8Array, registrarKey: PublicKey, nowS: number, windowS: number): void {
  if (!bytesEqual(t.advertisement, advertisement)) throw new InvalidTicketError('ticket is for another advertisement')
  if (!verifyTicketSignature(registrarKey, t)) throw new InvalidTicketError('ticket is not signed by this registrar')
  const scheduled = t.tMod + t.tWaitFor
  if (nowS < scheduled) throw new InvalidTicketError(`ticket presented ${scheduled - nowS} s early`, { data: { scheduled, now: nowS } })
  if (nowS > scheduled + windowS) throw new InvalidTicketError(`ticket presented ${nowS - scheduled - windowS} s after its window`, { data: { scheduled, now: nowS } })
  if (t.tInit > t.tMod) throw new InvalidTicketError('ticket was modified before it was created')
}
