import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../common/index.ts'
import { basePointMul } from '../../crypto/sphinx/index.ts'
import { mixHiddenServices } from '../../net/mix-hidden/index.ts'
import type { HiddenServices, HostedService } from '../../net/mix-hidden/index.ts'
import type { MethodTable, ModuleContext } from '../../sdk/index.ts'
import { NetworkParamsError } from './errors.ts'
import { HiddenKeyFileError, HiddenNoReplyError, HiddenReplyIdError } from './hidden-errors.ts'
import { PendingReplies } from './pending-replies.ts'

/**
 * Hidden services over the mixnet as the network module offers them (src/net/mix-hidden):
 * - `hostHiddenService({ protocol, authorizedClients? })` -> `{ address }`: host a service for `protocol` under a
 *   `.mix` address that stays the same across restarts (its identity key is kept in the data directory); each
 *   request arrives as a `hidden:request` event `{ id, address, protocol, data }`, answered by `hiddenReply({ id,
 *   data })` within 20 s (as mixHandle and mixReply);
 * - `hiddenRequest({ address, protocol, payload, timeoutMs? })` -> `{ data }`: a request to a hidden service by
 *   address, through an introduction point at first and then through rendezvous nodes;
 * - `stopHiddenService`, `hiddenServices`, `hiddenLookup`, `hiddenClientKey` (this node's client authorisation key,
 *   to give to a restricted service's operator), `hiddenInfo`.
 * Every node with the mixnet also serves as introduction point, directory and rendezvous node for others.
 */

export const HIDDEN_EVENTS = {
  'hidden:request': { description: '{ id, address, protocol, data }: a request to a service hosted with hostHiddenService; answer with hiddenReply({ id, data })' }
}

/** How long a request waits for its hiddenReply: below the service's handler timeout (30 s), so the answer makes it. */
export const HIDDEN_REPLY_WINDOW_MS = 20_000
/** Requests waiting for a hiddenReply at once; more are answered "handler failed". */
export const MAX_PENDING_HIDDEN_REPLIES = 256
/** Folder of the module's data directory holding hidden-service identity seeds and the client authorisation key. */
export const HIDDEN_KEYS_DIR = 'hidden-services'
/** The client authorisation key's file in that folder. */
export const CLIENT_AUTH_KEY_FILE = 'client-auth.key'

/** The services to mount next to the mix service (the hidden-service layer needs it: none without the mixnet). */
export function hiddenServices (mixMounted: boolean): Record<string, unknown> {
  return mixMounted ? { hidden: mixHiddenServices() } : {}
}

function text (value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new NetworkParamsError(`"${name}" must be a non-empty string`)
  return value
}

function bytes (value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new NetworkParamsError(`"${name}" must be a Uint8Array`)
  return value
}

function hexKeys (value: unknown, name: string): Uint8Array[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string' && /^[0-9a-f]{64}$/i.test(v))) {
    throw new NetworkParamsError(`"${name}" must be a list of 32-byte keys in hex`)
  }
  return (value as string[]).map(v => new Uint8Array(Buffer.from(v, 'hex')))
}

function optionalTimeout (value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new NetworkParamsError('"timeoutMs" must be a positive number')
  return value
}

/** A 32-byte secret kept in the data directory (mode 0600), made on first use. */
async function loadOrCreateSecret (path: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path)
    if (b.length !== 32) throw new HiddenKeyFileError(path)
    return new Uint8Array(b)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const secret = new Uint8Array(randomBytes(32))
  await writeFileAtomic(path, secret, { mode: 0o600 })
  return secret
}

interface HostParams { protocol: string, authorizedClients?: string[] }
interface RequestParams { address: string, protocol: string, payload: Uint8Array, timeoutMs?: number }

