import { chmod, mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkBrowserAccess, checkToken, ensureToken, presentedToken } from '../../../src/modules/developer/access.ts'
import { ClientQueue } from '../../../src/modules/developer/client-queue.ts'
import { parseConfig } from '../../../src/modules/developer/config.ts'
import { resolveFresh } from '../../../src/modules/developer/fresh-imports.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'logos-dev-units-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

/** The one stand-in of these tests: a socket whose unsent bytes the test controls. */
class SocketStandIn {
  bufferedAmount = 0
  readonly sent: Array<{ method: string, params: Record<string, unknown> }> = []
  send (text: string): void {
    this.sent.push(JSON.parse(text) as { method: string, params: Record<string, unknown> })
  }

  items (): number[] {
    return this.sent.filter(m => m.method === 'trace.records').flatMap(m => m.params.records as number[])
  }

  dropped (): number {
    return this.sent.filter(m => m.method === 'subscription.dropped').reduce((s, m) => s + (m.params.dropped as number), 0)
  }
}

const turn = async (ms = 0): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('the per-client queue', () => {
  it('batches records into one notification per turn, at most maxPerNotification each', async () => {
    const socket = new SocketStandIn()
    const queue = new ClientQueue(socket, { maxPerNotification: 3 })
    let push: (item: unknown) => void = () => {}
    const id = queue.subscribe('trace', (p) => { push = p; return () => {} })
    for (let i = 0; i < 7; i++) push(i)
    expect(socket.sent).toEqual([])
    await turn()
    expect(socket.sent.map(m => m.params.records)).toEqual([[0, 1, 2], [3, 4, 5], [6]])
    expect(socket.sent.every(m => m.params.subscription === id)).toBe(true)
  })

  it('holds records while the socket is over its high-water mark, then drops and counts, and says where', async () => {
    const socket = new SocketStandIn()
    const queue = new ClientQueue(socket, { queueLimit: 5, highWaterBytes: 100, retryMs: 5 })
    let push: (item: unknown) => void = () => {}
    queue.subscribe('trace', (p) => { push = p; return () => {} })
    socket.bufferedAmount = 1000
    for (let i = 0; i < 12; i++) push(i)
    await turn(20)
    expect(socket.sent).toEqual([])
    expect(queue.size).toBe(5)
    expect(queue.droppedTotal).toBe(7)
    socket.bufferedAmount = 0
    await turn(20)
    push(100)
    await turn(20)
    // The first five were queued; seven were lost (reported once the queue drained); then what came after.
    expect(socket.sent.map(m => m.method === 'subscription.dropped' ? `dropped ${String(m.params.dropped)}` : (m.params.records as number[]).join(','))).toEqual(['0,1,2,3,4', 'dropped 7', '100'])
    // Losses with nothing after them are reported once the queue drains.
    socket.bufferedAmount = 1000
    for (let i = 0; i < 8; i++) push(200 + i)
    socket.bufferedAmount = 0
    await turn(20)
    expect(socket.items().slice(-5)).toEqual([200, 201, 202, 203, 204])
    expect(socket.dropped()).toBe(10)
    expect(socket.items().length + socket.dropped()).toBe(12 + 1 + 8)
  })

  it('puts the loss notice in the stream where the records went missing', async () => {
    const socket = new SocketStandIn()
    const queue = new ClientQueue(socket, { queueLimit: 5, highWaterBytes: 50, retryMs: 5, maxPerNotification: 2 })
    let push: (item: unknown) => void = () => {}
    queue.subscribe('trace', (p) => { push = p; return () => {} })
    const send = socket.send.bind(socket)
    socket.send = (text: string) => { send(text); socket.bufferedAmount += text.length }
    for (let i = 0; i < 8; i++) push(i) // 0..4 queued, 5..7 lost
    await turn() // one notification (0, 1) fills the socket past its mark
    expect(socket.items()).toEqual([0, 1])
    push(50) // room again: the notice goes in first (it takes a slot too)
    push(51) // full again: lost
    socket.bufferedAmount = 0
    socket.send = send
    await turn(20)
    expect(socket.sent.map(m => m.method === 'subscription.dropped' ? `dropped ${String(m.params.dropped)}` : (m.params.records as number[]).join(','))).toEqual(['0,1', '2,3', '4', 'dropped 3', '50', 'dropped 1'])
  })

  it('ends subscriptions on close and bounds how many there are', async () => {
    const socket = new SocketStandIn()
    const queue = new ClientQueue(socket, { maxSubscriptions: 2 })
    let detached = 0
    queue.subscribe('trace', () => () => { detached++ })
    const second = queue.subscribe('logs', () => () => { detached++ })
    expect(() => queue.subscribe('trace', () => () => {})).toThrow(expect.objectContaining({ code: 'ERR_DEV_LIMIT_REACHED' }))
    queue.unsubscribe(second)
    expect(() => { queue.unsubscribe(second) }).toThrow(expect.objectContaining({ code: 'ERR_DEV_SUBSCRIPTION_NOT_FOUND' }))
    queue.close()
    expect(detached).toBe(2)
    expect(queue.subscriptionIds()).toEqual([])
  })
})

