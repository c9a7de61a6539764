import { join } from 'node:path'
import { defineModule } from '../../sdk/index.ts'
import { DemlsClient, SqliteStore, UnknownGroupError, fromHex, toHex } from '../../crypto/demls/index.ts'
import type { DemlsGroup, GroupConfigInit } from '../../crypto/demls/index.ts'
import { DemlsParamsError } from './errors.ts'

export { DemlsParamsError } from './errors.ts'

/** Default wait of `join` for the group's Welcome. */
const JOIN_TIMEOUT_MS = 120_000

function groupIdOf (p: unknown): string | Uint8Array {
  const v = (p as { groupId?: unknown } | undefined)?.groupId
  if (typeof v === 'string' && v.length > 0) return v
  if (v instanceof Uint8Array && v.length > 0) return v
  throw new DemlsParamsError('"groupId" must be a non-empty string or Uint8Array')
}

function bytesOf (p: unknown, name: string): Uint8Array {
  const v = (p as Record<string, unknown> | undefined)?.[name]
  if (!(v instanceof Uint8Array)) throw new DemlsParamsError(`"${name}" must be a Uint8Array`)
  return v
}

function memberIdOf (p: unknown): Uint8Array {
  const v = (p as { memberId?: unknown } | undefined)?.memberId
  if (typeof v === 'string' && /^[0-9a-f]{40}$/i.test(v)) return fromHex(v)
  if (v instanceof Uint8Array && v.length === 20) return v
  throw new DemlsParamsError('"memberId" must be 20 bytes (or 40 hex characters)')
}

function name (g: DemlsGroup): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(g.groupId)
  } catch {
    return g.groupIdHex
  }
}

function info (g: DemlsGroup): Record<string, unknown> {
  return {
    groupId: name(g),
    groupIdHex: g.groupIdHex,
    epoch: g.epoch,
    members: g.members.map(toHex),
    stewards: g.stewardList.map(toHex),
    epochSteward: g.epochSteward === undefined ? undefined : toHex(g.epochSteward),
    proposals: g.proposals().map(p => ({ digest: p.digest, kind: p.kind, epoch: p.epoch, owner: toHex(p.owner), decision: p.decision, votes: p.votes }))
  }
}

/**
 * The demls module: De-MLS groups for the node, over the network module's gossipsub (publish, subscribe, and its
 * pubsub:message events). Group state lives in the module's data folder (SQLite), so groups come back after a
 * restart. Configuration: `joinRetryMs` (how often a join re-announces its key package).
 */