/** The hidden-service methods of the network module, over its hidden-service layer. */
export function hiddenMethods (ctx: ModuleContext, hidden: HiddenServices): { methods: MethodTable, stop: () => void } {
  const keysDir = join(ctx.dataDir, HIDDEN_KEYS_DIR)
  const pending = new PendingReplies<Uint8Array>({ max: MAX_PENDING_HIDDEN_REPLIES, windowMs: HIDDEN_REPLY_WINDOW_MS })
  const hosted = new Map<string, HostedService>()
  let clientKey: Promise<Uint8Array> | undefined

  const clientAuthKey = async (): Promise<Uint8Array> => {
    clientKey ??= mkdir(keysDir, { recursive: true }).then(async () => await loadOrCreateSecret(join(keysDir, CLIENT_AUTH_KEY_FILE)))
    return await clientKey
  }

  /** A request for a hosted service: tell the subscribers, wait for hiddenReply. */
  const serve = (address: string) => async ({ protocol, data }: { protocol: string, data: Uint8Array }): Promise<Uint8Array> => {
    if (pending.full) throw new HiddenNoReplyError('too many requests waiting for a reply')
    const { id, answer: answered } = pending.open()
    ctx.emit('hidden:request', { id, address, protocol, data })
    const out = await answered
    if (out === undefined) throw new HiddenNoReplyError(`no hiddenReply within ${HIDDEN_REPLY_WINDOW_MS} ms`)
    return out
  }

  const methods: MethodTable = {
    hostHiddenService: {
      description: 'Hosts a hidden service for { protocol, authorizedClients? (hex X25519 keys) } and resolves to { address } (.mix) once reachable; requests arrive as hidden:request events',
      handler: async (p: HostParams, call) => {
        const protocol = text(p?.protocol, 'protocol')
        const authorizedClients = hexKeys(p.authorizedClients, 'authorizedClients')
        await mkdir(keysDir, { recursive: true })
        // One identity per protocol, kept: the address survives restarts.
        const seedFile = join(keysDir, `${createHash('sha256').update(protocol).digest('hex').slice(0, 32)}.key`)
        const identity = await loadOrCreateSecret(seedFile)
        let address = ''
        const service = await hidden.host({ protocol, identity, authorizedClients, handler: async (req) => await serve(address)(req) }, { signal: call.signal })
        address = service.address
        hosted.set(address, service)
        return { address, introPoints: service.introPointIds() }
      }
    },
    stopHiddenService: {
      description: 'Stops hosting the hidden service at { address }',
      handler: async (p: { address: string }) => {
        const address = text(p?.address, 'address')
        await hidden.unhost(address)
        hosted.delete(address)
        return { address }
      }
    },
    hiddenServices: {
      description: 'The hidden services hosted here: [{ address, protocol, introPoints, sessions }]',
      handler: () => hidden.hosted().map(s => ({ address: s.address, protocol: s.protocol, introPoints: s.introPointIds(), sessions: s.sessionCount }))
    },
    hiddenRequest: {
      description: 'Sends { address, protocol, payload, timeoutMs? } to the hidden service at address (.mix) and resolves to { data }, its response',
      handler: async (p: RequestParams, call) => {
        const address = text(p?.address, 'address')
        const data = await hidden.request(address, text(p.protocol, 'protocol'), bytes(p.payload, 'payload'), {
          timeoutMs: optionalTimeout(p.timeoutMs),
          clientAuthKey: await clientAuthKey(),
          signal: call.signal
        })
        return { data }
      }
    },
    hiddenReply: {
      description: 'Answers the hidden:request { id } with { data }',
      handler: (p: { id: string, data: Uint8Array }) => {
        const id = text(p?.id, 'id')
        const data = bytes(p.data, 'data')
        if (!pending.answer(id, data)) throw new HiddenReplyIdError(id)
        return { id }
      }
    },
    hiddenLookup: {
      description: 'Fetches and checks the descriptor of { address }: { epoch, revision, introPoints, restricted }',
      handler: async (p: { address: string }, call) => {
        const d = await hidden.lookup(text(p?.address, 'address'), { clientAuthKey: await clientAuthKey(), signal: call.signal, fresh: true })
        return { epoch: d.epoch.toString(), revision: d.outer.revisionCounter.toString(), introPoints: d.introPoints.map(i => i.peerId.toString()), restricted: d.restricted }
      }
    },
    hiddenClientKey: {
      description: 'This node\'s client authorisation key for restricted hidden services: { publicKey (hex) }',
      handler: async () => {
        return { publicKey: Buffer.from(basePointMul(await clientAuthKey())).toString('hex') }
      }
    },
    hiddenInfo: {
      description: 'This node\'s hidden-service layer: counters and rejections as introduction point, directory, rendezvous node, service and client',
      handler: () => hidden.getStats()
    }
  }

  return {
    methods,
    stop: () => {
      pending.clear()
    }
  }
}
