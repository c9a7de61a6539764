import type { Socket } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHAIN, rpc, RpcCallError, startDevNode, UpgradeRefused, waitUntil, WsClient } from './harness.ts'
import type { NodeUnderTest, RpcError } from './harness.ts'

interface CallRecord { type: 'call', id: number, parentId?: number, depth: number, caller: string, target: string, method: string, at: number, durationNs: number, ok: boolean, error?: { code: string } }

let node: NodeUnderTest

beforeAll(async () => {
  node = await startDevNode({ modules: CHAIN.map(dir => ({ dir })) })
})
afterAll(async () => {
  await node.stop()
})

async function refusal (url: string, options: { token?: string, headers?: Record<string, string> }): Promise<{ status: number, error: RpcError }> {
  try {
    const c = await WsClient.connect(url, options)
    await c.close()
  } catch (err) {
    if (err instanceof UpgradeRefused) return { status: err.status, error: (JSON.parse(err.body) as { error: RpcError }).error }
    throw err
  }
  throw new Error('the upgrade was expected to be refused')
}

async function callError (client: WsClient, method: string, params?: unknown): Promise<RpcError> {
  try {
    await client.call(method, params)
  } catch (err) {
    if (err instanceof RpcCallError) return err.error
    throw err
  }
  throw new Error(`${method} was expected to fail`)
}

describe('developer interface over WebSocket: access', () => {
  it('refuses an upgrade without a token (401, -32001) or with a wrong one', async () => {
    const none = await refusal(node.ws, {})
    expect(none.status).toBe(401)
    expect(none.error).toMatchObject({ code: -32001, data: { code: 'ERR_DEV_TOKEN_MISSING' } })
    const wrong = await refusal(node.ws, { token: 'f'.repeat(64) })
    expect(wrong.status).toBe(401)
    expect(wrong.error).toMatchObject({ code: -32001, data: { code: 'ERR_DEV_TOKEN_INVALID' } })
    const wrongQuery = await refusal(`${node.ws}?token=${'0'.repeat(64)}`, {})
    expect(wrongQuery.status).toBe(401)
  })

  it('refuses a browser page of another origin (403, -32002), even with the token', async () => {
    const foreign = await refusal(`${node.ws}?token=${node.token}`, { headers: { origin: 'http://evil.example' } })
    expect(foreign.status).toBe(403)
    expect(foreign.error).toMatchObject({ code: -32002, data: { code: 'ERR_DEV_ORIGIN_REFUSED' } })
  })

  it('accepts the token in the Authorization header or, for browsers, in the query', async () => {
    const header = await WsClient.connect(node.ws, { token: node.token })
    const query = await WsClient.connect(`${node.ws}?token=${node.token}`, { headers: { origin: new URL(node.url).origin } })
    expect(await header.call('logs.level', { module: 'alpha' })).toEqual({ module: 'alpha', level: 'info' })
    expect(await query.call('logs.level', ['beta'])).toEqual({ module: 'beta', level: 'info' })
    await header.close()
    await query.close()
  })
})

describe('developer interface over WebSocket: JSON-RPC 2.0', () => {
  let client: WsClient
  beforeAll(async () => { client = await WsClient.connect(node.ws, { token: node.token }) })
  afterAll(async () => { await client.close() })

  it('answers unknown methods with -32601 and bad params with -32602', async () => {
    expect((await callError(client, 'trace.everything')).code).toBe(-32601)
    const bad = await callError(client, 'trace.subscribe', { types: ['calls'] })
    expect(bad.code).toBe(-32602)
    expect(bad.data?.code).toBe('ERR_DEV_INVALID_PARAMS')
    expect((await callError(client, 'trace.subscribe', { modules: 'alpha' })).code).toBe(-32602)
    expect((await callError(client, 'trace.unsubscribe', {})).code).toBe(-32602)
  })

  it('answers text that is not JSON with -32700 and batches with an array', async () => {
    expect(await client.raw('{"jsonrpc":')).toMatchObject([{ id: null, error: { code: -32700 } }])
    const batch = await client.raw(JSON.stringify([
      { jsonrpc: '2.0', id: 'a', method: 'logs.level', params: { module: 'gamma' } },
      { jsonrpc: '2.0', method: 'node.info' },
      { jsonrpc: '2.0', id: 'b', method: 'nope' }
    ]))
    expect(batch).toMatchObject([{ id: 'a', result: { module: 'gamma', level: 'info' } }, { id: 'b', error: { code: -32601 } }])
  })

  it('unsubscribing an unknown subscription is an application error', async () => {
    const error = await callError(client, 'trace.unsubscribe', { subscription: 'trace-999' })
    expect(error).toMatchObject({ code: -32000, data: { code: 'ERR_DEV_SUBSCRIPTION_NOT_FOUND' } })
  })
})

