import { rm, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COUNTER_DIR, devCall, eventually, RelayClient, SLOW_DIR, startBasecampNode } from './harness.ts'
import type { NodeUnderTest } from './harness.ts'

let t: NodeUnderTest

beforeAll(async () => {
  t = await startBasecampNode({ dirs: [COUNTER_DIR] })
})
afterAll(async () => {
  await t.stop()
})

async function refusal (options: Parameters<typeof RelayClient.connect>[1]): Promise<{ status: number, body: { error: { code: string } } }> {
  try {
    const c = await RelayClient.connect(t.link.base, options)
    c.close()
  } catch (err) {
    const e = err as { status?: number, body?: string }
    if (e.status !== undefined) return { status: e.status, body: JSON.parse(e.body ?? '{}') as { error: { code: string } } }
    throw err
  }
  throw new Error('the upgrade was expected to be refused')
}

describe('Basecamp over HTTP', () => {
  it('serves the UI with strict headers, and TypeScript as JavaScript', async () => {
    const index = await fetch(t.link.base)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(index.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(index.headers.get('content-security-policy')).toContain("connect-src 'self'")
    expect(index.headers.get('x-frame-options')).toBe('DENY')
    expect(index.headers.get('cross-origin-resource-policy')).toBe('same-origin')
    expect(index.headers.get('referrer-policy')).toBe('no-referrer')
    const html = await index.text()
    expect(html).toContain('<script type="module" src="/main.ts">')
    expect(html).not.toContain(t.link.secret)
    const main = await fetch(new URL('main.ts', t.link.base))
    expect(main.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    const js = await main.text()
    expect(js).toContain('import { RpcClient } from \'./client.ts\'')
    expect(js).not.toContain('): void')
    const head = await fetch(new URL('style.css', t.link.base), { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(100)
  })

  it('answers 404 outside the UI, 405 to other methods, 426 to plain HTTP on the relay', async () => {
    expect((await fetch(new URL('tsconfig.json', t.link.base))).status).toBe(404)
    expect((await fetch(new URL('%2e%2e/basecamp.ts', t.link.base))).status).toBe(404)
    expect((await fetch(new URL('nothing.ts', t.link.base))).status).toBe(404)
    expect((await fetch(t.link.base, { method: 'DELETE' })).status).toBe(405)
    expect((await fetch(new URL('session', t.link.base))).status).toBe(405)
    expect((await fetch(new URL('rpc', t.link.base))).status).toBe(426)
  })

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin on everything, files included', async () => {
    const port = new URL(t.link.base).port
    // fetch will not set Host; a page of a rebinding domain reaches 127.0.0.1 with its own name there.
    const rebinding = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const req = request(t.link.base, { headers: { host: `evil.example:${port}` } }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => { body += c.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
      })
      req.on('error', reject)
      req.end()
    })
    expect(rebinding.status).toBe(403)
    expect(JSON.parse(rebinding.body)).toMatchObject({ error: { code: 'ERR_BASECAMP_ORIGIN_REFUSED' } })
    const script = await fetch(new URL('main.ts', t.link.base), { headers: { origin: 'http://127.0.0.1:1' } })
    expect(script.status).toBe(403)
    const probe = await fetch(new URL('session', t.link.base), { method: 'POST', headers: { origin: 'http://localhost:1', authorization: `Bearer ${t.link.secret}` } })
    expect(probe.status).toBe(403)
  })

  it('the probe says whether a secret is this run\'s', async () => {
    const ok = await fetch(new URL('session', t.link.base), { method: 'POST', headers: { authorization: `Bearer ${t.link.secret}`, origin: t.link.base.slice(0, -1) } })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ ok: true, module: 'basecamp', version: '0.1.0', via: 'developer' })
    const none = await fetch(new URL('session', t.link.base), { method: 'POST' })
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toContain('Bearer')
    expect(await none.json()).toMatchObject({ error: { code: 'ERR_BASECAMP_SECRET_MISSING' } })
    const wrong = await fetch(new URL('session', t.link.base), { method: 'POST', headers: { authorization: `Bearer ${'0'.repeat(64)}` } })
    expect(await wrong.json()).toMatchObject({ error: { code: 'ERR_BASECAMP_SECRET_INVALID' } })
  })
})

