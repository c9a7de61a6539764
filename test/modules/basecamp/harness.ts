/**
 * Test harness for Basecamp. The clients here are written against the documented interfaces (HTTP, WebSocket,
 * JSON-RPC 2.0) with fetch and the `ws` package; they share no code with src/modules/basecamp.
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { BrowserContext } from 'playwright-core'
import { WebSocket } from 'ws'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { startCli } from '../../helpers/run-cli.ts'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const FIXTURES = join(ROOT, 'test/fixtures/basecamp/modules')
export const COUNTER_DIR = join(FIXTURES, 'counter')
export const SLOW_DIR = join(FIXTURES, 'slow')

/** Debian's chromium (CI installs it); CHROMIUM names another binary. */
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
export const HAS_CHROMIUM = existsSync(CHROMIUM)
if (!HAS_CHROMIUM) console.warn(`Basecamp browser tests are SKIPPED: no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`)

export interface Link {
  /** http://127.0.0.1:<port>/ */
  base: string
  secret: string
  link: string
}

export function parseLink (link: string): Link {
  const m = /^(http:\/\/127\.0\.0\.1:\d+\/)#secret=([0-9a-f]{64})$/.exec(link)
  if (m === null) throw new Error(`not a Basecamp link: ${link}`)
  return { base: m[1] as string, secret: m[2] as string, link }
}

export interface DevAccess {
  url: string
  token: string
}

/** The developer interface of a node, from its files (as `logos dev` finds it). */
export async function devAccess (dataDir: string): Promise<DevAccess> {
  const folder = join(dataDir, 'modules', 'developer')
  const endpoint = JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { url: string }
  return { url: endpoint.url, token: (await readFile(join(folder, 'token'), 'utf8')).trim() }
}

let nextId = 1
/** One JSON-RPC call to the developer interface over HTTP: an independent view of the node for assertions. */
export async function devCall<R = unknown> (dev: DevAccess, method: string, params?: unknown): Promise<R> {
  const res = await fetch(dev.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${dev.token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: params ?? {} })
  })
  const body = await res.json() as { result?: R, error?: { message: string, data?: { code?: string } } }
  if (body.error !== undefined) throw Object.assign(new Error(body.error.message), { code: body.error.data?.code })
  return body.result as R
}

/** An in-process node with the developer module and Basecamp (trusted, from the distribution) and the given folders. */
export interface NodeUnderTest {
  node: LogosNode
  dataDir: string
  link: Link
  dev: DevAccess
  stop: () => Promise<void>
}

