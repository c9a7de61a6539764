/**
 * What Basecamp's relay costs, against a real `logos start` in a process of its own:
 * - a JSON-RPC round trip (`logs.level`) through the relay and straight to the developer interface, in interleaved
 *   rounds (the baseline is measured in the same run);
 * - streaming: one trace subscription through the relay and one straight, both fed by the same calls, and how long
 *   each takes to deliver all of them;
 * - with chromium present, how long the page takes from the link to the modules table (cold: the UI's files read and
 *   type-stripped; warm: cached).
 * Usage: npm run bench -- basecamp [rounds=7] [calls=400] [streamed=20000]
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { WebSocket } from 'ws'
import { summarize } from '../src/common/index.ts'
import { round } from './measure.ts'

const ROOT = join(import.meta.dirname, '..')
const CLI = join(ROOT, 'src/apps/cli/logos.ts')
const COUNTER = join(ROOT, 'test/fixtures/basecamp/modules/counter')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'

interface Rpc {
  call: (method: string, params?: unknown) => Promise<unknown>
  onNotification: (fn: (m: { method: string, params: Record<string, unknown> }) => void) => void
  close: () => void
}

async function connect (url: string, headers: Record<string, string> = {}): Promise<Rpc> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false })
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
  let id = 0
  const pending = new Map<number, (m: { result?: unknown, error?: { message: string } }) => void>()
  const listeners: Array<(m: { method: string, params: Record<string, unknown> }) => void> = []
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { id?: number, method?: string, params?: Record<string, unknown>, result?: unknown, error?: { message: string } }
    if (m.id !== undefined) {
      pending.get(m.id)?.(m)
      pending.delete(m.id)
    } else if (m.method !== undefined) {
      for (const fn of listeners) fn(m as { method: string, params: Record<string, unknown> })
    }
  })
  return {
    call: async (method, params) => await new Promise((resolve, reject) => {
      const n = ++id
      pending.set(n, (m) => { if (m.error !== undefined) reject(new Error(m.error.message)); else resolve(m.result) })
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: n, method, params: params ?? {} }))
    }),
    onNotification: (fn) => { listeners.push(fn) },
    close: () => { ws.close() }
  }
}

/** Per-call times (ns) of `n` sequential calls. */
async function rtts (rpc: Rpc, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    await rpc.call('logs.level', { module: 'developer' })
    out.push(Number(process.hrtime.bigint() - t0))
  }
  return out
}

/** Ms until a trace subscriber has received `count` call records. */
function received (rpc: Rpc, subscription: string, count: number, t0: number): Promise<number> {
  let seen = 0
  return new Promise((resolve) => {
    rpc.onNotification((m) => {
      if (m.method !== 'trace.records' || m.params.subscription !== subscription) return
      seen += (m.params.records as unknown[]).length
      if (seen >= count) resolve(performance.now() - t0)
    })
  })
}

export async function run (args: string[]): Promise<Record<string, unknown>> {
  const rounds = Number(args[0] ?? 7)
  const calls = Number(args[1] ?? 400)
  const streamed = Number(args[2] ?? 20_000)
  const dataDir = await mkdtemp(join(tmpdir(), 'logos-basecamp-bench-'))
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const link = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /Basecamp: (\S+)\n/.exec(out)
        if (m !== null) resolve(m[1] as string)
      })
      child.once('exit', (code) => { reject(new Error(`logos start exited with ${code}`)) })
    })
    const [base, secret] = link.split('#secret=') as [string, string]
    const devFolder = join(dataDir, 'modules', 'developer')
    const endpoint = JSON.parse(await readFile(join(devFolder, 'endpoint'), 'utf8')) as { ws: string }
    const token = (await readFile(join(devFolder, 'token'), 'utf8')).trim()
    const direct = await connect(endpoint.ws, { authorization: `Bearer ${token}` })
    const relayed = await connect(`${base.replace('http', 'ws')}rpc?secret=${secret}`)
    await direct.call('modules.load', { dir: COUNTER })

    // Round trips, interleaved so that both see the same machine.
    await rtts(direct, 200)
    await rtts(relayed, 200)
    const directP50: number[] = []
    const relayP50: number[] = []
    const directAll: number[] = []
    const relayAll: number[] = []
    for (let r = 0; r < rounds; r++) {
      const d = await rtts(direct, calls)
      const v = await rtts(relayed, calls)
      directP50.push(summarize(d).p50)
      relayP50.push(summarize(v).p50)
      directAll.push(...d)
      relayAll.push(...v)
    }
    const rttDirect = summarize(directP50).p50
    const rttRelay = summarize(relayP50).p50

    // Streaming: both subscribers get the same records; a third connection makes the calls, 64 in flight.
    const driver = await connect(endpoint.ws, { authorization: `Bearer ${token}` })
    const subDirect = await direct.call('trace.subscribe', { types: ['call'], modules: ['counter'] }) as string
    const subRelay = await relayed.call('trace.subscribe', { types: ['call'], modules: ['counter'] }) as string
    const t0 = performance.now()
    const doneDirect = received(direct, subDirect, streamed, t0)
    const doneRelay = received(relayed, subRelay, streamed, t0)
    let next = 0
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < streamed) {
        next++
        await driver.call('modules.call', { module: 'counter', method: 'pid' })
      }
    }))
    const [streamDirectMs, streamRelayMs] = await Promise.all([doneDirect, doneRelay])
    for (const c of [direct, relayed, driver]) c.close()

    // The page, in a real browser.
    const page: Record<string, unknown> = {}
    if (existsSync(CHROMIUM)) {
      const profile = await mkdtemp(join(tmpdir(), 'basecamp-bench-chromium-'))
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
      })
      const loads: number[] = []
      for (let i = 0; i < 6; i++) {
        const tab = await context.newPage()
        const start = performance.now()
        await tab.goto(link)
        await tab.locator('tr[data-module=developer] .badge', { hasText: 'running' }).waitFor()
        loads.push(performance.now() - start)
        await tab.close()
      }
      await context.close()
      await rm(profile, { recursive: true, force: true })
      page.page_ready_cold_ms = round(loads[0] as number)
      page.page_ready_warm_ms_p50 = round(summarize(loads.slice(1)).p50)
    } else {
      console.error(`no chromium at ${CHROMIUM}: the page figures are left out`)
    }

    return {
      rounds,
      calls_per_round: calls,
      rtt_direct_p50_us: round(rttDirect / 1000, 1),
      rtt_relay_p50_us: round(rttRelay / 1000, 1),
      relay_overhead_us: round((rttRelay - rttDirect) / 1000, 1),
      rtt_direct_p99_us: round(summarize(directAll).p99 / 1000, 1),
      rtt_relay_p99_us: round(summarize(relayAll).p99 / 1000, 1),
      streamed_records: streamed,
      stream_direct_ms: round(streamDirectMs),
      stream_relay_ms: round(streamRelayMs),
      stream_relay_records_per_s: round(streamed / (streamRelayMs / 1000)),
      ...page
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
    await rm(dataDir, { recursive: true, force: true })
  }
}
