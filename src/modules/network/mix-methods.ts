import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { mixnet } from '../../net/mix/index.ts'
import type { CoverStrategy, MixDestination, MixIncomingMessage, Mixnet, MixnetInit } from '../../net/mix/index.ts'
import type { MethodTable, ModuleContext } from '../../sdk/index.ts'
import type { NetworkConfig } from './config.ts'
import { NetworkConfigError, NetworkParamsError } from './errors.ts'
import { MixReplyIdError } from './mix-errors.ts'
import { PendingReplies } from './pending-replies.ts'

/**
 * The mixnet as the network module offers it to other modules, at message level:
 * - `mixSend({ peerId | multiaddr, protocol, data, exitIsDestination? })`: fire and forget, through 3 mix nodes;
 * - `mixRequest({ peerId | multiaddr, protocol, data, surbs?, timeoutMs?, exitIsDestination? })` -> `{ data }`: the
 *   destination's answer, back through a SURB;
 * - `mixHandle({ protocol, reply? })`: serve a protocol for messages that come through the mixnet; each arrives as a
 *   `mix:message` event `{ id, protocol, data, expectsReply }`, and `mixReply({ id, data })` answers it;
 * - `mixUnhandle`, `mixInfo`, `mixNodes`, `mixRotateKey`.
 * The service itself (src/net/mix) is mounted on the module's js-libp2p node as `services.mix`, next to capability
 * discovery, which is where it finds mix nodes and advertises its key.
 */

export const MIX_EVENTS = {
  'mix:message': { description: '{ id, protocol, data, expectsReply }: a message that came through the mixnet for a protocol served with mixHandle; answer with mixReply({ id, data })' }
}

/** How long a served message waits for its mixReply; below the exit's delivery timeout (10 s), so the answer makes it. */
export const MIX_REPLY_WINDOW_MS = 8_000
/** Messages waiting for a mixReply at once; more are served without an answer. */
export const MAX_PENDING_MIX_REPLIES = 256

const NUMERIC_OPTIONS = [
  'pathLength', 'meanDelayMs', 'senderDelayMs', 'exitDelayMs', 'minDelayMs', 'keyRotationIntervalMs', 'keyGraceMs',
  'slotsPerEpoch', 'epochMs', 'requestTimeoutMs', 'maxMessageBytes', 'surbTtlMs', 'deliveryTimeoutMs'
] as const

/**
 * The `mix` part of the network configuration, as service options. `{ enabled: false }` leaves the mixnet out. A
 * client-mode node (a light node that relays nothing) sends no cover traffic (mix-cover-traffic.md 8).
 */
export function parseMixConfig (raw: Record<string, unknown>, mode: NetworkConfig['mode']): MixnetInit | undefined {
  if (raw.enabled === false) return undefined
  const init: MixnetInit = {}
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'enabled') continue
    if ((NUMERIC_OPTIONS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new NetworkConfigError(`network config: mix.${key} must be a non-negative number`)
      ;(init as Record<string, unknown>)[key] = value
    } else if (key === 'mixing' || key === 'allowPrivateDestinations') {
      if (typeof value !== 'boolean') throw new NetworkConfigError(`network config: mix.${key} must be a boolean`)
      init[key] = value
    } else if (key === 'announce') {
      if (typeof value !== 'string') throw new NetworkConfigError('network config: mix.announce must be a multiaddr string')
      init.announceAddress = value
    } else if (key === 'cover') {
      const c = value as { strategy?: unknown, rateFraction?: unknown }
      if (c === null || typeof c !== 'object') throw new NetworkConfigError('network config: mix.cover must be an object')
      if (c.strategy !== undefined && !['constant', 'poisson', 'none'].includes(c.strategy as string)) throw new NetworkConfigError('network config: mix.cover.strategy is constant, poisson or none')
      if (c.rateFraction !== undefined && (typeof c.rateFraction !== 'number' || c.rateFraction <= 0 || c.rateFraction > 1)) throw new NetworkConfigError('network config: mix.cover.rateFraction is in (0, 1]')
      init.cover = { strategy: c.strategy as CoverStrategy | undefined, rateFraction: c.rateFraction as number | undefined }
    } else {
      throw new NetworkConfigError(`network config: unknown mix option "${key}"`)
    }
  }
  if (mode === 'client') init.cover = { ...init.cover, strategy: 'none' }
  return init
}

/** The services to mount next to the network module's own. */
export function mixServices (config: NetworkConfig): Record<string, unknown> {
  const init = parseMixConfig(config.mix, config.mode)
  return init === undefined ? {} : { mix: mixnet(init) }
}

