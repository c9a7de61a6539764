import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { summarize } from '../src/common/index.ts'
import { Kernel } from '../src/kernel/index.ts'
import { defineModule } from '../src/sdk/index.ts'
import { round } from './measure.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * What tracing costs a call. The same in-process call (the kernel bench's `echo`) is timed three ways, in interleaved
 * rounds so drift hits all alike:
 *  - untraced: no trace subscriber at all (the developer module is stopped);
 *  - traced: the developer module runs, so its own subscriber (recent calls and errors per module) sees every call;
 *  - traced + ws: also a WebSocket client (in a process of its own) subscribed to every call record, which the module
 *    queues, encodes and writes to the socket.
 * Each batch of calls ends with a turn of the event loop, inside the timed region, so the WebSocket flush (encoding
 * and writing) is counted against the calls that caused it.
 * Args: [rounds=11] [batches=200] [batch=200].
 */
export async function run (args: string[]): Promise<Record<string, unknown>> {
  const rounds = Number(args[0] ?? 11)
  const batches = Number(args[1] ?? 200)
  const batch = Number(args[2] ?? 200)
  const dataDir = await mkdtemp(join(tmpdir(), 'logos-bench-trace-'))
  const kernel = new Kernel({ dataDir })
  await kernel.load({ dir: join(ROOT, 'src/modules/developer') }, { trusted: true })
  await kernel.load(defineModule({ name: 'echo', version: '1.0.0', start: () => ({ methods: { echo: async (x: number) => x } }) }))
  await kernel.start('echo')
  const call = async (): Promise<unknown> => await kernel.call('echo', 'echo', 1)

  const samples: Record<'untraced' | 'traced' | 'ws', number[]> = { untraced: [], traced: [], ws: [] }
  let subscriber: Subscriber | undefined
  let wsCalls = 0
  let wsStart = { records: 0, dropped: 0 }
  for (let r = 0; r < rounds; r++) {
    if (kernel.state('developer') === 'running') await kernel.stop('developer')
    if (kernel.trace.active) throw new Error('a trace subscriber is attached in the untraced run')
    samples.untraced.push(await perCallNs(call, batches, batch))

    await kernel.start('developer')
    samples.traced.push(await perCallNs(call, batches, batch))

    subscriber = await Subscriber.start(dataDir)
    wsStart = await subscriber.counts()
    samples.ws.push(await perCallNs(call, batches, batch))
    wsCalls = (batches + Math.floor(batches / 4)) * batch
    await subscriber.settle(wsStart.records + wsStart.dropped + wsCalls)
    if (r < rounds - 1) await subscriber.stop()
  }
  const end = await (subscriber as Subscriber).counts()
  const counts = { records: end.records - wsStart.records, dropped: end.dropped - wsStart.dropped }
  await (subscriber as Subscriber).stop()
  await kernel.shutdown()
  await rm(dataDir, { recursive: true, force: true })

  const untraced = summarize(samples.untraced).p50
  const traced = summarize(samples.traced).p50
  const ws = summarize(samples.ws).p50
  console.log(`per call (median of ${rounds} rounds of ${batches} x ${batch}): untraced ${round(untraced)} ns, traced ${round(traced)} ns, traced + WebSocket subscriber ${round(ws)} ns`)
  console.log(`rounds: untraced ${samples.untraced.map(n => round(n)).join(' ')}; traced ${samples.traced.map(n => round(n)).join(' ')}; ws ${samples.ws.map(n => round(n)).join(' ')}`)
  console.log(`WebSocket subscriber, last round: ${counts.records} records received, ${counts.dropped} dropped, of ${wsCalls} calls`)
  return {
    untraced_call_p50_ns: round(untraced),
    traced_call_p50_ns: round(traced),
    trace_overhead: round(traced / untraced, 3),
    traced_ws_call_p50_ns: round(ws),
    ws_trace_overhead: round(ws / untraced, 3),
    ws_records_received: counts.records,
    ws_records_dropped: counts.dropped,
    rounds,
    calls_per_sample: batches * batch
  }
}

/** The p50 over batches of the per-call time; each batch ends with one turn of the event loop (timed). */
async function perCallNs (op: () => Promise<unknown>, batches: number, batch: number): Promise<number> {
  const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
  for (let b = 0; b < Math.floor(batches / 4); b++) {
    for (let i = 0; i < batch; i++) await op()
    await turn()
  }
  const means: number[] = []
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) await op()
    await turn()
    means.push(Number(process.hrtime.bigint() - t0) / batch)
  }
  return summarize(means).p50
}

/** A WebSocket trace subscriber in a process of its own (so its parsing does not run on the measured thread). */
class Subscriber {
  private readonly proc: ReturnType<typeof spawn>
  private buffer = ''
  private readonly waiting: Array<(line: string) => void> = []

  private constructor (proc: ReturnType<typeof spawn>) {
    this.proc = proc
    proc.stdout?.on('data', (c: Buffer) => {
      this.buffer += c.toString()
      let i
      while ((i = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, i)
        this.buffer = this.buffer.slice(i + 1)
        this.waiting.shift()?.(line)
      }
    })
  }

  static async start (dataDir: string): Promise<Subscriber> {
    const folder = join(dataDir, 'modules', 'developer')
    const endpoint = JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { ws: string }
    const token = (await readFile(join(folder, 'token'), 'utf8')).trim()
    const script = `
      import { WebSocket } from 'ws'
      import { createInterface } from 'node:readline'
      let records = 0, dropped = 0
      const ws = new WebSocket(${JSON.stringify(endpoint.ws)}, { headers: { authorization: 'Bearer ${token}' } })
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString())
        if (m.id === 1) { console.log('subscribed'); return }
        if (m.method === 'trace.records') records += m.params.records.length
        else if (m.method === 'subscription.dropped') dropped += m.params.dropped
      })
      ws.on('open', () => { ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'trace.subscribe', params: { types: ['call'] } })) })
      createInterface({ input: process.stdin }).on('line', () => { console.log(JSON.stringify({ records, dropped })) })
    `
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] })
    const sub = new Subscriber(proc)
    await sub.next()
    return sub
  }

  private async next (): Promise<string> {
    return await new Promise((resolve) => { this.waiting.push(resolve) })
  }

  async counts (): Promise<{ records: number, dropped: number }> {
    this.proc.stdin?.write('count\n')
    return JSON.parse(await this.next()) as { records: number, dropped: number }
  }

  /** Waits until the subscriber has seen (or been told it lost) `total` records. */
  async settle (total: number): Promise<void> {
    const end = Date.now() + 30_000
    while (Date.now() < end) {
      const c = await this.counts()
      if (c.records + c.dropped >= total) return
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    throw new Error('the WebSocket subscriber did not receive every record')
  }

  async stop (): Promise<void> {
    const exited = new Promise(resolve => this.proc.once('exit', resolve))
    this.proc.kill()
    await exited
  }
}
