import {
  CLIENT_HIGH_WATER_BYTES, CLIENT_QUEUE_RECORDS, FLUSH_RETRY_MS, MAX_RECORDS_PER_NOTIFICATION, MAX_SUBSCRIPTIONS_PER_CLIENT
} from './constants.ts'
import { DevLimitReachedError, DevSubscriptionNotFoundError } from './errors.ts'
import { anyJson, traceRecordJson } from './record-json.ts'

/** What the queue needs of a WebSocket (the `ws` package's WebSocket has it). */
export interface OutboundSocket {
  readonly bufferedAmount: number
  send: (data: string) => void
}

export type SubscriptionKind = 'trace' | 'logs'

/** The notification each kind of subscription sends, and the name of its array of items. */
export const NOTIFICATIONS: Readonly<Record<SubscriptionKind, { method: string, field: string }>> = {
  trace: { method: 'trace.records', field: 'records' },
  logs: { method: 'logs.entries', field: 'entries' }
}
/** Sent in place of the records a subscription lost, before the next ones it gets. */
export const DROPPED_NOTIFICATION = 'subscription.dropped'

interface Subscription {
  readonly id: string
  readonly kind: SubscriptionKind
  off: () => void
  /** Records lost since the last notice. */
  dropped: number
}

type Item = { sub: Subscription, item: unknown } | { sub: Subscription, dropped: number }

export interface ClientQueueOptions {
  queueLimit?: number
  highWaterBytes?: number
  maxPerNotification?: number
  retryMs?: number
  maxSubscriptions?: number
}

/**
 * The subscriptions of one WebSocket client and the bounded queue of what they still have to send it. Producers
 * (the trace stream, the log hub) push synchronously and never wait; the queue is flushed on the next turn of the
 * event loop, as one notification per subscription per run of records. A client that reads too slowly fills its
 * socket buffer (up to a high-water mark), then its queue; beyond that, new records are dropped and counted, and the
 * client gets `subscription.dropped` { subscription, dropped } where the gap is. Slow clients lose records; they are
 * not disconnected, and the node's memory for them stays bounded.
 */
export class ClientQueue {
  private readonly socket: OutboundSocket
  private readonly subscriptions = new Map<string, Subscription>()
  private queue: Item[] = []
  private scheduled = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false
  private nextId = 0
  private readonly queueLimit: number
  private readonly highWaterBytes: number
  private readonly maxPerNotification: number
  private readonly retryMs: number
  private readonly maxSubscriptions: number
  /** Records dropped over the connection's life. */
  droppedTotal = 0

  constructor (socket: OutboundSocket, options: ClientQueueOptions = {}) {
    this.socket = socket
    this.queueLimit = options.queueLimit ?? CLIENT_QUEUE_RECORDS
    this.highWaterBytes = options.highWaterBytes ?? CLIENT_HIGH_WATER_BYTES
    this.maxPerNotification = options.maxPerNotification ?? MAX_RECORDS_PER_NOTIFICATION
    this.retryMs = options.retryMs ?? FLUSH_RETRY_MS
    this.maxSubscriptions = options.maxSubscriptions ?? MAX_SUBSCRIPTIONS_PER_CLIENT
  }

  get size (): number {
    return this.queue.length
  }

  /**
   * Opens a subscription: `attach` receives the function that queues one item and returns how to detach.
   * Returns the subscription's id (unique on this connection).
   */
  subscribe (kind: SubscriptionKind, attach: (push: (item: unknown) => void) => () => void): string {
    if (this.subscriptions.size >= this.maxSubscriptions) throw new DevLimitReachedError('subscriptions on this connection', this.maxSubscriptions)
    const sub: Subscription = { id: `${kind}-${++this.nextId}`, kind, off: () => {}, dropped: 0 }
    sub.off = attach((item) => { this.push(sub, item) })
    this.subscriptions.set(sub.id, sub)
    return sub.id
  }

  unsubscribe (id: string): void {
    const sub = this.subscriptions.get(id)
    if (sub === undefined) throw new DevSubscriptionNotFoundError(id)
    this.subscriptions.delete(id)
    sub.off()
  }

  subscriptionIds (): string[] {
    return [...this.subscriptions.keys()]
  }

  private push (sub: Subscription, item: unknown): void {
    if (this.closed || !this.subscriptions.has(sub.id)) return
    if (this.queue.length >= this.queueLimit) {
      sub.dropped++
      this.droppedTotal++
      return
    }
    // The notice goes where the gap is: before the first record that made it in after the loss. It may take the
    // queue one past its limit (once per subscription), which keeps the bound.
    if (sub.dropped > 0) {
      this.queue.push({ sub, dropped: sub.dropped })
      sub.dropped = 0
    }
    this.queue.push({ sub, item })
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false
    this.timer = undefined
    if (this.closed) return
    let i = 0
    const queue = this.queue
    while (i < queue.length) {
      if (this.socket.bufferedAmount > this.highWaterBytes) {
        // The client is behind: keep the rest queued (bounded) and look again shortly.
        this.queue = queue.slice(i)
        this.scheduled = true
        this.timer = setTimeout(this.flush, this.retryMs)
        return
      }
      const first = queue[i] as Item
      if ('dropped' in first) {
        this.sendDropped(first.sub, first.dropped)
        i++
        continue
      }
      // One notification per run of one subscription's items, written as text directly (see record-json.ts).
      const { method, field } = NOTIFICATIONS[first.sub.kind]
      const itemJson = first.sub.kind === 'trace' ? traceRecordJson as (item: unknown) => string : anyJson
      let text = '{"jsonrpc":"2.0","method":"' + method + '","params":{"subscription":"' + first.sub.id + '","' + field + '":['
      let count = 0
      while (i < queue.length && count < this.maxPerNotification) {
        const next = queue[i] as Item
        if (next.sub !== first.sub || 'dropped' in next) break
        text += (count === 0 ? '' : ',') + itemJson(next.item)
        count++
        i++
      }
      this.sendText(text + ']}}')
    }
    this.queue = []
    // Losses with nothing after them yet are reported now, so a client that catches up learns of them.
    for (const sub of this.subscriptions.values()) {
      if (sub.dropped > 0) {
        this.sendDropped(sub, sub.dropped)
        sub.dropped = 0
      }
    }
  }

  private sendDropped (sub: Subscription, dropped: number): void {
    this.send({ jsonrpc: '2.0', method: DROPPED_NOTIFICATION, params: { subscription: sub.id, dropped } })
  }

  private send (message: unknown): void {
    this.sendText(anyJson(message))
  }

  private sendText (text: string): void {
    try {
      this.socket.send(text)
    } catch {
      // A closed socket: the connection's close handler ends the subscriptions.
    }
  }

  /** Ends every subscription and drops what is queued. */
  close (): void {
    if (this.closed) return
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    for (const sub of this.subscriptions.values()) sub.off()
    this.subscriptions.clear()
    this.queue = []
  }
}
