import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHAIN, FIXTURES, post, ROOT, rpc, rpcError, startDevNode } from './harness.ts'
import type { NodeUnderTest, RpcError } from './harness.ts'

let node: NodeUnderTest

beforeAll(async () => {
  node = await startDevNode({ modules: CHAIN.map(dir => ({ dir })) })
})
afterAll(async () => {
  await node.stop()
})

const errorOf = (reply: { json: unknown }): RpcError => (reply.json as { error: RpcError }).error

describe('developer interface over HTTP: access', () => {
  it('binds to 127.0.0.1 and publishes its endpoint and an owner-only token in the data directory', async () => {
    expect(new URL(node.url).hostname).toBe('127.0.0.1')
    expect(new URL(node.url).pathname).toBe('/rpc')
    const folder = join(node.dataDir, 'modules', 'developer')
    expect((await stat(join(folder, 'token'))).mode & 0o777).toBe(0o600)
    expect(node.token).toMatch(/^[0-9a-f]{64}$/)
    const endpoint = JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { url: string, pid: number }
    expect(endpoint.url).toBe(node.url)
    expect(endpoint.pid).toBe(process.pid)
  })

  it('refuses a request without a token: HTTP 401, JSON-RPC -32001, ERR_DEV_TOKEN_MISSING', async () => {
    const reply = await post(node.url, { jsonrpc: '2.0', id: 1, method: 'modules.list' })
    expect(reply.status).toBe(401)
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(errorOf(reply).code).toBe(-32001)
    expect(errorOf(reply).data?.code).toBe('ERR_DEV_TOKEN_MISSING')
    expect(reply.text).not.toContain('"result"')
  })

  it('refuses a wrong token (same length and other lengths): HTTP 401, -32001, ERR_DEV_TOKEN_INVALID', async () => {
    const wrong = node.token.replace(/.$/, c => c === '0' ? '1' : '0')
    for (const token of [wrong, 'short', node.token + '00']) {
      const reply = await post(node.url, { jsonrpc: '2.0', id: 1, method: 'modules.list' }, { token })
      expect(reply.status).toBe(401)
      expect(errorOf(reply).code).toBe(-32001)
      expect(errorOf(reply).data?.code).toBe('ERR_DEV_TOKEN_INVALID')
    }
  })

  it('refuses browser requests from another origin, even with the token: HTTP 403, -32002', async () => {
    for (const origin of ['http://evil.example', 'https://127.0.0.1:1', 'null', `http://127.0.0.1:${Number(new URL(node.url).port) + 1}`]) {
      const reply = await post(node.url, { jsonrpc: '2.0', id: 1, method: 'modules.list' }, { token: node.token, headers: { origin } })
      expect(reply.status, origin).toBe(403)
      expect(errorOf(reply).code).toBe(-32002)
      expect(errorOf(reply).data?.code).toBe('ERR_DEV_ORIGIN_REFUSED')
    }
    // Its own origin is fine (a page it would serve), and so is no Origin at all (a program).
    const own = await post(node.url, { jsonrpc: '2.0', id: 1, method: 'node.info' }, { token: node.token, headers: { origin: new URL(node.url).origin } })
    expect(own.status).toBe(200)
    expect(own.headers.get('access-control-allow-origin')).toBe(new URL(node.url).origin)
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const { request } = await import('node:http')
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(node.url, { method: 'POST', headers: { host: `attacker.example:${new URL(node.url).port}`, 'content-type': 'application/json', authorization: `Bearer ${node.token}` } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'node.info' }))
    })
    expect(status).toBe(403)
  })

  it('answers only POST with application/json on /rpc', async () => {
    const get = await fetch(node.url, { headers: { authorization: `Bearer ${node.token}` } })
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toContain('POST')
    const text = await post(node.url, '{"jsonrpc":"2.0","id":1,"method":"node.info"}', { token: node.token, headers: { 'content-type': 'text/plain' } })
    expect(text.status).toBe(415)
    expect(errorOf(text).code).toBe(-32600)
    const elsewhere = await post(node.url.replace('/rpc', '/other'), { jsonrpc: '2.0', id: 1, method: 'node.info' }, { token: node.token })
    expect(elsewhere.status).toBe(404)
  })

  it('refuses a body over 1 MiB with HTTP 413', async () => {
    const reply = await post(node.url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'node.info', params: { pad: 'x'.repeat(1024 * 1024) } }), { token: node.token })
    expect(reply.status).toBe(413)
    expect(errorOf(reply).code).toBe(-32600)
  })
})