describe('the access token', () => {
  it('is created owner-only, kept across starts, and replaced when others could read it or it is malformed', async () => {
    const folder = join(dir, 'token-folder')
    await mkdir(folder)
    const token = await ensureToken(folder)
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect((await stat(join(folder, 'token'))).mode & 0o777).toBe(0o600)
    expect(await ensureToken(folder)).toBe(token)
    await chmod(join(folder, 'token'), 0o644)
    const replaced = await ensureToken(folder)
    expect(replaced).not.toBe(token)
    expect((await stat(join(folder, 'token'))).mode & 0o777).toBe(0o600)
    await writeFile(join(folder, 'token'), 'guessable', { mode: 0o600 })
    expect(await ensureToken(folder)).toMatch(/^[0-9a-f]{64}$/)
    expect((await readFile(join(folder, 'token'), 'utf8')).trim()).not.toBe('guessable')
  })

  it('is taken from a Bearer header or the query, and compared whole', () => {
    const url = new URL('http://127.0.0.1:1/rpc?token=q')
    expect(presentedToken('Bearer abc', url)).toBe('abc')
    expect(presentedToken('bearer   abc ', url)).toBe('abc')
    expect(presentedToken('Basic abc', url)).toBe('q')
    expect(presentedToken(undefined, new URL('http://127.0.0.1:1/rpc'))).toBeUndefined()
    expect(() => { checkToken(undefined, 'abc') }).toThrow(expect.objectContaining({ code: 'ERR_DEV_TOKEN_MISSING' }))
    expect(() => { checkToken('ab', 'abc') }).toThrow(expect.objectContaining({ code: 'ERR_DEV_TOKEN_INVALID' }))
    expect(() => { checkToken('abd', 'abc') }).toThrow(expect.objectContaining({ code: 'ERR_DEV_TOKEN_INVALID' }))
    expect(() => { checkToken('abc', 'abc') }).not.toThrow()
  })

  it('browser checks: loopback Host with the right port; Origin absent, own, or allowed', () => {
    const ok = [
      [{ host: '127.0.0.1:8080' }, []],
      [{ host: 'localhost:8080', origin: 'http://localhost:8080' }, []],
      [{ host: '[::1]:8080', origin: 'http://127.0.0.1:8080' }, []],
      [{ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:5173' }, ['http://127.0.0.1:5173']]
    ] as const
    for (const [headers, allowed] of ok) expect(() => { checkBrowserAccess(headers, 8080, allowed) }).not.toThrow()
    const refused = [
      { host: 'evil.example:8080' }, { host: '127.0.0.1:8081' }, {}, { host: '127.0.0.1:8080', origin: 'http://evil.example' },
      { host: '127.0.0.1:8080', origin: 'null' }, { host: '127.0.0.1:8080', origin: 'https://127.0.0.1:8080' }, { host: '127.0.0.1:8080', origin: 'http://127.0.0.1:5173' }
    ]
    for (const headers of refused) expect(() => { checkBrowserAccess(headers, 8080, []) }, JSON.stringify(headers)).toThrow(expect.objectContaining({ code: 'ERR_DEV_ORIGIN_REFUSED' }))
  })
})

describe('configuration', () => {
  it('defaults to 127.0.0.1 and an ephemeral port, and refuses non-loopback hosts and bad fields', () => {
    expect(parseConfig({})).toMatchObject({ host: '127.0.0.1', port: 0, allowedOrigins: [], watch: [] })
    expect(parseConfig({ host: '::1', port: 8645, watch: ['a'], watchDebounceMs: 50 })).toMatchObject({ host: '::1', port: 8645, watch: ['a'], watchDebounceMs: 50 })
    for (const [raw, field] of [[{ host: '0.0.0.0' }, 'host'], [{ port: 70000 }, 'port'], [{ allowedOrigins: ['*'] }, 'allowedOrigins'], [{ watch: 'a' }, 'watch'], [{ clientQueueRecords: 0 }, 'clientQueueRecords']] as const) {
      expect(() => parseConfig(raw), field).toThrow(expect.objectContaining({ code: 'ERR_DEV_BAD_CONFIG', data: expect.objectContaining({ field }) }))
    }
  })
})

describe('fresh imports of multi-file modules', () => {
  it('carries the generation from a module\'s files to the files of the same module folder only', async () => {
    const mod = join(dir, 'mod')
    await mkdir(join(mod, 'lib'), { recursive: true })
    await mkdir(join(mod, 'node_modules', 'dep'), { recursive: true })
    await writeFile(join(mod, 'module.json'), '{}')
    const next = (specifier: string, context?: { parentURL?: string }): { url: string } => ({ url: new URL(specifier, context?.parentURL).href })
    const resolve = (specifier: string, parent: string): string => resolveFresh(specifier, { parentURL: parent, conditions: [], importAttributes: {} }, next).url
    const entry = pathToFileURL(join(mod, 'index.ts')).href
    expect(resolve('./lib/a.ts', `${entry}?generation=7`)).toBe(`${pathToFileURL(join(mod, 'lib/a.ts')).href}?generation=7`)
    expect(resolve('./b.ts', `${pathToFileURL(join(mod, 'lib/a.ts')).href}?generation=7`)).toBe(`${pathToFileURL(join(mod, 'lib/b.ts')).href}?generation=7`)
    // Outside the module folder (the SDK), inside node_modules, or from an untagged parent: unchanged.
    expect(resolve('../sdk/index.ts', `${entry}?generation=7`)).toBe(pathToFileURL(join(dir, 'sdk/index.ts')).href)
    expect(resolve('./node_modules/dep/x.js', `${entry}?generation=7`)).toBe(pathToFileURL(join(mod, 'node_modules/dep/x.js')).href)
    expect(resolve('./lib/a.ts', entry)).toBe(pathToFileURL(join(mod, 'lib/a.ts')).href)
    expect(resolve('node:fs', `${entry}?generation=7`)).toBe('node:fs')
  })
})