function destinationOf (p: { peerId?: unknown, multiaddr?: unknown }): MixDestination {
  if (typeof p.multiaddr === 'string') {
    try {
      return multiaddr(p.multiaddr)
    } catch (err) {
      throw new NetworkParamsError(`"multiaddr" is not a multiaddr: ${p.multiaddr}`, { cause: err })
    }
  }
  if (typeof p.peerId === 'string') {
    try {
      return peerIdFromString(p.peerId)
    } catch (err) {
      throw new NetworkParamsError(`"peerId" is not a peer id: ${p.peerId}`, { cause: err })
    }
  }
  throw new NetworkParamsError('give the destination as "peerId" or "multiaddr"')
}

function text (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new NetworkParamsError(`"${name}" must be a non-empty string`)
  return value
}

function bytes (value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new NetworkParamsError(`"${name}" must be a Uint8Array`)
  return value
}

function optionalNumber (value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new NetworkParamsError(`"${name}" must be a positive number`)
  return value
}

interface SendParams { peerId?: string, multiaddr?: string, protocol: string, data: Uint8Array, exitIsDestination?: boolean }
interface RequestParams extends SendParams { surbs?: number, timeoutMs?: number }

/** The mix methods of the network module, over its mix service. */
export function mixMethods (ctx: ModuleContext, mix: Mixnet): { methods: MethodTable, stop: () => void } {
  const pending = new PendingReplies<Uint8Array>({ max: MAX_PENDING_MIX_REPLIES, windowMs: MIX_REPLY_WINDOW_MS })

  const serve = (reply: boolean) => async (message: MixIncomingMessage): Promise<Uint8Array | undefined> => {
    const answer = reply && !pending.full
    if (reply && !answer) ctx.log.warn('too many mix messages waiting for a reply; serving this one without', { protocol: message.protocol })
    if (!answer) {
      ctx.emit('mix:message', { id: pending.newId(), protocol: message.protocol, data: message.data, expectsReply: false })
      return undefined
    }
    const { id, answer: answered } = pending.open()
    ctx.emit('mix:message', { id, protocol: message.protocol, data: message.data, expectsReply: true })
    return await answered
  }

  const methods: MethodTable = {
    mixSend: {
      description: 'Sends { peerId | multiaddr, protocol, data, exitIsDestination? } anonymously through the mixnet (3 mix nodes); resolves when it left',
      handler: async (p: SendParams, call) => {
        await mix.send(destinationOf(p), text(p?.protocol, 'protocol'), bytes(p.data, 'data'), { exitIsDestination: p.exitIsDestination === true, signal: call.signal })
        return { sent: true }
      }
    },
    mixRequest: {
      description: 'Sends { peerId | multiaddr, protocol, data, surbs?, timeoutMs?, exitIsDestination? } with SURBs and resolves to { data }, the answer',
      handler: async (p: RequestParams, call) => {
        const data = await mix.request(destinationOf(p), text(p?.protocol, 'protocol'), bytes(p.data, 'data'), {
          exitIsDestination: p.exitIsDestination === true,
          surbs: optionalNumber(p.surbs, 'surbs'),
          timeoutMs: optionalNumber(p.timeoutMs, 'timeoutMs'),
          signal: call.signal
        })
        return { data }
      }
    },
    mixHandle: {
      description: 'Serves { protocol, reply? } for messages through the mixnet: each arrives as a mix:message event; with reply (default true) it waits for mixReply',
      handler: async (p: { protocol: string, reply?: boolean }) => {
        const protocol = text(p?.protocol, 'protocol')
        await mix.handle(protocol, serve(p.reply !== false))
        return { protocol }
      }
    },
    mixUnhandle: {
      description: 'Stops serving { protocol } through the mixnet',
      handler: async (p: { protocol: string }) => {
        await mix.unhandle(text(p?.protocol, 'protocol'))
        return { protocol: p.protocol }
      }
    },
    mixReply: {
      description: 'Answers the mix:message { id } with { data }',
      handler: (p: { id: string, data: Uint8Array }) => {
        const id = text(p?.id, 'id')
        const data = bytes(p.data, 'data')
        if (!pending.answer(id, data)) throw new MixReplyIdError(id)
        return { id }
      }
    },
    mixInfo: {
      description: 'This node as a mix node: { publicKey (hex), stats }',
      handler: () => ({ publicKey: Buffer.from(mix.publicKey).toString('hex'), stats: mix.getStats() })
    },
    mixNodes: {
      description: 'The mix nodes known now: [{ peerId, multiaddrs, publicKey (hex) }]',
      handler: () => mix.knownNodes().map(n => ({ peerId: n.peerId.toString(), multiaddrs: n.multiaddrs.map(String), publicKey: Buffer.from(n.mixPublicKey).toString('hex') }))
    },
    mixRotateKey: {
      description: 'Switches to a new mix key now and advertises it: { publicKey (hex) }',
      handler: async (_p: unknown, call) => ({ publicKey: Buffer.from(await mix.rotateKey({ signal: call.signal })).toString('hex') })
    }
  }

  return {
    methods,
    stop: () => {
      pending.clear()
    }
  }
}
