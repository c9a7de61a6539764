import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { InvalidTicketError } from './errors.ts'
import { bytesEqual } from './keyspace.ts'
import type { Ticket } from './message.ts'
import { verifySync } from './xpr.ts'

export type UnsignedTicket = Omit<Ticket, 'signature'>

/**
 * What a registrar signs: ad || t_init || t_mod || t_wait_for (LOGOS-SERVICE-DISCOVERY, Ticket), the times as
 * big-endian uint64, uint64 and uint32 as nim-libp2p lays them out (`Ticket.toBytes`), then the 32-byte service id
 * the ticket was issued for.
 *
 * Decision (a point where we tighten the spec): the spec signs (ad, t_init, t_mod, t_wait_for) only, so for a record
 * listing several services the waiting time earned under service A could be spent on service B, whose own waiting
 * time (its c_s, its lower bound) may be far longer. Binding the service id into the signature closes that. The
 * wire is unchanged (a ticket carries the same five fields) and only the registrar that signed a ticket ever
 * verifies it, so this stays interoperable with advertisers that echo tickets back, nim's included.
 */
export function ticketSigningBytes (t: UnsignedTicket, serviceId: Uint8Array): Uint8Array {
  const out = new Uint8Array(t.advertisement.byteLength + 20 + serviceId.byteLength)
  out.set(t.advertisement, 0)
  const view = new DataView(out.buffer, t.advertisement.byteLength)
  view.setBigUint64(0, BigInt(t.tInit))
  view.setBigUint64(8, BigInt(t.tMod))
  view.setUint32(16, t.tWaitFor)
  out.set(serviceId, t.advertisement.byteLength + 20)
  return out
}

/** Signs a ticket for `serviceId` with the registrar's own key, in line (Ed25519 and secp256k1 keys sign synchronously). */
export function signTicket (key: PrivateKey, t: UnsignedTicket, serviceId: Uint8Array): Ticket {
  const sig: unknown = key.sign(ticketSigningBytes(t, serviceId))
  if (!(sig instanceof Uint8Array)) {
    if (sig instanceof Promise) sig.catch(() => {})
    throw new InvalidTicketError(`a registrar needs a key that signs in line (Ed25519 or secp256k1), not ${key.type}`)
  }
  return { ...t, signature: sig }
}

export function verifyTicketSignature (key: PublicKey, t: Ticket, serviceId: Uint8Array): boolean {
  if (t.signature.byteLength === 0) return false
  try {
    return verifySync(key, ticketSigningBytes(t, serviceId), t.signature)
  } catch {
    return false
  }
}

/**
 * Validates a ticket presented with a REGISTER (LOGOS-SERVICE-DISCOVERY, "REGISTER Request Validation" 4): signed by
 * this registrar, for this very advertisement and this very service (our tightening, see ticketSigningBytes),
 * presented inside t_mod + t_wait_for <= now <= t_mod + t_wait_for + delta. Throws InvalidTicketError naming the
 * failed rule.
 */
export function validateTicket (t: Ticket, advertisement: Uint8Array, serviceId: Uint8Array, registrarKey: PublicKey | TicketKey, nowS: number, windowS: number): void {
  if (!bytesEqual(t.advertisement, advertisement)) throw new InvalidTicketError('ticket is for another advertisement')
  const signed = registrarKey instanceof TicketKey ? registrarKey.verify(t, serviceId) : verifyTicketSignature(registrarKey, t, serviceId)
  if (!signed) throw new InvalidTicketError('ticket is not signed by this registrar for this service')
  const scheduled = t.tMod + t.tWaitFor
  if (nowS < scheduled) throw new InvalidTicketError(`ticket presented ${scheduled - nowS} s early`, { data: { scheduled, now: nowS } })
  if (nowS > scheduled + windowS) throw new InvalidTicketError(`ticket presented ${nowS - scheduled - windowS} s after its window`, { data: { scheduled, now: nowS } })
  if (t.tInit > t.tMod) throw new InvalidTicketError('ticket was modified before it was created')
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')

/**
 * The registrar's own key for tickets, kept as Node key objects: every REGISTER signs a ticket and every retry
 * verifies one, and building the key from its JWK on each call (as the generic key classes do) costs more than the
 * signature itself. Keys other than Ed25519 go through the generic classes.
 */
export class TicketKey {
  readonly publicKey: PublicKey
  private readonly key: PrivateKey
  private readonly priv: KeyObject | undefined
  private readonly pub: KeyObject | undefined

  constructor (key: PrivateKey) {
    this.key = key
    this.publicKey = key.publicKey
    if (key.type === 'Ed25519') {
      this.priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, key.raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
      this.pub = createPublicKey({ key: Buffer.concat([SPKI_ED25519, key.publicKey.raw]), format: 'der', type: 'spki' })
    }
  }

  sign (t: UnsignedTicket, serviceId: Uint8Array): Ticket {
    if (this.priv === undefined) return signTicket(this.key, t, serviceId)
    return { ...t, signature: new Uint8Array(nodeSign(null, ticketSigningBytes(t, serviceId), this.priv)) }
  }

  verify (t: Ticket, serviceId: Uint8Array): boolean {
    if (this.pub === undefined) return verifyTicketSignature(this.publicKey, t, serviceId)
    if (t.signature.byteLength !== 64) return false
    return nodeVerify(null, ticketSigningBytes(t, serviceId), this.pub, t.signature)
  }
}
