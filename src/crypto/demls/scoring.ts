import { fromHex, toHex } from './bytes.ts'
import type { ScoreDeltas, ScoringConfig } from './governance.ts'

/**
 * DE-MLS "Peer Scoring": each member keeps its own table member id -> score, starting at default_peer_score, moved by
 * what it observes; a member at or below threshold_peer_score is put up for removal through an Emergency Criteria
 * Proposal. Tables are local and may differ between members; the ECP vote is what makes a removal a group decision.
 */
export type ScoreEvent = keyof ScoreDeltas

export interface ScoreChange {
  memberId: Uint8Array
  event: ScoreEvent
  delta: number
  score: number
}

export class PeerScores {
  private readonly config: ScoringConfig
  private readonly scores = new Map<string, number>()

  constructor (config: ScoringConfig, initial?: Iterable<[string, number]>) {
    this.config = config
    if (initial !== undefined) for (const [k, v] of initial) this.scores.set(k, v)
  }

  get (memberId: Uint8Array): number {
    return this.scores.get(toHex(memberId)) ?? this.config.defaultScore
  }

  apply (memberId: Uint8Array, event: ScoreEvent): ScoreChange {
    const delta = this.config.deltas[event]
    const key = toHex(memberId)
    const score = (this.scores.get(key) ?? this.config.defaultScore) + delta
    this.scores.set(key, score)
    return { memberId, event, delta, score }
  }

  isBelowThreshold (memberId: Uint8Array): boolean {
    return this.get(memberId) <= this.config.threshold
  }

  /** Keeps the table to the current members: new ones start at the default, departed ones are forgotten. */
  syncMembers (memberIds: Iterable<Uint8Array>): void {
    const keep = new Set<string>()
    for (const id of memberIds) {
      const k = toHex(id)
      keep.add(k)
      if (!this.scores.has(k)) this.scores.set(k, this.config.defaultScore)
    }
    for (const k of [...this.scores.keys()]) if (!keep.has(k)) this.scores.delete(k)
  }

  belowThreshold (): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const [k, v] of this.scores) if (v <= this.config.threshold) out.push(fromHex(k))
    return out
  }

  entries (): Array<[string, number]> {
    return [...this.scores.entries()]
  }
}