export async function startBasecampNode (options: { dirs?: string[], config?: Record<string, Record<string, unknown>> } = {}): Promise<NodeUnderTest> {
  const dataDir = await mkdtemp(join(tmpdir(), 'logos-basecamp-test-'))
  const modules: Record<string, { config: Record<string, unknown> }> = {}
  for (const [name, config] of Object.entries(options.config ?? {})) modules[name] = { config }
  const node = await startNode({ dataDir, only: ['developer', 'basecamp'], start: false, config: { modules } })
  for (const dir of options.dirs ?? []) await node.kernel.load({ dir })
  const results = await node.kernel.startAll()
  const failed = results.filter(r => r.error !== undefined)
  if (failed.length > 0) throw new Error(`modules failed to start: ${failed.map(r => `${r.name}: ${r.error?.message ?? ''}`).join('; ')}`)
  const link = await readLinkFiles(dataDir)
  return {
    node,
    dataDir,
    link,
    dev: await devAccess(dataDir),
    stop: async () => {
      await node.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  }
}

/** The link from Basecamp's files (what `logos basecamp` prints). */
export async function readLinkFiles (dataDir: string): Promise<Link> {
  const folder = join(dataDir, 'modules', 'basecamp')
  const endpoint = JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { url: string }
  const secret = (await readFile(join(folder, 'secret'), 'utf8')).trim()
  return parseLink(`${endpoint.url}#secret=${secret}`)
}

/** A real `logos start` process: the whole distribution, as a user starts it. */
export interface NodeProcess {
  child: ChildProcess
  dataDir: string
  link: Link
  dev: DevAccess
  output: () => string
  stop: () => Promise<void>
}

export async function startNodeProcess (dataDir?: string): Promise<NodeProcess> {
  const dir = dataDir ?? await mkdtemp(join(tmpdir(), 'logos-basecamp-e2e-'))
  const { child, output } = await startCli(['start', '--data-dir', dir], /Basecamp: http\S+#secret=[0-9a-f]{64}\n/, { timeoutMs: 60_000 })
  const printed = /Basecamp: (http\S+#secret=[0-9a-f]{64})\n/.exec(output())
  return {
    child,
    dataDir: dir,
    link: parseLink((printed as RegExpExecArray)[1] as string),
    dev: await devAccess(dir),
    output,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}

/** Chromium, headless, with a profile of its own. */
export async function launchBrowser (): Promise<{ context: BrowserContext, close: () => Promise<void> }> {
  const profile = await mkdtemp(join(tmpdir(), 'basecamp-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 }
  })
  return {
    context,
    close: async () => {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    }
  }
}

/**
 * A free port for a node that must keep it across a restart: taken below the kernel's ephemeral range, so that no
 * other test's listen(0) in the meantime can be handed the same one while the node is down.
 */
export async function fixedPort (): Promise<number> {
  // Linux's default range starts at 32768; elsewhere (no /proc) that default stands.
  const range = existsSync('/proc/sys/net/ipv4/ip_local_port_range') ? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8') : ''
  const low = Number(range.trim().split(/\s+/)[0]) || 32768
  const from = Math.max(1024, Math.min(20_000, low - 2_000))
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from))
    const server = createServer()
    const bound = await new Promise<boolean>(resolve => {
      server.once('error', () => { resolve(false) })
      server.listen(port, '127.0.0.1', () => { resolve(true) })
    })
    if (bound) {
      await new Promise(resolve => server.close(resolve))
      return port
    }
  }
  throw new Error('no free port below the ephemeral range')
}

/** Polls until `check` passes (returns without throwing), or throws its last error after `timeoutMs`. */
export async function eventually<T> (check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (err) {
      if (Date.now() > deadline) throw err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

interface Message {
  id?: number | string | null
  result?: unknown
  error?: { code: number, message: string, data?: { code?: string, [k: string]: unknown } }
  method?: string
  params?: Record<string, unknown>
}

/** A WebSocket JSON-RPC client of Basecamp's relay, as a page would use it. */
export class RelayClient {
  readonly socket: WebSocket
  readonly notifications: Message[] = []
  readonly answers: Message[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  private readonly pending = new Map<number | string, (m: Message) => void>()

  private constructor (socket: WebSocket) {
    this.socket = socket
    this.closed = new Promise(resolve => { socket.once('close', (code, reason) => { resolve({ code, reason: reason.toString() }) }) })
    socket.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as Message | Message[]
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        const waiter = m.id === undefined || m.id === null ? undefined : this.pending.get(m.id)
        if (waiter !== undefined && m.id !== undefined && m.id !== null) {
          this.pending.delete(m.id)
          waiter(m)
        } else if (m.method !== undefined) {
          this.notifications.push(m)
        } else {
          this.answers.push(m)
        }
      }
    })
  }

  /** Opens the relay; rejects with the HTTP status and body when the upgrade is refused. */
  static async connect (base: string, options: { secret?: string, headers?: Record<string, string>, path?: string } = {}): Promise<RelayClient> {
    const url = new URL(options.path ?? 'rpc', base.replace(/^http/, 'ws'))
    if (options.secret !== undefined) url.searchParams.set('secret', options.secret)
    const socket = new WebSocket(url, { headers: options.headers })
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => { resolve() })
      socket.once('unexpected-response', (_req, res) => {
        let text = ''
        res.on('data', (c: Buffer) => { text += c.toString() })
        res.on('end', () => { reject(Object.assign(new Error(`HTTP ${res.statusCode ?? 0}`), { status: res.statusCode, body: text })) })
      })
      socket.once('error', reject)
    })
    return new RelayClient(socket)
  }

  async request (method: string, params?: unknown, id: number | string = nextId++): Promise<Message> {
    const reply = new Promise<Message>((resolve) => { this.pending.set(id, resolve) })
    this.socket.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }))
    return await reply
  }

  async call<R = unknown> (method: string, params?: unknown): Promise<R> {
    const m = await this.request(method, params)
    if (m.error !== undefined) throw Object.assign(new Error(m.error.message), { rpc: m.error })
    return m.result as R
  }

  close (): void {
    this.socket.close()
  }
}