describe('trace subscriptions', () => {
  it('show a call chain A -> B -> C with parent links, depths, callers, timing and outcome', async () => {
    const client = await WsClient.connect(node.ws, { token: node.token })
    const sub = await client.call<string>('trace.subscribe', { types: ['call', 'event'], modules: ['alpha', 'beta', 'gamma'] })
    expect(await rpc(node, 'modules.call', { module: 'alpha', method: 'run', params: { value: 5 } })).toMatchObject({ value: 10 })
    await client.waitFor(() => client.items(sub).filter(r => r.type === 'call').length >= 3 && client.items(sub).some(r => r.type === 'event'))
    const calls = client.items<CallRecord>(sub).filter(r => r.type === 'call')
    const a = calls.find(c => c.target === 'alpha') as CallRecord
    const b = calls.find(c => c.target === 'beta') as CallRecord
    const c = calls.find(c => c.target === 'gamma') as CallRecord
    expect(a).toMatchObject({ caller: 'external', method: 'run', depth: 0, ok: true })
    expect(a.parentId).toBeUndefined()
    expect(b).toMatchObject({ caller: 'alpha', method: 'relay', depth: 1, parentId: a.id, ok: true })
    expect(c).toMatchObject({ caller: 'beta', method: 'leaf', depth: 2, parentId: b.id, ok: true })
    // Timing nests: a child call starts after and lasts less than its parent.
    expect(c.durationNs).toBeLessThanOrEqual(b.durationNs)
    expect(b.durationNs).toBeLessThanOrEqual(a.durationNs)
    expect(c.at).toBeGreaterThanOrEqual(a.at - 1)
    // Children finish first, so they are published first.
    expect(calls.map(r => r.target)).toEqual(['gamma', 'beta', 'alpha'])
    const event = client.items(sub).find(r => r.type === 'event')
    expect(event).toMatchObject({ source: 'alpha', event: 'ran', subscribers: 0 })
    await client.close()
  })

  it('link every call of any call tree to its parent (property)', async () => {
    const { defineModule } = await import('../../../src/sdk/index.ts')
    await node.kernel.load(defineModule({
      name: 'tree',
      version: '1.0.0',
      start: () => ({
        methods: {
          grow: async (p: { widths: number[] }, call) => {
            const [width = 0, ...rest] = p.widths
            for (let i = 0; i < width; i++) await call.call('tree', 'grow', { widths: rest })
            return width
          }
        }
      })
    }))
    await node.kernel.start('tree')
    const client = await WsClient.connect(node.ws, { token: node.token })
    const sub = await client.call<string>('trace.subscribe', { types: ['call'], modules: ['tree'] })
    let seen = 0
    await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), async (widths) => {
      const expected = widths.reduce((acc, _w, i) => acc + widths.slice(0, i + 1).reduce((a, b) => a * b, 1), 1)
      await rpc(node, 'modules.call', { module: 'tree', method: 'grow', params: { widths } })
      await client.waitFor(() => client.items(sub).length >= seen + expected)
      const records = client.items<CallRecord>(sub).slice(seen)
      seen += records.length
      expect(records).toHaveLength(expected)
      const byId = new Map(records.map(r => [r.id, r]))
      const root = records.filter(r => r.parentId === undefined)
      expect(root).toHaveLength(1)
      expect(root[0]).toMatchObject({ caller: 'external', depth: 0 })
      for (const r of records) {
        if (r.parentId === undefined) continue
        const parent = byId.get(r.parentId) as CallRecord
        expect(parent.depth).toBe(r.depth - 1)
        expect(r.caller).toBe('tree')
        // Children end before their parents, so they are published first.
        expect(records.indexOf(r)).toBeLessThan(records.indexOf(parent))
      }
      // Each record at depth d has exactly widths[d] children.
      for (const r of records) expect(records.filter(c => c.parentId === r.id)).toHaveLength(widths[r.depth] ?? 0)
    }), { numRuns: 25 })
    await client.close()
    await node.kernel.unload('tree')
  })

  it('report failures with the error code along the chain', async () => {
    const client = await WsClient.connect(node.ws, { token: node.token })
    const sub = await client.call<string>('trace.subscribe', { types: ['call'], errorsOnly: true })
    await expect(rpc(node, 'modules.call', { module: 'alpha', method: 'failDeep' })).rejects.toThrow(/gamma refuses/)
    await rpc(node, 'modules.call', { module: 'gamma', method: 'leaf', params: { value: 1 } })
    await client.waitFor(() => client.items(sub).length >= 3)
    const records = client.items<CallRecord>(sub)
    expect(records.map(r => [r.target, r.ok, r.error?.code])).toEqual([
      ['gamma', false, 'ERR_INVALID_ARGUMENT'], ['beta', false, 'ERR_INVALID_ARGUMENT'], ['alpha', false, 'ERR_INVALID_ARGUMENT']
    ])
    expect(records[0]?.parentId).toBe(records[1]?.id)
    await client.close()
  })

  it('filter by type and by module, and see lifecycle changes', async () => {
    const client = await WsClient.connect(node.ws, { token: node.token })
    const lifecycle = await client.call<string>('trace.subscribe', { types: ['lifecycle'] })
    const gammaOnly = await client.call<string>('trace.subscribe', { modules: ['gamma'], types: ['call'] })
    await rpc(node, 'modules.call', { module: 'beta', method: 'relay', params: { value: 2 } })
    await rpc(node, 'modules.stop', { name: 'alpha' })
    await rpc(node, 'modules.start', { name: 'alpha' })
    await client.waitFor(() => client.items(lifecycle).length >= 4 && client.items(gammaOnly).length >= 1)
    expect(client.items(lifecycle).map(r => [r.module, r.from, r.to])).toEqual([
      ['alpha', 'running', 'stopping'], ['alpha', 'stopping', 'stopped'], ['alpha', 'stopped', 'starting'], ['alpha', 'starting', 'running']
    ])
    // beta.relay's call to gamma matches gamma (its target); the call to beta does not.
    expect(client.items<CallRecord>(gammaOnly).map(r => `${r.caller}->${r.target}`)).toEqual(['beta->gamma'])
    await client.close()
  })

  it('stop after unsubscribe, and a connection holds at most 16 subscriptions (-32003)', async () => {
    const client = await WsClient.connect(node.ws, { token: node.token })
    const sub = await client.call<string>('trace.subscribe', { types: ['call'] })
    await rpc(node, 'modules.call', { module: 'gamma', method: 'leaf', params: { value: 1 } })
    await client.waitFor(() => client.items(sub).length >= 1)
    expect(await client.call('trace.unsubscribe', { subscription: sub })).toBe(true)
    const seen = client.items(sub).length
    await rpc(node, 'modules.call', { module: 'gamma', method: 'leaf', params: { value: 1 } })
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(client.items(sub).length).toBe(seen)
    for (let i = 0; i < 16; i++) await client.call('trace.subscribe', { types: ['supervision'] })
    const error = await callError(client, 'logs.subscribe', {})
    expect(error).toMatchObject({ code: -32003, data: { code: 'ERR_DEV_LIMIT_REACHED' } })
    await client.close()
  })
})

