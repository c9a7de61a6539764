/**
 * The per-epoch slot budget shared by cover, locally originated and forwarded packets (mix-cover-traffic.md 4, 5).
 *
 * `remaining` counts the epoch's slots not yet on the wire; the cover queue holds cover packets that reserved a
 * slot and wait for their send time (our cover packets wait the sender's delay, so the queue is those waiting).
 * Invariant: remaining >= coverQueue.length.
 * - A non-cover claim (a local send or a forward) takes a free slot; when every remaining slot is held by queued
 *   cover, it reclaims the oldest queued cover packet, which is then never sent (section 5.2).
 * - Cover reserves only a free slot and consumes it when it actually leaves.
 * - At an epoch boundary the budget refills to R. Queued cover packets carry over (they leave at their time and
 *   count against the new epoch), so the node's output has no gap at the boundary.
 * Claims are atomic: the event loop runs one at a time (section 9.4).
 * The count of non-cover claims per epoch would reveal real traffic: it is never kept (section 9.2).
 */
export interface QueuedCover {
  /** Stops the packet from leaving (its slot was reclaimed or the service stops). */
  cancel: () => void
}

export class SlotPool {
  private remaining: number
  private readonly coverQueue: QueuedCover[] = []
  slotsPerEpoch: number
  epoch = 0n

  constructor (slotsPerEpoch: number) {
    this.slotsPerEpoch = slotsPerEpoch
    this.remaining = slotsPerEpoch
  }

  /** Slots not yet used in this epoch (cover reservations included). */
  get slotsRemaining (): number {
    return this.remaining
  }

  get queuedCover (): number {
    return this.coverQueue.length
  }

  /** ResetEpoch (section 5.3). */
  resetEpoch (epoch: bigint): void {
    this.epoch = epoch
    this.remaining = Math.max(this.slotsPerEpoch, this.coverQueue.length)
  }

  /** ClaimSlot (section 5.2) for a local send or a forward. */
  claim (): boolean {
    if (this.remaining === 0) return false
    if (this.remaining === this.coverQueue.length) {
      const reclaimed = this.coverQueue.shift()
      reclaimed?.cancel()
    }
    this.remaining--
    return true
  }

  /**
   * Gives back a slot claimed in this same turn of the event loop for a packet that was then refused before using it
   * (an incoming packet whose MAC failed, say). The slot is free again; a cover packet the claim reclaimed stays
   * cancelled.
   */
  refund (): void {
    if (this.remaining < this.slotsPerEpoch) this.remaining++
  }

  /** Reserves a free slot for a cover packet that will leave later; false when none is free. */
  reserveCover (entry: QueuedCover): boolean {
    if (this.remaining <= this.coverQueue.length) return false
    this.coverQueue.push(entry)
    return true
  }

  /** The cover packet leaves now: its reservation becomes a used slot. False if it was reclaimed meanwhile. */
  consumeCover (entry: QueuedCover): boolean {
    const i = this.coverQueue.indexOf(entry)
    if (i < 0) return false
    this.coverQueue.splice(i, 1)
    this.remaining--
    return true
  }

  /** Gives a reservation back without using it (the packet could not be built or sent). */
  releaseCover (entry: QueuedCover): void {
    const i = this.coverQueue.indexOf(entry)
    if (i >= 0) this.coverQueue.splice(i, 1)
  }

  /** Cancels every queued cover packet (at stop). */
  clear (): void {
    for (const e of this.coverQueue.splice(0)) e.cancel()
  }
}
