import { forwardDataCapacity } from '../../crypto/sphinx/index.ts'
import { MixFragmentError, MixMessageTooLargeError, MixQueueFullError } from './errors.ts'

/**
 * Messages larger than one packet (mix.md 8.3.3 leaves fragmentation to the layer above; we do it here so every
 * user of the service gets it). Each fragment carries a random 8-byte message id, its index and the count
 * (payload.ts); all fragments of a message use the same exit, which reassembles them before delivery, while their
 * first hops are chosen independently.
 */

export interface FragmentPlan {
  /** SURBs this fragment carries. */
  surbs: number
  /** Bytes of the message it carries. */
  bytes: number
}

/**
 * How to cut `length` bytes with `surbCount` SURBs into fragments: SURBs go first, up to `maxSurbsPerPacket` per
 * fragment, and the message fills the room left.
 */
export function planFragments (length: number, codec: string, surbCount: number, maxSurbsPerPacket: number): FragmentPlan[] {
  const plan: FragmentPlan[] = []
  let surbsLeft = surbCount
  let bytesLeft = length
  do {
    let surbs = Math.min(surbsLeft, maxSurbsPerPacket)
    while (surbs > 0 && forwardDataCapacity(codec, surbs) < 0) surbs--
    const capacity = forwardDataCapacity(codec, surbs)
    if (capacity <= 0 && surbs === 0) throw new MixMessageTooLargeError(codec.length, 0, { data: { reason: 'the codec alone fills a packet' } })
    const bytes = Math.min(bytesLeft, Math.max(0, capacity))
    plan.push({ surbs, bytes })
    surbsLeft -= surbs
    bytesLeft -= bytes
    if (plan.length > 0xffff) throw new MixMessageTooLargeError(length, 0xffff * capacity)
  } while (bytesLeft > 0 || surbsLeft > 0)
  return plan
}

export interface ReassemblerInit {
  maxMessages: number
  maxBytes: number
  timeoutMs: number
  /** The most fragments one message may have. */
  maxFragments: number
}

interface PartialMessage<M> {
  count: number
  received: number
  parts: Array<Uint8Array | undefined>
  metas: Array<M | undefined>
  bytes: number
  expiresAt: number
}

/**
 * Collects fragments by message key until all `count` arrived. Bounded three ways: messages in progress, bytes held,
 * and time since the first fragment; anything over a bound is refused with a typed error, never buffered.
 * Duplicate fragments (the same index again) are ignored.
 */
export class Reassembler<M> {
  private readonly partials = new Map<string, PartialMessage<M>>()
  private readonly init: ReassemblerInit
  private bytes = 0

  constructor (init: ReassemblerInit) {
    this.init = init
  }

  get size (): number {
    return this.partials.size
  }

  get heldBytes (): number {
    return this.bytes
  }

  /** Adds a fragment; returns the whole message and the fragments' metadata (by index) when it is complete. */
  add (key: string, index: number, count: number, data: Uint8Array, meta: M, now = Date.now()): { data: Uint8Array, metas: M[] } | undefined {
    if (count > this.init.maxFragments) throw new MixFragmentError(`${count} fragments exceed ${this.init.maxFragments}`)
    if (index >= count) throw new MixFragmentError(`index ${index} of ${count}`)
    if (count === 1) return { data, metas: [meta] }
    this.sweep(now)
    let p = this.partials.get(key)
    if (p === undefined) {
      if (this.partials.size >= this.init.maxMessages) throw new MixQueueFullError('reassembly table', this.init.maxMessages)
      p = { count, received: 0, parts: new Array<Uint8Array | undefined>(count), metas: new Array<M | undefined>(count), bytes: 0, expiresAt: now + this.init.timeoutMs }
      this.partials.set(key, p)
    }
    if (p.count !== count) throw new MixFragmentError(`fragment says ${count} parts, earlier ones said ${p.count}`)
    if (p.parts[index] !== undefined) return undefined
    if (this.bytes + data.length > this.init.maxBytes) throw new MixQueueFullError('reassembly buffer', this.init.maxBytes)
    p.parts[index] = data
    p.metas[index] = meta
    p.received++
    p.bytes += data.length
    this.bytes += data.length
    if (p.received < p.count) return undefined
    this.partials.delete(key)
    this.bytes -= p.bytes
    const out = new Uint8Array(p.bytes)
    let o = 0
    for (const part of p.parts) {
      out.set(part as Uint8Array, o)
      o += (part as Uint8Array).length
    }
    return { data: out, metas: p.metas as M[] }
  }

  /** Drops one message in progress. */
  drop (key: string): void {
    const p = this.partials.get(key)
    if (p === undefined) return
    this.partials.delete(key)
    this.bytes -= p.bytes
  }

  /** Drops messages whose time is up; returns their keys. */
  sweep (now = Date.now()): string[] {
    const dropped: string[] = []
    for (const [key, p] of this.partials) {
      if (p.expiresAt <= now) {
        this.partials.delete(key)
        this.bytes -= p.bytes
        dropped.push(key)
      }
    }
    return dropped
  }

  clear (): void {
    this.partials.clear()
    this.bytes = 0
  }
}