describe('developer interface over HTTP: JSON-RPC 2.0', () => {
  it('-32700 for text that is not JSON, with id null', async () => {
    for (const body of ['{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', '', '[1,2', 'nul']) {
      const reply = await post(node.url, body, { token: node.token })
      expect(reply.status).toBe(200)
      expect(reply.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } })
    }
  })

  it('-32600 for requests that are not JSON-RPC 2.0 requests', async () => {
    const cases: unknown[] = [
      { jsonrpc: '2.0', method: 1, params: 'bar', id: 1 },
      { jsonrpc: '1.0', method: 'node.info', id: 2 },
      { method: 'node.info', id: 3 },
      { jsonrpc: '2.0', method: 'node.info', params: 'bar', id: 4 },
      { jsonrpc: '2.0', method: 'node.info', params: null, id: 5 },
      1, '"x"', null, true
    ]
    for (const body of cases) {
      const reply = await post(node.url, body, { token: node.token })
      const response = reply.json as { id: unknown, error: RpcError }
      expect(response.error.code, JSON.stringify(body)).toBe(-32600)
      const id = (body as { id?: unknown } | null)?.id
      expect(response.id).toBe(typeof id === 'number' ? id : null)
    }
    const badId = await post(node.url, { jsonrpc: '2.0', method: 'node.info', id: { a: 1 } }, { token: node.token })
    expect(badId.json).toMatchObject({ id: null, error: { code: -32600 } })
  })

  it('-32601 for an unknown method, echoing the id', async () => {
    const reply = await post(node.url, { jsonrpc: '2.0', id: 'abc', method: 'modules.explode' }, { token: node.token })
    expect(reply.json).toMatchObject({ jsonrpc: '2.0', id: 'abc', error: { code: -32601, data: { method: 'modules.explode' } } })
    const error = await rpcError(node, 'rpc.nothing')
    expect(error.code).toBe(-32601)
  })

  it('-32602 for bad params: wrong type, missing, unknown, out of range, too many positional', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['modules.describe', { name: 5 }, /name must be string/],
      ['modules.describe', {}, /name is required/],
      ['modules.describe', { name: 'alpha', extra: true }, /extra is not a known parameter/],
      ['logs.tail', { limit: 0 }, /at least 1/],
      ['logs.setLevel', { module: 'alpha', level: 'loud' }, /must be one of/],
      ['modules.list', { any: 1 }, /any is not a known parameter/],
      ['modules.describe', ['alpha', 'surplus'], /at most 1 positional/],
      ['modules.call', { module: 'alpha' }, /method is required/]
    ]
    for (const [method, params, problem] of cases) {
      const error = await rpcError(node, method, params)
      expect(error.code, `${method} ${JSON.stringify(params)}`).toBe(-32602)
      expect(error.data?.code).toBe('ERR_DEV_INVALID_PARAMS')
      expect(String(error.data?.data?.problem)).toMatch(problem)
    }
  })

  it('takes params by name or by position', async () => {
    const byName = await rpc<{ name: string }>(node, 'modules.describe', { name: 'beta' })
    const byPosition = await rpc<{ name: string }>(node, 'modules.describe', ['beta'])
    expect(byName.name).toBe('beta')
    expect(byPosition.name).toBe('beta')
  })

  it('application errors carry the LogosError (its ERR_ code) in data, under -32000', async () => {
    const notFound = await rpcError(node, 'modules.describe', { name: 'nowhere' })
    expect(notFound).toMatchObject({ code: -32000, data: { code: 'ERR_MODULE_NOT_FOUND', retryable: false, data: { module: 'nowhere' } } })
    const typed = await rpcError(node, 'modules.call', { module: 'gamma', method: 'fail' })
    expect(typed).toMatchObject({ code: -32000, message: 'gamma refuses', data: { code: 'ERR_INVALID_ARGUMENT', name: 'InvalidArgumentError' } })
    expect(typed.data?.stack).toBeUndefined()
    // An untyped error is a bug: its stack comes along.
    const bug = await rpcError(node, 'modules.call', { module: 'gamma', method: 'bug' })
    expect(bug).toMatchObject({ code: -32000, data: { code: 'ERR_UNEXPECTED', name: 'TypeError', message: 'a bug in gamma' } })
    expect(bug.data?.stack).toContain('gamma')
    const method = await rpcError(node, 'modules.call', { module: 'gamma', method: 'nope' })
    expect(method.data?.code).toBe('ERR_METHOD_NOT_FOUND')
  })

  it('batches: responses in order, notifications unanswered, invalid members answered alone', async () => {
    const reply = await post(node.url, [
      { jsonrpc: '2.0', method: 'modules.describe', params: { name: 'alpha' }, id: 1 },
      { jsonrpc: '2.0', method: 'logs.level', params: { module: 'alpha' } },
      { foo: 'boo' },
      { jsonrpc: '2.0', method: 'nope', id: '5' },
      { jsonrpc: '2.0', method: 'modules.call', params: { module: 'gamma', method: 'leaf', params: { value: 21 } }, id: 9 }
    ], { token: node.token })
    expect(reply.status).toBe(200)
    const responses = reply.json as Array<{ id: unknown, result?: unknown, error?: RpcError }>
    expect(responses).toHaveLength(4)
    expect(responses[0]).toMatchObject({ id: 1, result: { name: 'alpha' } })
    expect(responses[1]).toMatchObject({ id: null, error: { code: -32600 } })
    expect(responses[2]).toMatchObject({ id: '5', error: { code: -32601 } })
    expect(responses[3]).toMatchObject({ id: 9, result: 42 })
  })

  it('a batch of notifications only gets no body (HTTP 204); an empty batch is one -32600', async () => {
    const none = await post(node.url, [{ jsonrpc: '2.0', method: 'node.info' }, { jsonrpc: '2.0', method: 'nope' }], { token: node.token })
    expect(none.status).toBe(204)
    expect(none.text).toBe('')
    const single = await post(node.url, { jsonrpc: '2.0', method: 'node.info' }, { token: node.token })
    expect(single.status).toBe(204)
    const empty = await post(node.url, [], { token: node.token })
    expect(empty.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } })
    const invalid = await post(node.url, [1, 2], { token: node.token })
    expect(invalid.json).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.any(String) } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.any(String) } }
    ])
  })

  it('refuses a batch over the bound whole', async () => {
    const batch = Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', method: 'node.info', id: i }))
    const reply = await post(node.url, batch, { token: node.token })
    expect(reply.json).toMatchObject({ id: null, error: { code: -32600 } })
  })
})