describe('Basecamp relay', () => {
  it('refuses an upgrade without the secret, with a wrong one, from another origin, or on another path', async () => {
    expect(await refusal({})).toMatchObject({ status: 401, body: { error: { code: 'ERR_BASECAMP_SECRET_MISSING' } } })
    expect(await refusal({ secret: 'a'.repeat(64) })).toMatchObject({ status: 401, body: { error: { code: 'ERR_BASECAMP_SECRET_INVALID' } } })
    // Another page on this machine, even one that somehow has the secret: refused before the secret is looked at.
    expect(await refusal({ secret: t.link.secret, headers: { origin: 'http://127.0.0.1:9' } })).toMatchObject({ status: 403, body: { error: { code: 'ERR_BASECAMP_ORIGIN_REFUSED' } } })
    expect((await refusal({ secret: t.link.secret, path: 'other' })).status).toBe(404)
  })

  it('relays JSON-RPC to the developer interface unchanged, without the page ever holding the node\'s token', async () => {
    const page = await RelayClient.connect(t.link.base, { secret: t.link.secret, headers: { origin: t.link.base.slice(0, -1) } })
    const rows = await page.call<Array<{ name: string, state: string }>>('modules.list')
    expect(rows.map(r => [r.name, r.state])).toEqual(await devCall<Array<{ name: string, state: string }>>(t.dev, 'modules.list').then(list => list.map(r => [r.name, r.state])))
    expect(await page.call('modules.call', { module: 'counter', method: 'increment', params: { by: 2 } })).toEqual({ count: 2, at: 'counter' })
    // The node's own errors come back as they are.
    const failed = await page.request('modules.call', { module: 'counter', method: 'increment', params: { by: 5000 } })
    expect(failed.error).toMatchObject({ code: -32000, data: { code: 'ERR_TEST_COUNTER_LIMIT', data: { limit: 1000 } } })
    const unknown = await page.request('no.such.method')
    expect(unknown.error?.code).toBe(-32601)
    // Subscriptions stream through it.
    const sub = await page.call<string>('logs.subscribe', { modules: ['counter'] })
    await page.call('modules.call', { module: 'counter', method: 'say', params: { level: 'info', message: 'through the relay' } })
    await eventually(() => {
      const entries = page.notifications.filter(n => n.params?.subscription === sub).flatMap(n => n.params?.entries as Array<{ message: string }>)
      expect(entries.map(e => e.message)).toContain('through the relay')
    })
    const token = (await readFile(join(t.dataDir, 'modules', 'developer', 'token'), 'utf8')).trim()
    const seen = JSON.stringify([...page.notifications, ...page.answers])
    expect(seen).not.toContain(token)
    page.close()
  })

  it('answers basecamp.* itself: the session and the node process\'s figures', async () => {
    const page = await RelayClient.connect(t.link.base, { secret: t.link.secret })
    expect(await page.call('basecamp.session')).toEqual({ module: 'basecamp', version: '0.1.0', via: 'developer', pid: process.pid })
    const outerStart = performance.now()
    const first = await page.call<{ pid: number, cpuPercent: number, rssBytes: number, uptimeMs: number }>('basecamp.node')
    expect(first.pid).toBe(process.pid)
    expect(first.rssBytes).toBeGreaterThan(10 * 1024 * 1024)
    expect(first.cpuPercent).toBeGreaterThanOrEqual(0)
    // Burn 200 ms of CPU time in this very process (the node's): the next figure, measured since the previous call on
    // this connection, must show at least that much over the wall time both calls took (a lower bound that holds on a
    // busy machine too).
    const before = process.cpuUsage()
    while ((process.cpuUsage(before).user + process.cpuUsage(before).system) < 200_000) Math.sqrt(Math.random())
    const second = await page.call<{ cpuPercent: number, uptimeMs: number }>('basecamp.node')
    const outerMs = performance.now() - outerStart
    expect(second.cpuPercent).toBeGreaterThanOrEqual(Math.floor(200 / outerMs * 100 * 10) / 10 - 0.1)
    expect(second.uptimeMs).toBeGreaterThanOrEqual(first.uptimeMs)
    expect((await page.request('basecamp.nothing')).error).toMatchObject({ code: -32601, data: { method: 'basecamp.nothing' } })
    page.close()
  })

  it('refuses to stop, unload, reload or watch Basecamp itself (by name or by position), and such batches', async () => {
    const page = await RelayClient.connect(t.link.base, { secret: t.link.secret })
    for (const [method, params] of [['modules.stop', { name: 'basecamp' }], ['modules.unload', ['basecamp', true]], ['modules.reload', { name: 'basecamp' }], ['modules.watch', { name: 'basecamp' }]] as const) {
      const m = await page.request(method, params)
      expect(m.error, method).toMatchObject({ code: -32000, data: { code: 'ERR_BASECAMP_SELF_CONTROL' } })
    }
    expect(t.node.kernel.state('basecamp')).toBe('running')
    // The developer module refuses control of itself on its own.
    expect((await page.request('modules.stop', { name: 'developer' })).error?.data?.code).toBe('ERR_DEV_SELF_CONTROL')
    page.socket.send(JSON.stringify([{ jsonrpc: '2.0', id: 'a', method: 'modules.list' }, { jsonrpc: '2.0', id: 'b', method: 'modules.stop', params: { name: 'basecamp' } }, { jsonrpc: '2.0', method: 'basecamp.node' }]))
    await eventually(() => { expect(page.answers.length).toBe(2) })
    const batch = page.answers.splice(0) as Array<{ id: string, error: { data: { code: string } } }>
    expect(batch.map(a => [a.id, a.error.data.code])).toEqual([['a', 'ERR_BASECAMP_BATCH_REFUSED'], ['b', 'ERR_BASECAMP_BATCH_REFUSED']])
    // A notification is never answered, even one the relay handles.
    page.socket.send(JSON.stringify({ jsonrpc: '2.0', method: 'basecamp.node' }))
    expect(await page.call('basecamp.session')).toMatchObject({ module: 'basecamp' })
    expect(page.answers).toEqual([])
    page.close()
  })

  it('closes the page with the reason when the developer interface cannot be reached, and works again once it can', async () => {
    const tokenFile = join(t.dataDir, 'modules', 'developer', 'token')
    const token = await readFile(tokenFile, 'utf8')
    await rm(tokenFile)
    try {
      const page = await RelayClient.connect(t.link.base, { secret: t.link.secret })
      const closed = await page.closed
      expect(closed.code).toBe(1011)
      expect(closed.reason).toMatch(/^ERR_BASECAMP_NODE_UNREACHABLE: /)
    } finally {
      await writeFile(tokenFile, token, { mode: 0o600 })
    }
    const page = await RelayClient.connect(t.link.base, { secret: t.link.secret })
    expect(await page.call('logs.level', { module: 'counter' })).toEqual({ module: 'counter', level: 'info' })
    page.close()
  })

  it('holds at most 8 pages, and frees a slot when a page goes', async () => {
    await eventually(async () => { expect(await t.node.kernel.call('basecamp', 'endpoint')).toMatchObject({ clients: 0 }) })
    const pages = await Promise.all(Array.from({ length: 8 }, async () => await RelayClient.connect(t.link.base, { secret: t.link.secret })))
    expect(await t.node.kernel.call('basecamp', 'endpoint')).toMatchObject({ clients: 8 })
    expect(await refusal({ secret: t.link.secret })).toMatchObject({ status: 503, body: { error: { code: 'ERR_BASECAMP_LIMIT_REACHED' } } })
    pages[0]?.close()
    await eventually(async () => { expect(await t.node.kernel.call('basecamp', 'endpoint')).toMatchObject({ clients: 7 }) })
    const again = await RelayClient.connect(t.link.base, { secret: t.link.secret })
    for (const p of [...pages.slice(1), again]) p.close()
  })
})