describe('log subscriptions', () => {
  it('stream a module\'s entries at the level set at run time', async () => {
    const client = await WsClient.connect(node.ws, { token: node.token })
    const sub = await client.call<string>('logs.subscribe', { modules: ['alpha'] })
    await rpc(node, 'modules.call', { module: 'alpha', method: 'log', params: { level: 'debug', message: 'quiet' } })
    await rpc(node, 'logs.setLevel', { module: 'alpha', level: 'debug' })
    await rpc(node, 'modules.call', { module: 'alpha', method: 'log', params: { level: 'debug', message: 'loud' } })
    await client.waitFor(() => client.items(sub).length >= 1)
    expect(client.items(sub)).toMatchObject([{ module: 'alpha', level: 'debug', message: 'loud' }])
    await rpc(node, 'logs.setLevel', { module: 'alpha', level: 'info' })
    const warnOnly = await client.call<string>('logs.subscribe', { level: 'warn' })
    await rpc(node, 'modules.call', { module: 'alpha', method: 'log', params: { level: 'info', message: 'info line' } })
    node.kernel.logs.write({ at: Date.now(), module: 'beta', level: 'error', message: 'an error line' })
    await client.waitFor(() => client.items(warnOnly).length >= 1)
    expect(client.items(warnOnly)).toMatchObject([{ module: 'beta', level: 'error', message: 'an error line' }])
    await client.close()
  })
})