export const demls = defineModule({
  events: {
    message: { description: '{ groupId, sender, data, epoch }: an application message from a member' },
    group: { description: '{ groupId, how }: a group was created, joined or restored' },
    epoch: { description: '{ groupId, epoch, committer }: the group moved to a new epoch' },
    left: { description: '{ groupId, removed }: this member is no longer in the group' }
  },
  async start (ctx) {
    const store = new SqliteStore(join(ctx.dataDir, 'demls.db'))
    const joinRetryMs = ctx.config.joinRetryMs
    const client = await DemlsClient.open({ store, joinRetryMs: typeof joinRetryMs === 'number' && joinRetryMs > 0 ? joinRetryMs : undefined })
    const subscribed = new Set<string>()
    const sync = (topics: string[]): void => {
      const want = new Set(topics)
      for (const t of want) {
        if (subscribed.has(t)) continue
        subscribed.add(t)
        ctx.call('network', 'subscribe', { topic: t }).catch(err => { subscribed.delete(t); ctx.log.warn('subscribe failed', { topic: t, err: String(err) }) })
      }
      for (const t of [...subscribed]) {
        if (want.has(t)) continue
        subscribed.delete(t)
        ctx.call('network', 'unsubscribe', { topic: t }).catch(() => {})
      }
    }
    const watch = (g: DemlsGroup): void => {
      g.on('epoch', e => { ctx.emit('epoch', { groupId: name(g), epoch: e.epoch, committer: toHex(e.committer) }) })
    }
    const offs = [
      client.on('outbound', ({ topic, data }) => {
        // Lost publishes are recovered by the protocol (re-propagation, announcements, re-served commits).
        ctx.call('network', 'publish', { topic, data }).catch(err => { ctx.log.debug('publish failed', { topic, err: String(err) }) })
      }),
      client.on('topics', ({ topics }) => { sync(topics) }),
      client.on('message', m => { ctx.emit('message', { groupId: new TextDecoder().decode(m.groupId), sender: toHex(m.sender), data: m.data, epoch: m.epoch }) }),
      client.on('group', ({ group, how }) => { watch(group); ctx.emit('group', { groupId: name(group), how }) }),
      client.on('left', ({ groupId, removed }) => { ctx.emit('left', { groupId: new TextDecoder().decode(groupId), removed }) }),
      ctx.on('network', 'pubsub:message', (payload) => {
        const m = payload as { topic?: unknown, data?: unknown }
        if (typeof m.topic !== 'string' || !(m.data instanceof Uint8Array) || !subscribed.has(m.topic)) return
        client.handle(m.topic, m.data).catch(() => {})
      })
    ]
    for (const g of client.groups()) watch(g)
    sync(client.topics())
    for (const g of client.groups()) g.catchUp().catch(() => {})
    const group = (p: unknown): DemlsGroup => {
      const id = groupIdOf(p)
      const g = client.group(id)
      if (g === undefined) throw new UnknownGroupError(`no group ${typeof id === 'string' ? id : toHex(id)}`)
      return g
    }
    return {
      methods: {
        info: { description: 'This member: { memberId }', handler: () => ({ memberId: toHex(client.memberId) }) },
        groups: { description: 'The groups this member is in', handler: () => client.groups().map(info) },
        group: { description: 'One group: { groupId } -> epoch, members, stewards, open proposals', handler: (p: { groupId: string }) => info(group(p)) },
        createGroup: {
          description: 'Creates { groupId, config? } with this member as its only member and first steward',
          handler: async (p: { groupId: string, config?: GroupConfigInit }) => info(await client.createGroup(groupIdOf(p), p.config ?? {}))
        },
        join: {
          description: 'Asks to join { groupId, timeoutMs? }: publishes a key package and waits for the Welcome',
          handler: async (p: { groupId: string, timeoutMs?: number }, call) => {
            const signal = AbortSignal.any([AbortSignal.timeout(p.timeoutMs ?? JOIN_TIMEOUT_MS), ...(call.signal === undefined ? [] : [call.signal])])
            return info(await client.join(groupIdOf(p), { signal }))
          }
        },
        keyPackage: {
          description: 'A key package of this member to hand out for an invitation to { groupId }; then join({ groupId }) waits for the Welcome',
          handler: async (p?: { groupId?: string }) => await client.keyPackage(p?.groupId === undefined ? undefined : groupIdOf(p))
        },
        send: {
          description: 'Sends { groupId, data } to the group',
          handler: async (p: { groupId: string, data: Uint8Array }) => { await group(p).send(bytesOf(p, 'data')); return { sent: true } }
        },
        invite: {
          description: 'Proposes adding the holder of { groupId, keyPackage }',
          handler: async (p: { groupId: string, keyPackage: Uint8Array }) => { await group(p).invite(bytesOf(p, 'keyPackage')); return { proposed: true } }
        },
        remove: {
          description: 'Proposes removing { groupId, memberId }',
          handler: async (p: { groupId: string, memberId: string }) => { await group(p).remove(memberIdOf(p)); return { proposed: true } }
        },
        vote: {
          description: 'Votes { groupId, digest, accept } on an open proposal',
          handler: async (p: { groupId: string, digest: string, accept: boolean }) => {
            if (typeof p?.digest !== 'string' || typeof p.accept !== 'boolean') throw new DemlsParamsError('"digest" (string) and "accept" (boolean) are required')
            await group(p).vote(p.digest, p.accept)
            return { voted: true }
          }
        },
        leave: { description: 'Leaves { groupId }', handler: async (p: { groupId: string }) => { await group(p).leave(); return { leaving: true } } }
      },
      stop: () => {
        for (const off of offs) off()
        client.stop()
        store.close()
      }
    }
  }
})