describe('Basecamp relay flow control', () => {
  it('a page that reads too slowly makes the node drop records for it (and say so) instead of Basecamp buffering them', async () => {
    // Small bounds on the developer side make the test quick; Basecamp's own bound is what is under test.
    const small = await startBasecampNode({ dirs: [COUNTER_DIR], config: { developer: { clientQueueRecords: 200, clientHighWaterBytes: 64 * 1024 } } })
    try {
      const page = await RelayClient.connect(small.link.base, { secret: small.link.secret })
      const sub = await page.call<string>('logs.subscribe', { modules: ['counter'] })
      page.socket.pause()
      const line = 'x'.repeat(2000)
      // ~60 MB of log lines, 100 per turn of the event loop (so a reader that keeps up loses none): far over what
      // the relay lets itself hold (4 MiB) and what the socket buffers take.
      for (let i = 0; i < 30_000; i++) {
        small.node.kernel.logs.write({ at: Date.now(), module: 'counter', level: 'info', message: `${i} ${line}` })
        if (i % 100 === 99) await new Promise(resolve => setImmediate(resolve))
      }
      await new Promise(resolve => setTimeout(resolve, 300))
      const rss = process.memoryUsage().rss
      page.socket.resume()
      await eventually(() => { expect(page.notifications.some(n => n.method === 'subscription.dropped' && n.params?.subscription === sub)).toBe(true) }, 20_000)
      const delivered = page.notifications.filter(n => n.method === 'logs.entries').reduce((sum, n) => sum + (n.params?.entries as unknown[]).length, 0)
      const dropped = page.notifications.filter(n => n.method === 'subscription.dropped').reduce((sum, n) => sum + (n.params?.dropped as number), 0)
      expect(delivered).toBeLessThan(30_000)
      expect(dropped).toBeGreaterThan(0)
      expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024)
      page.close()
    } finally {
      await small.stop()
    }
  })
})

describe('Basecamp relay and pages that go away', () => {
  it('a lifecycle action in flight completes on the node when its page goes away (a reload)', async () => {
    await t.node.kernel.load({ dir: SLOW_DIR }, { config: { startMs: 1_500, stopMs: 0 } })
    try {
      const page = await RelayClient.connect(t.link.base, { secret: t.link.secret })
      page.socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'modules.start', params: { name: 'slow' } }))
      await eventually(() => { expect(t.node.kernel.state('slow')).toBe('starting') })
      page.close()
      await page.closed
      await eventually(() => { expect(t.node.kernel.state('slow')).toBe('running') }, 10_000)
    } finally {
      await t.node.kernel.unload('slow')
    }
  })
})
