import { bytesEqual, compareBytes, sha256, toHex, u32be, u64be } from './bytes.ts'
import type { StewardState } from './governance.ts'

/**
 * DE-MLS "Steward list creation": the list is the members sorted by SHA256(epoch E || retry_round || member id ||
 * group id) ascending, cut to the list size. Epoch and retry round are 8- and 4-byte big-endian. The size is
 * min(sn_max, eligible members): the largest the configuration allows, so a list lasts as many epochs as possible
 * (sn_min only matters as a floor, and it is met whenever the group has that many members).
 */
export function stewardSortKey (epoch: number, retryRound: number, memberId: Uint8Array, groupId: Uint8Array): Uint8Array {
  return sha256(u64be(epoch), u32be(retryRound), memberId, groupId)
}

export function stewardListSize (eligible: number, snMin: number, snMax: number): number {
  return Math.max(Math.min(snMin, eligible), Math.min(snMax, eligible))
}

export function generateStewardList (epoch: number, retryRound: number, eligible: readonly Uint8Array[], groupId: Uint8Array, snMin: number, snMax: number): Uint8Array[] {
  const keyed = eligible.map(id => ({ id, key: stewardSortKey(epoch, retryRound, id, groupId) }))
  keyed.sort((a, b) => compareBytes(a.key, b.key))
  return keyed.slice(0, stewardListSize(eligible.length, snMin, snMax)).map(k => k.id)
}

/** True when `proposed` is exactly what the deterministic generation gives (DE-MLS: anything else MUST be rejected). */
export function isValidStewardList (proposed: readonly Uint8Array[], epoch: number, retryRound: number, eligible: readonly Uint8Array[], groupId: Uint8Array, snMin: number, snMax: number): boolean {
  const expected = generateStewardList(epoch, retryRound, eligible, groupId, snMin, snMax)
  return expected.length === proposed.length && expected.every((id, i) => bytesEqual(id, proposed[i] as Uint8Array))
}

/** Whether the installed list governs `epoch`: its validity ends once its last steward's epoch has passed. */
export function coversEpoch (s: StewardState, epoch: number): boolean {
  const i = epoch - s.startEpoch
  return i >= 0 && i < s.stewards.length
}

/** True in the last epoch a list governs: the moment to elect the next one. */
export function isLastEpoch (s: StewardState, epoch: number): boolean {
  return epoch - s.startEpoch === s.stewards.length - 1
}

/**
 * DE-MLS Layer 1: the order in which stewards get to commit in `epoch`, starting with the epoch steward and going
 * round the list, skipping the ineligible ones (not a member, or removed by the commit being judged). Position 0 is
 * the epoch steward, position 1 the backup steward.
 */
export function stewardWalk (list: readonly Uint8Array[], startIndex: number, isEligible: (id: Uint8Array) => boolean): Uint8Array[] {
  const out: Uint8Array[] = []
  const n = list.length
  for (let k = 0; k < n; k++) {
    const id = list[(((startIndex + k) % n) + n) % n] as Uint8Array
    if (isEligible(id)) out.push(id)
  }
  return out
}

/** DE-MLS Layer 3: during deadlock recovery any member may commit; this is the order they wait in (smallest id first). */
export function recoveryWalk (members: readonly Uint8Array[]): Uint8Array[] {
  return [...members].sort(compareBytes)
}

export function idSet (ids: Iterable<Uint8Array>): Set<string> {
  const s = new Set<string>()
  for (const id of ids) s.add(toHex(id))
  return s
}
