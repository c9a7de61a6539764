import { TypedEventEmitter } from '@libp2p/interface'
import type { ComponentLogger, Logger, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { LogosError, UnexpectedError } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import type { MixInternalMessage } from '../mix/index.ts'
import { normalizeMixAddress } from './address.ts'
import { HiddenClient } from './client.ts'
import type { HiddenRequestOptions, LookupOptions } from './client.ts'
import { DIRECTORY_TIMEOUT_MS, EPOCH_LENGTH_MS, HIDDEN_SERVICES_CODEC, MAX_INTRO_SERVICES, MAX_STORED_DESCRIPTORS, SWEEP_INTERVAL_MS } from './constants.ts'
import type { HiddenContext } from './context.ts'
import { defaultPublicEntropy, epochOf } from './descriptor.ts'
import type { OpenedDescriptor } from './descriptor.ts'
import { DescriptorStore } from './directory.ts'
import { HiddenDescriptorStaleError, HiddenDuplicateServiceError, HiddenMalformedError, HiddenNotStartedError } from './errors.ts'
import { IntroPointRole } from './intro-point.ts'
import {
  MSG, PUBLISH_STATUS, decodeFetch, decodePublish, decodeRendezvous, encodeDescriptorResult, encodeStatus, messageType
} from './messages.ts'
import { HostedService } from './service.ts'
import type { HostInit } from './service.ts'
import type { HiddenMixTransport } from './transport.ts'

/** The components the layer needs: our peer id and the mix service (js-libp2p hands it in as `components.mix`). */
export interface HiddenServicesComponents {
  peerId: PeerId
  mix: HiddenMixTransport
  logger?: ComponentLogger
}

/** Options of the layer; the defaults are in constants.ts. */
export interface HiddenServicesInit {
  /**
   * The clock of epochs, descriptor validity and introduction registrations (ms since 1970); tests move it to cross
   * an epoch. Sessions and SURBs keep to the system clock, as the mix service does.
   */
  now?: () => number
  /** The descriptor epoch length (default one day, hs 8.3). */
  epochLengthMs?: number
  /** get_public_entropy(epoch) (hs 8.4); the default is derived from the epoch alone (descriptor.ts). */
  publicEntropy?: (epoch: bigint) => Uint8Array
  /** This node's X25519 client authorisation key (private, 32 bytes), for services in restricted mode. */
  clientAuthKey?: Uint8Array
  /** Services this node serves as an introduction point for at most. */
  maxIntroServices?: number
  /** Descriptors this node stores as a directory at most. */
  maxStoredDescriptors?: number
  /** How long a publish or a fetch waits for a directory's answer through the mixnet (default 20 s). */
  directoryTimeoutMs?: number
}

export interface HiddenStats {
  /** Dropped messages and failed steps by error code (hs: failures are silent drops; they are counted here). */
  rejected: Record<string, number>
  /** Work done as an introduction point, rendezvous node and directory, and as a service and client. */
  counters: Record<string, number>
  introRegistrations: number
  storedDescriptors: number
  hosted: number
  sessions: number
  connections: number
}

export interface HiddenServicesEvents {
  /** A hidden-service message was dropped or a step failed; `code` says why. */
  rejected: CustomEvent<{ code: string, error: Error }>
}

/** The hidden-service layer over the mix service (hs 6.4): host services, reach them, and serve as a relay. */
export interface HiddenServices extends Startable, TypedEventTarget<HiddenServicesEvents> {
  /** Hosts a service: introduction points, descriptor published; resolves once reachable, with its `.mix` address. */
  host: (init: HostInit, options?: AbortOptions) => Promise<HostedService>
  /** Stops hosting (its descriptors age out at the directories, its introduction points forget it). */
  unhost: (address: string) => Promise<void>
  hosted: () => HostedService[]
  /** Fetches and opens the descriptor of a service (hs 8.6 "Client Processing"). */
  lookup: (address: string, options?: LookupOptions) => Promise<OpenedDescriptor>
  /** A request to the service at `address`, resolving to its response (hs 9, 10). */
  request: (address: string, protocol: string, data: Uint8Array, options?: HiddenRequestOptions) => Promise<Uint8Array>
  /** Ends the session with a service. */
  disconnect: (address: string) => void
  getStats: () => HiddenStats
}

export class HiddenServicesService extends TypedEventEmitter<HiddenServicesEvents> implements HiddenServices {
  private readonly components: HiddenServicesComponents
  private readonly initOptions: HiddenServicesInit
  private readonly log: Logger
  private ctx?: HiddenContext
  private intro?: IntroPointRole
  private client?: HiddenClient
  private readonly services = new Map<string, HostedService>()
  private readonly rejected: Record<string, number> = {}
  private readonly counters: Record<string, number> = {}
  private sweepTimer?: ReturnType<typeof setInterval>
  private started = false

  constructor (components: HiddenServicesComponents, init: HiddenServicesInit = {}) {
    super()
    this.components = components
    this.initOptions = init
    this.log = (components.logger ?? defaultLogger()).forComponent('logos:mix-hidden')
  }

  readonly [Symbol.toStringTag] = '@logos/mix-hidden'

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    if (this.started) return
    const now = this.initOptions.now ?? Date.now
    const epochLengthMs = this.initOptions.epochLengthMs ?? EPOCH_LENGTH_MS
    const entropy = this.initOptions.publicEntropy ?? defaultPublicEntropy
    const transport = this.components.mix
    const ctx: HiddenContext = {
      transport,
      self: this.components.peerId,
      now,
      epochLengthMs,
      directoryTimeoutMs: this.initOptions.directoryTimeoutMs ?? DIRECTORY_TIMEOUT_MS,
      entropy,
      store: new DescriptorStore({
        now,
        capacity: this.initOptions.maxStoredDescriptors ?? MAX_STORED_DESCRIPTORS,
        epochs: () => {
          const e = epochOf(now(), epochLengthMs)
          return [e - 1n, e, e + 1n].map(epoch => ({ epoch, entropy: entropy(epoch) }))
        }
      }),
      log: this.log,
      reject: (err) => { this.reject(err) },
      count: (name, n = 1) => { this.counters[name] = (this.counters[name] ?? 0) + n },
      deliverLocal: async (msg) => { await this.onInternal(msg) }
    }
    this.ctx = ctx
    this.intro = new IntroPointRole(ctx, this.initOptions.maxIntroServices ?? MAX_INTRO_SERVICES)
    this.client = new HiddenClient(ctx)
    transport.handleInternal(HIDDEN_SERVICES_CODEC, async (msg) => { await this.onInternal(msg) })
    this.sweepTimer = setInterval(() => {
      this.intro?.sweep()
      ctx.store.sweep()
      this.client?.sweep()
      for (const s of this.services.values()) s.sweep()
    }, SWEEP_INTERVAL_MS)
    this.sweepTimer.unref?.()
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    this.components.mix.unhandleInternal(HIDDEN_SERVICES_CODEC)
    await Promise.all([...this.services.values()].map(async s => { await s.stop() }))
    this.services.clear()
    this.client?.stop()
  }

  async host (init: HostInit, options: AbortOptions = {}): Promise<HostedService> {
    const ctx = this.context()
    const service = new HostedService(ctx, init)
    if (this.services.has(service.address)) throw new HiddenDuplicateServiceError(service.address)
    this.services.set(service.address, service)
    try {
      await service.start(options)
    } catch (err) {
      this.services.delete(service.address)
      await service.stop()
      throw err
    }
    return service
  }

  async unhost (address: string): Promise<void> {
    const key = normalizeMixAddress(address)
    const s = this.services.get(key)
    this.services.delete(key)
    await s?.stop()
  }

  hosted (): HostedService[] {
    return [...this.services.values()]
  }

  async lookup (address: string, options: LookupOptions = {}): Promise<OpenedDescriptor> {
    this.context()
    return await (this.client as HiddenClient).lookup(address, { clientAuthKey: this.initOptions.clientAuthKey, ...options })
  }

  async request (address: string, protocol: string, data: Uint8Array, options: HiddenRequestOptions = {}): Promise<Uint8Array> {
    this.context()
    return await (this.client as HiddenClient).request(address, protocol, data, { clientAuthKey: this.initOptions.clientAuthKey, ...options })
  }

  disconnect (address: string): void {
    this.client?.disconnect(address)
  }

  getStats (): HiddenStats {
    return {
      rejected: { ...this.rejected },
      counters: { ...this.counters, ...prefixed('client', this.client?.stats) },
      introRegistrations: this.intro?.size ?? 0,
      storedDescriptors: this.ctx?.store.size ?? 0,
      hosted: this.services.size,
      sessions: [...this.services.values()].reduce((n, s) => n + s.sessionCount, 0),
      connections: this.client?.connectionCount ?? 0
    }
  }

  // -----------------------------------------------------------------------------------------------------------

  private context (): HiddenContext {
    if (!this.started || this.ctx === undefined) throw new HiddenNotStartedError()
    return this.ctx
  }

  /** What this node does as the exit of a `/mix/hiddenservices/1.0.0` message (hs 6.5). */
  private async onInternal (msg: MixInternalMessage): Promise<void> {
    const ctx = this.ctx
    const intro = this.intro
    if (!this.started || ctx === undefined || intro === undefined) return
    try {
      switch (messageType(msg.data)) {
        case MSG.establishIntro: await intro.onEstablish(msg); break
        case MSG.introSurbs: await intro.onRefill(msg); break
        case MSG.introduce1: await intro.onIntroduce1(msg); break
        case MSG.rendezvous: {
          // hs 10.1 "Exit/Rendezvous processing": the SURB makes the header, inner_payload (zero-padded) the payload.
          const r = decodeRendezvous(msg.data)
          await ctx.transport.sendViaSurb(r.surb, r.innerPayload)
          ctx.count('rendezvousRelayed')
          break
        }
        case MSG.publishDescriptor: {
          const p = decodePublish(msg.data)
          let status: number = PUBLISH_STATUS.stored
          try {
            ctx.store.put(p.discKey, p.descriptor)
            ctx.count('descriptorsStored')
          } catch (err) {
            status = err instanceof HiddenDescriptorStaleError ? PUBLISH_STATUS.stale : PUBLISH_STATUS.invalid
            this.reject(err)
          }
          const ack = msg.surbs[0]
          if (ack !== undefined) await ctx.transport.sendViaSurb(ack, encodeStatus(MSG.publishAck, status))
          break
        }
        case MSG.fetchDescriptor: {
          const descriptor = ctx.store.get(decodeFetch(msg.data))
          if (descriptor !== undefined) ctx.count('descriptorsServed')
          const ack = msg.surbs[0]
          if (ack !== undefined) await ctx.transport.sendViaSurb(ack, encodeDescriptorResult(descriptor))
          break
        }
        default: throw new HiddenMalformedError(`unknown message type ${messageType(msg.data)}`)
      }
    } catch (err) {
      this.reject(err)
    }
  }

  private reject (err: unknown): void {
    // After stop, what still fails is the teardown's own business (a goodbye frame with the mix service gone).
    if (!this.started) return
    const e = err instanceof LogosError ? err : new UnexpectedError((err as Error)?.message ?? String(err), { cause: err })
    this.rejected[e.code] = (this.rejected[e.code] ?? 0) + 1
    this.log('dropped: %s %s', e.code, e.message)
    try {
      this.safeDispatchEvent('rejected', { detail: { code: e.code, error: e } })
    } catch (listenerErr) {
      this.log.error('event listener failed: %e', listenerErr)
    }
  }
}

function prefixed (prefix: string, stats: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(stats ?? {})) out[`${prefix}.${k}`] = v
  return out
}
