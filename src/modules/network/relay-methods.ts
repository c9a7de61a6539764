import { wakuRelay } from '../../net/delivery/index.ts'
import type { RelayValidator, RelayVerdict, WakuRelay, WakuRelayInit } from '../../net/delivery/index.ts'
import type { MethodTable, ModuleContext } from '../../sdk/index.ts'
import { NetworkConfigError, NetworkParamsError } from './errors.ts'
import { PendingReplies } from './pending-replies.ts'

/**
 * Waku relay (src/net/delivery) as the network module offers it to other modules, at message level. It is a second
 * gossipsub on the node, on /vac/waku/relay/2.0.0, unsigned, with message id sha256(bytes) and asynchronous
 * validation, next to the node's own gossipsub (publish / subscribe / pubsub:message), which is left as it is.
 *
 * - `relaySubscribe({ topic, validate? })`: with `validate`, every message on the topic that passes the relay's own
 *   checks (WakuMessage structure and size on shard topics) is held, not forwarded, and handed over as a
 *   `relay:message` event carrying an `id`; the subscriber decides with `relayValidate({ id, verdict })` (accept,
 *   reject: dropped and its sender penalised, ignore: dropped). No decision within 5 s counts as ignore. Without
 *   `validate`, messages are accepted and arrive as `relay:message` events without an id.
 * - `relayUnsubscribe({ topic })`, `relayPublish({ topic, data })` -> `{ recipients }`, `relayPeers({ topic })`,
 *   `relayInfo`.
 *
 * Configuration: the network configuration's `relay` object (`{ enabled: false }` leaves the relay out;
 * `heartbeatMs`, `validationTimeoutMs`, `maxPendingValidations`).
 */

export const RELAY_EVENTS = {
  'relay:message': { description: '{ topic, data, msgId, from, id? }: a Waku relay message; with an id it waits for relayValidate({ id, verdict })' }
}

/** Messages waiting for a module's verdict at once; beyond it they are ignored (the relay's own bound is 1024). */
export const MAX_PENDING_VERDICTS = 1_024

const NUMERIC = ['heartbeatMs', 'validationTimeoutMs', 'maxPendingValidations'] as const

/** The `relay` part of the network configuration as service options; undefined when the relay is disabled. */
export function parseRelayConfig (raw: unknown): WakuRelayInit | undefined {
  if (raw === undefined) return {}
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new NetworkConfigError('network config: "relay" must be an object')
  const r = raw as Record<string, unknown>
  if (r.enabled === false) return undefined
  const init: WakuRelayInit = {}
  for (const [key, value] of Object.entries(r)) {
    if (key === 'enabled') continue
    if (!(NUMERIC as readonly string[]).includes(key)) throw new NetworkConfigError(`network config: unknown relay option "${key}"`)
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new NetworkConfigError(`network config: relay.${key} must be a positive number`)
  }
  if (typeof r.heartbeatMs === 'number') init.gossipsub = { heartbeatInterval: r.heartbeatMs }
  if (typeof r.validationTimeoutMs === 'number') init.validationTimeoutMs = r.validationTimeoutMs
  if (typeof r.maxPendingValidations === 'number') init.maxPendingValidations = r.maxPendingValidations
  return init
}

/** The relay service to mount next to the network module's own. */
export function relayServices (raw: unknown): Record<string, unknown> {
  const init = parseRelayConfig(raw)
  return init === undefined ? {} : { relay: wakuRelay(init) }
}

function text (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new NetworkParamsError(`"${name}" must be a non-empty string`)
  return value
}

/** The relay methods of the network module, over its relay service. */
export function relayMethods (ctx: ModuleContext, relay: WakuRelay): { methods: MethodTable, stop: () => void } {
  // No window of its own: the relay's validation deadline aborts the wait (then the message is ignored).
  const pending = new PendingReplies<RelayVerdict>({ max: MAX_PENDING_VERDICTS })
  const validated = new Set<string>()

  const bridge: RelayValidator = async (m, options) => {
    if (pending.full) return 'ignore'
    const { id, answer } = pending.open({ signal: options.signal })
    ctx.emit('relay:message', { id, topic: m.topic, data: Uint8Array.from(m.data), msgId: m.msgId, from: m.from })
    return (await answer) ?? 'ignore'
  }

  const onAccepted = (e: CustomEvent<{ topic: string, data: Uint8Array, msgId: string, from: string }>): void => {
    const m = e.detail
    // Validated topics were handed over already, with their id.
    if (validated.has(m.topic)) return
    ctx.emit('relay:message', { topic: m.topic, data: Uint8Array.from(m.data), msgId: m.msgId, from: m.from })
  }
  relay.addEventListener('message', onAccepted)

  const methods: MethodTable = {
    relaySubscribe: {
      description: 'Subscribes to the Waku relay { topic, validate? }: messages arrive as relay:message events (with validate, each waits for relayValidate)',
      handler: (p: { topic: string, validate?: boolean }) => {
        const topic = text(p?.topic, 'topic')
        if (p.validate === true) {
          validated.add(topic)
          relay.setValidator(topic, bridge)
        }
        relay.subscribe(topic)
        return { topic, validate: p.validate === true }
      }
    },
    relayUnsubscribe: {
      description: 'Unsubscribes from the Waku relay { topic }',
      handler: (p: { topic: string }) => {
        const topic = text(p?.topic, 'topic')
        relay.unsubscribe(topic)
        relay.setValidator(topic, undefined)
        validated.delete(topic)
        return { topic }
      }
    },
    relayValidate: {
      description: 'Decides on a held relay:message { id, verdict: accept | reject | ignore }; returns { found }',
      handler: (p: { id: string, verdict: RelayVerdict }) => {
        const id = text(p?.id, 'id')
        if (p.verdict !== 'accept' && p.verdict !== 'reject' && p.verdict !== 'ignore') throw new NetworkParamsError('"verdict" must be accept, reject or ignore')
        return { found: pending.answer(id, p.verdict) }
      }
    },
    relayPublish: {
      description: 'Publishes { topic, data } on the Waku relay (a WakuMessage on shard topics); returns { recipients, peers }',
      handler: async (p: { topic: string, data: Uint8Array }, call) => {
        const topic = text(p?.topic, 'topic')
        if (!(p.data instanceof Uint8Array)) throw new NetworkParamsError('"data" must be a Uint8Array')
        const r = await relay.publish(topic, p.data, { signal: call.signal })
        return { recipients: r.recipients.length, peers: r.recipients }
      }
    },
    relayPeers: {
      description: 'Relay peers of { topic }: { subscribers, mesh, scores }',
      handler: (p: { topic: string }) => {
        const topic = text(p?.topic, 'topic')
        const subscribers = relay.getSubscribers(topic)
        const scores: Record<string, number> = {}
        for (const id of subscribers) scores[id] = relay.getScore(id)
        return { subscribers, mesh: relay.getMeshPeers(topic), scores }
      }
    },
    relayInfo: {
      description: 'The relay: { topics, peers, stats, pendingVerdicts }',
      handler: () => ({ topics: relay.getTopics(), peers: relay.getPeers(), stats: { ...relay.stats }, pendingVerdicts: pending.size })
    }
  }

  return {
    methods,
    stop: () => {
      relay.removeEventListener('message', onAccepted)
      pending.clear()
    }
  }
}
