import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { Kernel } from '../../../src/kernel/index.ts'
import { defineModule } from '../../../src/sdk/index.ts'
import type { ModuleContext } from '../../../src/sdk/index.ts'

/**
 * The demls module between two kernels. Its only dependency, the network module, is stood in for by a module with
 * the same contract (publish, subscribe, unsubscribe, pubsub:message) over an in-process pub/sub: the network module
 * lives in its own area and its gossipsub is exercised by the binding's tests.
 */
const here = dirname(fileURLToPath(import.meta.url))
const moduleDir = resolve(here, '../../../src/modules/demls')
const dirs: string[] = []
const kernels: Kernel[] = []
afterAll(async () => {
  for (const k of kernels) await k.shutdown().catch(() => {})
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

class PubSub {
  readonly nodes: Array<{ ctx: ModuleContext, topics: Set<string> }> = []
  module () {
    return defineModule({
      name: 'network',
      version: '0.1.0',
      events: { 'pubsub:message': {} },
      start: (ctx) => {
        const node = { ctx, topics: new Set<string>() }
        this.nodes.push(node)
        return {
          methods: {
            publish: (p: { topic: string, data: Uint8Array }) => {
              let recipients = 0
              for (const n of this.nodes) {
                if (n === node || !n.topics.has(p.topic)) continue
                recipients++
                setImmediate(() => { n.ctx.emit('pubsub:message', { topic: p.topic, data: p.data, from: 'peer' }) })
              }
              return { recipients }
            },
            subscribe: (p: { topic: string }) => { node.topics.add(p.topic); return { topic: p.topic } },
            unsubscribe: (p: { topic: string }) => { node.topics.delete(p.topic); return { topic: p.topic } }
          }
        }
      }
    })
  }
}

async function node (net: PubSub): Promise<Kernel> {
  const dataDir = await mkdtemp(join(tmpdir(), 'demls-module-'))
  dirs.push(dataDir)
  const kernel = new Kernel({ dataDir, config: { demls: { joinRetryMs: 500 } } })
  kernels.push(kernel)
  await kernel.load(net.module())
  await kernel.load({ dir: moduleDir })
  await kernel.startAll()
  return kernel
}

const FAST = {
  timers: { votingDelayMs: 100, consensusTimeoutMs: 2000, batchWindowMs: 100, commitInactivityMs: 1000, freezeMs: 200, recoveryInactivityMs: 300, proposalExpirationMs: 60000, repropagateMs: 500, announceIntervalMs: 500, toleranceMs: 100 }
}

describe('demls module', () => {
  it('creates, joins, carries messages and leaves through the kernel', async () => {
    const net = new PubSub()
    const a = await node(net)
    const b = await node(net)
    expect(a.state('demls')).toBe('running')
    const created = await a.call<{ groupId: string, epoch: number }>('demls', 'createGroup', { groupId: 'club', config: FAST })
    expect(created).toMatchObject({ groupId: 'club', epoch: 0 })
    const joined = await b.call<{ members: string[] }>('demls', 'join', { groupId: 'club', timeoutMs: 30_000 }, { timeout: 40_000 })
    expect(joined.members.length).toBe(2)
    const got: unknown[] = []
    b.subscribe('test', 'demls', 'message', (m) => { got.push(m) })
    await a.call('demls', 'send', { groupId: 'club', data: new TextEncoder().encode('hi') })
    const aid = (await a.call<{ memberId: string }>('demls', 'info')).memberId
    // Wall-clock waits (the protocol's timers are wall-clock too), generous for a loaded machine.
    await vi.waitUntil(() => got.length > 0, { timeout: 30_000, interval: 50 })
    expect(got).toEqual([{ groupId: 'club', sender: aid, data: new TextEncoder().encode('hi'), epoch: 1 }])
    const left: unknown[] = []
    b.subscribe('test', 'demls', 'left', (m) => { left.push(m) })
    await b.call('demls', 'leave', { groupId: 'club' })
    // The leave is a proposal voted on and committed (consensusTimeoutMs, commitInactivityMs): seconds when idle.
    await vi.waitUntil(() => left.length > 0, { timeout: 30_000, interval: 50 })
    expect(left).toEqual([{ groupId: 'club', removed: true }])
    // A applies the same commit at the end of its own freeze window (its own timer): wait for it too.
    await vi.waitFor(async () => {
      expect((await a.call<{ members: string[] }>('demls', 'group', { groupId: 'club' })).members).toEqual([aid])
    }, { timeout: 30_000, interval: 100 })
  }, 120_000)

  it('refuses bad parameters with typed errors', async () => {
    const net = new PubSub()
    const a = await node(net)
    await expect(a.call('demls', 'send', { groupId: 'nope', data: new Uint8Array(1) })).rejects.toMatchObject({ code: 'ERR_MLS_UNKNOWN_GROUP' })
    await expect(a.call('demls', 'createGroup', { groupId: 7 })).rejects.toMatchObject({ code: 'ERR_MLS_PARAMS' })
    await a.call('demls', 'createGroup', { groupId: 'x' })
    await expect(a.call('demls', 'remove', { groupId: 'x', memberId: 'zz' })).rejects.toMatchObject({ code: 'ERR_MLS_PARAMS' })
    await expect(a.call('demls', 'send', { groupId: 'x', data: 'text' })).rejects.toMatchObject({ code: 'ERR_MLS_PARAMS' })
  }, 30_000)
})
