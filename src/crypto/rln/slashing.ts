import { RlnInvalidEvidenceError } from './errors.ts'
import { fieldFromHex, fieldToHex } from './field.ts'
import { recoverSecret } from './nullifier-log.ts'
import type { MessageShare } from './nullifier-log.ts'
import { poseidon } from './poseidon.ts'

/**
 * Proof that a member signalled twice: two shares under one nullifier. Anyone can check it without a zkSNARK:
 * the two shares fix the line y = a0 + x * a1; Poseidon(a1) must be the nullifier, a1 must be
 * Poseidon(a0, external_nullifier, message_id) for a message_id below the limit, and Poseidon(a0) the member's
 * commitment. Only the holder of a0 could have produced such shares.
 */
export interface SlashingEvidence {
  first: MessageShare
  second: MessageShare
  /** The recovered a0. */
  secret: bigint
  /** Poseidon(a0): the commitment of the member to remove. */
  commitment: bigint
  /** The message_id the member used twice. */
  messageId: number
}

/** Builds the evidence from two shares of one nullifier, checking it fully; throws when it does not hold. */
export function buildEvidence (first: MessageShare, second: MessageShare, userMessageLimit: number): SlashingEvidence {
  if (first.nullifier !== second.nullifier || first.externalNullifier !== second.externalNullifier) {
    throw new RlnInvalidEvidenceError('the two shares are not under one nullifier')
  }
  if (first.x === second.x) throw new RlnInvalidEvidenceError('the two shares have the same x')
  const { a0, a1 } = recoverSecret(first, second)
  if (poseidon([a1]) !== first.nullifier) throw new RlnInvalidEvidenceError('the shares do not lie on the line of this nullifier')
  let messageId = -1
  for (let id = 0; id < userMessageLimit; id++) {
    if (poseidon([a0, first.externalNullifier, BigInt(id)]) === a1) { messageId = id; break }
  }
  if (messageId < 0) throw new RlnInvalidEvidenceError('the recovered secret did not make this nullifier for any message_id below the limit')
  return { first: { ...first }, second: { ...second }, secret: a0, commitment: poseidon([a0]), messageId }
}

/** Checks evidence received from someone else against the accused commitment. */
export function verifyEvidence (evidence: SlashingEvidence, commitment: bigint, userMessageLimit: number): void {
  const rebuilt = buildEvidence(evidence.first, evidence.second, userMessageLimit)
  if (rebuilt.secret !== evidence.secret) throw new RlnInvalidEvidenceError('the stated secret is not the one the shares give')
  if (rebuilt.commitment !== commitment) throw new RlnInvalidEvidenceError('the secret belongs to another commitment')
}

interface ShareJson { epoch: string, externalNullifier: string, nullifier: string, x: string, y: string }
export interface SlashingEvidenceJson { first: ShareJson, second: ShareJson, secret: string, commitment: string, messageId: number }

function shareToJson (s: MessageShare): ShareJson {
  return { epoch: s.epoch.toString(), externalNullifier: fieldToHex(s.externalNullifier), nullifier: fieldToHex(s.nullifier), x: fieldToHex(s.x), y: fieldToHex(s.y) }
}

function shareFromJson (s: ShareJson): MessageShare {
  return { epoch: BigInt(s.epoch), externalNullifier: fieldFromHex(s.externalNullifier), nullifier: fieldFromHex(s.nullifier), x: fieldFromHex(s.x), y: fieldFromHex(s.y) }
}

/** A JSON form (field elements as little-endian hex) for events and calls across processes. */
export function evidenceToJson (e: SlashingEvidence): SlashingEvidenceJson {
  return { first: shareToJson(e.first), second: shareToJson(e.second), secret: fieldToHex(e.secret), commitment: fieldToHex(e.commitment), messageId: e.messageId }
}

export function evidenceFromJson (j: SlashingEvidenceJson): SlashingEvidence {
  return { first: shareFromJson(j.first), second: shareFromJson(j.second), secret: fieldFromHex(j.secret), commitment: fieldFromHex(j.commitment), messageId: j.messageId }
}