describe('developer interface over HTTP: methods', () => {
  it('modules.list shows version, state, host, pid, uptime, restarts for each module', async () => {
    const rows = await rpc<Array<Record<string, unknown>>>(node, 'modules.list')
    expect(rows.map(r => r.name)).toEqual(['alpha', 'beta', 'developer', 'directory', 'gamma'])
    for (const row of rows) {
      expect(row).toMatchObject({ state: 'running', host: 'in-process', pid: process.pid, restarts: 0 })
      expect(row.uptimeMs).toBeGreaterThanOrEqual(0)
    }
    expect(rows.find(r => r.name === 'alpha')?.version).toBe('1.0.0')
  })

  it('modules.describe gives methods (with their schemas) and events', async () => {
    const alpha = await rpc<{ methods: Array<{ name: string, params?: unknown }>, events: Array<{ name: string }>, dependents: string[], logLevel: string }>(node, 'modules.describe', { name: 'alpha' })
    expect(alpha.methods.map(m => m.name).sort()).toEqual(['failDeep', 'log', 'run'])
    expect(alpha.methods.find(m => m.name === 'run')?.params).toEqual({ type: 'object', properties: { value: { type: 'number' } } })
    expect(alpha.events).toEqual([{ name: 'ran', description: '{ value }' }])
    expect(alpha.logLevel).toBe('info')
  })

  it('modules.call calls any method, with bytes and big integers encoded both ways', async () => {
    expect(await rpc(node, 'modules.call', { module: 'alpha', method: 'run', params: { value: 4 } })).toEqual({ value: 8, chain: ['alpha', 'beta', 'gamma'] })
    expect(await rpc(node, 'modules.call', { module: 'gamma', method: 'bytes', params: { $bytes: Buffer.from([1, 2, 3]).toString('base64') } }))
      .toEqual({ $bytes: Buffer.from([3, 2, 1]).toString('base64') })
    expect(await rpc(node, 'modules.call', { module: 'directory', method: 'describe', params: { name: 'gamma' } })).toMatchObject({ name: 'gamma' })
  })

  it('modules.call honours timeoutMs', async () => {
    const { defineModule } = await import('../../../src/sdk/index.ts')
    await node.kernel.load(defineModule({ name: 'slow', version: '1.0.0', start: () => ({ methods: { wait: async () => await new Promise(resolve => setTimeout(resolve, 2000)) } }) }))
    await node.kernel.start('slow')
    const error = await rpcError(node, 'modules.call', { module: 'slow', method: 'wait', timeoutMs: 100 })
    expect(error.data?.code).toBe('ERR_CALL_TIMEOUT')
    await node.kernel.unload('slow')
  })

  it('node.info describes the node', async () => {
    const info = await rpc<Record<string, unknown>>(node, 'node.info')
    expect(info).toMatchObject({ pid: process.pid, dataDir: node.dataDir, hosts: ['in-process'], modules: 5, endpoint: { url: node.url, ws: node.ws } })
  })

  it('logs: set a module\'s level at run time, then tail what it logged', async () => {
    await rpc(node, 'modules.call', { module: 'alpha', method: 'log', params: { level: 'debug', message: 'hidden at info' } })
    expect(await rpc(node, 'logs.setLevel', { module: 'alpha', level: 'debug' })).toEqual({ module: 'alpha', level: 'debug', previous: 'info' })
    expect(await rpc(node, 'logs.level', ['alpha'])).toEqual({ module: 'alpha', level: 'debug' })
    await rpc(node, 'modules.call', { module: 'alpha', method: 'log', params: { level: 'debug', message: 'shown at debug' } })
    await rpc(node, 'modules.call', { module: 'alpha', method: 'log', params: { level: 'info', message: 'an info line' } })
    const entries = await rpc<Array<{ message: string, level: string, module: string }>>(node, 'logs.tail', { module: 'alpha' })
    expect(entries.map(e => e.message)).toEqual(['shown at debug', 'an info line'])
    const infoOnly = await rpc<Array<{ message: string }>>(node, 'logs.tail', { module: 'alpha', level: 'info' })
    expect(infoOnly.map(e => e.message)).toEqual(['an info line'])
    await rpc(node, 'logs.setLevel', { module: 'alpha', level: 'info' })
    // Only for modules that are loaded: a client cannot make the node keep levels for any name it likes.
    const refused = await rpcError(node, 'logs.setLevel', { module: 'no-such-module', level: 'debug' })
    expect(refused).toMatchObject({ code: -32000, data: { code: 'ERR_MODULE_NOT_FOUND' } })
    expect(node.kernel.logs.level('no-such-module')).toBe('info')
  })

  it('load, stop, start and unload a module from a folder; privileged ones are refused', async () => {
    await node.kernel.unload('alpha')
    const loaded = await rpc<{ name: string, state: string }>(node, 'modules.load', { dir: CHAIN[0] })
    expect(loaded).toMatchObject({ name: 'alpha', state: 'running' })
    expect((await rpc<{ state: string }>(node, 'modules.stop', { name: 'alpha' })).state).toBe('stopped')
    expect((await rpcError(node, 'modules.call', { module: 'alpha', method: 'run' })).data?.code).toBe('ERR_MODULE_NOT_RUNNING')
    expect((await rpc<{ state: string }>(node, 'modules.start', { name: 'alpha' })).state).toBe('running')
    expect((await rpcError(node, 'modules.stop', { name: 'gamma' })).data?.code).toBe('ERR_HAS_DEPENDENTS')
    expect(await rpc(node, 'modules.unload', { name: 'alpha' })).toEqual({ name: 'alpha', unloaded: true })
    expect((await rpcError(node, 'modules.describe', { name: 'alpha' })).data?.code).toBe('ERR_MODULE_NOT_FOUND')
    const again = await rpc<{ state: string }>(node, 'modules.load', { dir: CHAIN[0], start: false })
    expect(again.state).toBe('resolved')
    await rpc(node, 'modules.start', { name: 'alpha' })
    // What a client loads is untrusted: a module that asks for kernel access is refused.
    expect((await rpcError(node, 'modules.load', { dir: join(FIXTURES, 'modules', 'sneaky') })).data?.code).toBe('ERR_NOT_PRIVILEGED')
  })

  it('does not stop, unload or reload itself, nor the kernel\'s directory', async () => {
    for (const method of ['modules.stop', 'modules.unload', 'modules.reload', 'modules.watch']) {
      expect((await rpcError(node, method, { name: 'developer' })).data?.code).toBe('ERR_DEV_SELF_CONTROL')
    }
    expect((await rpcError(node, 'modules.stop', { name: 'directory' })).data?.code).toBe('ERR_MODULE_PROTECTED')
  })

  it('rpc.discover publishes every method as OpenRPC, and docs/developer-api.md documents each one', async () => {
    const doc = await rpc<{
      openrpc: string
      servers: Array<{ url: string }>
      methods: Array<{ name: string, params: Array<{ name: string, schema: unknown, required: boolean }>, result: { name: string, schema: unknown } }>
      components: { schemas: Record<string, unknown> }
      'x-notifications': Array<{ name: string }>
    }>(node, 'rpc.discover')
    expect(doc.openrpc).toBe('1.2.6')
    expect(doc.servers.map(s => s.url)).toEqual([node.url, node.ws])
    const names = doc.methods.map(m => m.name)
    expect(names).toEqual(expect.arrayContaining([
      'rpc.discover', 'node.info', 'modules.list', 'modules.describe', 'modules.call', 'modules.recent', 'modules.load', 'modules.unload',
      'modules.start', 'modules.stop', 'modules.reload', 'modules.watch', 'modules.unwatch', 'modules.watches', 'logs.tail',
      'logs.setLevel', 'logs.level', 'logs.subscribe', 'logs.unsubscribe', 'trace.subscribe', 'trace.unsubscribe'
    ]))
    for (const m of doc.methods) {
      expect(m.result.name, m.name).toEqual(expect.any(String))
      for (const p of m.params) expect(typeof p.schema, `${m.name}.${p.name}`).toBe('object')
    }
    // Every $ref points at a schema the document has.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map(m => m[1] as string)
    expect(refs.length).toBeGreaterThan(10)
    for (const ref of refs) expect(doc.components.schemas, ref).toHaveProperty(ref)
    const markdown = await readFile(join(ROOT, 'docs/developer-api.md'), 'utf8')
    for (const name of names) expect(markdown, name).toContain(`### ${name}\n`)
    for (const n of doc['x-notifications']) expect(markdown, n.name).toContain(`\`${n.name}\``)
  })

  it('subscriptions need a WebSocket: -32004 over HTTP', async () => {
    for (const method of ['trace.subscribe', 'logs.subscribe']) {
      const error = await rpcError(node, method, {})
      expect(error.code).toBe(-32004)
      expect(error.data?.code).toBe('ERR_DEV_NEEDS_WEBSOCKET')
    }
  })
})
