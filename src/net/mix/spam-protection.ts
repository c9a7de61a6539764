import type { AbortOptions } from '../../common/index.ts'

/**
 * The pluggable DoS / spam protection of the mix protocol (mix.md 6.6, mix-dos-protection.md), in its per-hop
 * generated proof architecture (mix-dos-protection.md 4.2), which LOGOS-MIXNET mandates with RLN
 * (mix-spam-protection-rln.md). The RLN plugin (src/crypto/rln with its net-side glue) implements it; the mix
 * service only calls it.
 *
 * On the wire every packet is `SphinxPacket (4608 bytes) || sigma (proofLength bytes)` (mix-dos-protection.md 4.2.4).
 * - The sender calls `generateProof` over the outgoing Sphinx packet and appends sigma.
 * - Every hop calls `verifyProof` over the received Sphinx packet before any Sphinx work
 *   (mix-dos-protection.md 8.3.2); a throw drops the packet silently.
 * - An intermediary calls `generateProof` again over the packet it forwards; the exit does not.
 * For RLN the signal is keccak256(alpha' | beta' | gamma' | delta') of `packet` (mix-spam-protection-rln.md,
 * "Proof Generation"); computing it is the plugin's business, the service hands over the raw 4608 bytes.
 *
 * Contract (kept stable; add only optional members):
 * - `proofLength` is fixed for a deployment (mix-dos-protection.md 4.2.4: variable proofs are padded).
 * - `generateProof` resolves to exactly `proofLength` bytes; it may wait (RLN proving takes 100-500 ms) and must
 *   honour `signal`. The service starts it when the packet's delay starts, and sends when both are done.
 * - `verifyProof` resolves when the proof is valid and bound to `packet`, and throws a typed error (a LogosError
 *   subclass with a stable code) when it is invalid, stale, from an unknown root, or double signalling; it records
 *   its own state (nullifiers) atomically (mix-dos-protection.md 8.2.2). Malformed proofs must throw, not crash.
 * - Optional `onEpochChange` (mix-dos-protection.md 8.2.3) lets the service align its slot budget with the
 *   plugin's epochs; `slotsPerEpoch` and `epochMs` tell it the budget R and period P the rate limit implies
 *   (mix-cover-traffic.md 4). Without them the service keeps its own epochs.
 */
export interface MixSpamProtection {
  /** Bytes appended to each packet on the wire (fixed per deployment; LOGOS-MIXNET sizes RLN at 300). */
  readonly proofLength: number
  /** A proof over the outgoing Sphinx packet bytes. */
  generateProof: (packet: Uint8Array, options?: AbortOptions) => Promise<Uint8Array>
  /** Resolves when `proof` is valid for `packet`; throws a typed error otherwise. */
  verifyProof: (packet: Uint8Array, proof: Uint8Array, options?: AbortOptions) => Promise<void>
  /** Registers a callback for each new epoch, called before proofs of that epoch are accepted; returns an unsubscribe. */
  onEpochChange?: (callback: (epoch: bigint) => void) => () => void
  /** R: the packets one node may emit per epoch under this rate limit. */
  readonly slotsPerEpoch?: number
  /** P: the epoch length in ms. */
  readonly epochMs?: number
}

/** Splits wire bytes into the Sphinx packet and sigma. */
export function splitProof (wire: Uint8Array, packetLength: number): { packet: Uint8Array, proof: Uint8Array } {
  return { packet: wire.subarray(0, packetLength), proof: wire.subarray(packetLength) }
}

/** Sphinx packet || sigma. */
export function appendProof (packet: Uint8Array, proof: Uint8Array): Uint8Array {
  if (proof.length === 0) return packet
  const out = new Uint8Array(packet.length + proof.length)
  out.set(packet, 0)
  out.set(proof, packet.length)
  return out
}
