import { DemlsClient } from '../../crypto/demls/index.ts'
import type { ClientOptions } from '../../crypto/demls/index.ts'
import { DEFAULT_PUBSUB_SERVICE, MAX_PUBLISH_IN_FLIGHT, MAX_PUBLISH_QUEUE } from './constants.ts'
import { DemlsNoPubsubError, DemlsNotStartedError } from './errors.ts'

/**
 * Runs a De-MLS client over libp2p pub/sub (gossipsub): subscribes to the topics the client asks for, hands it every
 * message that arrives on them, and publishes what it emits. The protocol tolerates loss (votes are re-propagated,
 * commits are announced and re-served), so a failed publish is counted, not retried.
 */

/** What the binding needs of a pub/sub service; @libp2p/gossipsub's GossipSub has it. */
export interface PubSubLike {
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  publish: (topic: string, data: Uint8Array) => Promise<unknown>
  addEventListener: (type: 'message', listener: (evt: CustomEvent<{ topic: string, data: Uint8Array }>) => void) => void
  removeEventListener: (type: 'message', listener: (evt: CustomEvent<{ topic: string, data: Uint8Array }>) => void) => void
}

export interface DemlsGossipsubInit {
  /** A client to run; when absent, one is opened at start() from `clientOptions`. */
  client?: DemlsClient
  clientOptions?: ClientOptions
  /** The name of the pub/sub service among the node's services. */
  pubsubService?: string
  /**
   * Called for every inbound message; returning false drops it. For fault injection in tests (message loss) and
   * for applications that filter.
   */
  inboundFilter?: (topic: string, data: Uint8Array) => boolean
}

export interface DemlsGossipsubComponents {
  // Services are mounted on the components object under their names; the pub/sub one is looked up at start().
  [service: string]: unknown
}

export interface DemlsGossipsubStats {
  received: number
  dropped: number
  published: number
  publishFailed: number
}

export class DemlsGossipsub {
  private readonly components: DemlsGossipsubComponents
  private readonly init: DemlsGossipsubInit
  private clientRef: DemlsClient | undefined
  private pubsub: PubSubLike | undefined
  private subscribed = new Set<string>()
  private readonly offs: Array<() => void> = []
  private readonly queue: Array<{ topic: string, data: Uint8Array }> = []
  private inFlight = 0
  private running = false
  readonly stats: DemlsGossipsubStats = { received: 0, dropped: 0, published: 0, publishFailed: 0 }

  constructor (components: DemlsGossipsubComponents, init: DemlsGossipsubInit = {}) {
    this.components = components
    this.init = init
    this.clientRef = init.client
  }

  readonly [Symbol.toStringTag] = '@logos/demls-gossipsub'

  get client (): DemlsClient {
    if (this.clientRef === undefined) throw new DemlsNotStartedError()
    return this.clientRef
  }

  isStarted (): boolean {
    return this.running
  }

  /** Opens the client (when not given one). */
  async start (): Promise<void> {
    if (this.running) return
    this.clientRef ??= await DemlsClient.open(this.init.clientOptions)
  }

  /** libp2p starts services in parallel; pub/sub is only usable once every service has started. */
  afterStart (): void {
    if (this.running) return
    const pubsub = this.components[this.init.pubsubService ?? DEFAULT_PUBSUB_SERVICE] as PubSubLike | undefined
    if (pubsub === undefined || typeof pubsub.publish !== 'function') throw new DemlsNoPubsubError()
    const client = this.client
    this.pubsub = pubsub
    pubsub.addEventListener('message', this.onMessage)
    this.offs.push(() => { pubsub.removeEventListener('message', this.onMessage) })
    this.offs.push(client.on('outbound', ({ topic, data }) => { this.enqueue(topic, data) }))
    this.offs.push(client.on('topics', ({ topics }) => { this.sync(topics) }))
    this.running = true
    this.sync(client.topics())
    // Groups restored from the store ask at once whether the group moved on while this node was away.
    for (const g of client.groups()) g.catchUp().catch(() => {})
  }

  async stop (): Promise<void> {
    this.clientRef?.stop()
    if (!this.running) return
    this.running = false
    for (const off of this.offs.splice(0)) off()
    for (const t of this.subscribed) {
      try {
        this.pubsub?.unsubscribe(t)
      } catch {
        // the pub/sub service may already be stopped
      }
    }
    this.subscribed = new Set()
    this.queue.length = 0
  }

  private sync (topics: string[]): void {
    if (!this.running || this.pubsub === undefined) return
    const want = new Set(topics)
    for (const t of want) if (!this.subscribed.has(t)) this.pubsub.subscribe(t)
    for (const t of this.subscribed) if (!want.has(t)) this.pubsub.unsubscribe(t)
    this.subscribed = want
  }

  private readonly onMessage = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
    const { topic, data } = evt.detail
    if (!this.subscribed.has(topic)) return
    if (this.init.inboundFilter !== undefined && !this.init.inboundFilter(topic, data)) {
      this.stats.dropped++
      return
    }
    this.stats.received++
    this.clientRef?.handle(topic, data).catch(() => {})
  }

  private enqueue (topic: string, data: Uint8Array): void {
    if (!this.running) return
    if (this.queue.length >= MAX_PUBLISH_QUEUE) {
      this.queue.shift()
      this.stats.publishFailed++
    }
    this.queue.push({ topic, data })
    this.pump()
  }

  private pump (): void {
    while (this.running && this.inFlight < MAX_PUBLISH_IN_FLIGHT && this.queue.length > 0) {
      const { topic, data } = this.queue.shift() as { topic: string, data: Uint8Array }
      this.inFlight++
      const pubsub = this.pubsub as PubSubLike
      pubsub.publish(topic, data).then(() => { this.stats.published++ }, () => { this.stats.publishFailed++ }).finally(() => {
        this.inFlight--
        this.pump()
      })
    }
  }
}

/** The js-libp2p service factory: `services: { pubsub: gossipsub(), demls: demlsGossipsub({ clientOptions }) }`. */
export function demlsGossipsub (init: DemlsGossipsubInit = {}): (components: DemlsGossipsubComponents) => DemlsGossipsub {
  return (components) => new DemlsGossipsub(components, init)
}