describe('a slow client', () => {
  it('loses records (counted and reported where the gap is) instead of growing the node\'s memory', async () => {
    const slow = await startDevNode({ modules: CHAIN.map(dir => ({ dir })), config: { clientQueueRecords: 200, clientHighWaterBytes: 16 * 1024 } })
    try {
      const client = await WsClient.connect(slow.ws, { token: slow.token })
      const sub = await client.call<string>('trace.subscribe', { types: ['call'], modules: ['gamma'] })
      // Stop reading: the socket's buffers fill, then the server's bounded queue, then records are dropped.
      const tcp = (client.socket as unknown as { _socket: Socket })._socket
      tcp.pause()
      const total = 30_000
      for (let i = 0; i < total; i++) {
        await slow.kernel.call('gamma', 'leaf', { value: i })
        if (i % 250 === 0) await new Promise(resolve => setImmediate(resolve))
      }
      tcp.resume()
      const dropped = (): number => client.notifications.filter(n => n.method === 'subscription.dropped' && n.params?.subscription === sub).reduce((s, n) => s + (n.params?.dropped as number), 0)
      await client.waitFor(() => client.items(sub).length + dropped() === total, 30_000)
      expect(dropped()).toBeGreaterThan(0)
      expect(client.items(sub).length).toBeGreaterThan(0)
      // Every record either arrived, in order, or was counted as lost.
      const values = client.items<CallRecord>(sub).map(r => r.id)
      expect(values).toEqual([...values].sort((x, y) => x - y))
      // Once it reads again, it gets everything.
      const before = client.items(sub).length
      for (let i = 0; i < 100; i++) await slow.kernel.call('gamma', 'leaf', { value: i })
      await client.waitFor(() => client.items(sub).length === before + 100)
      await client.close()
    } finally {
      await slow.stop()
    }
  })
})

describe('connections', () => {
  it('end their subscriptions when they close', async () => {
    const client = await WsClient.connect(node.ws, { token: node.token })
    const seen: unknown[] = []
    const off = node.kernel.subscribeTrace((r) => { seen.push(r) })
    await client.call('trace.subscribe', { types: ['call'] })
    await client.close()
    // The trace bus keeps its subscribers in an array; after the close only the developer module's own and ours remain.
    await waitUntil(() => (node.kernel.trace as unknown as { subscriptions: unknown[] }).subscriptions.length === 2)
    off()
  })
})
