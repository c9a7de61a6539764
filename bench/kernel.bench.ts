import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kernel } from '../src/kernel/index.ts'
import { defineModule } from '../src/sdk/index.ts'
import { round, throughput, timeAsync, timeSync } from './measure.ts'

/** In-process call cost against a plain async function call measured in the same run. */
export async function run (): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'logos-bench-kernel-'))
  const kernel = new Kernel({ dataDir })
  await kernel.load(defineModule({
    name: 'echo',
    version: '1.0.0',
    events: { tick: {} },
    start: () => ({ methods: { echo: async (x: number) => x } })
  }))
  await kernel.start('echo')
  const echo = async (x: number): Promise<number> => x

  const direct = await timeAsync(async () => await echo(1))
  const call = await timeAsync(async () => await kernel.call('echo', 'echo', 1))
  console.log(`direct async call p50 ${round(direct.p50)} ns, kernel call p50 ${round(call.p50)} ns p99 ${round(call.p99)} ns`)

  // A node runs the developer module, whose subscriber sees every call: the figure a default node pays.
  const off = kernel.subscribeTrace(() => {})
  const traced = await timeAsync(async () => await kernel.call('echo', 'echo', 1))
  off()
  console.log(`kernel call with a trace subscriber p50 ${round(traced.p50)} ns`)

  const callsPerS = await throughput(async () => await kernel.call('echo', 'echo', 1))
  const concurrentPerS = await throughput(async () => await kernel.call('echo', 'echo', 1), { concurrency: 64 })
  console.log(`${round(callsPerS)} calls/s one after another, ${round(concurrentPerS)} calls/s with 64 in flight`)

  let received = 0
  const offTick = kernel.subscribe('bench', 'echo', 'tick', () => { received++ })
  const emit = timeSync(() => { kernel.emit('echo', 'tick', 1) })
  offTick()
  console.log(`emit p50 ${round(emit.p50)} ns to one subscriber (${received} delivered)`)

  await kernel.shutdown()
  await rm(dataDir, { recursive: true, force: true })
  return {
    call_p50_ns: round(call.p50),
    call_p99_ns: round(call.p99),
    direct_p50_ns: round(direct.p50),
    call_vs_direct: round(call.p50 / direct.p50, 2),
    traced_call_p50_ns: round(traced.p50),
    calls_per_s: round(callsPerS),
    concurrent_calls_per_s: round(concurrentPerS),
    emit_p50_ns: round(emit.p50)
  }
}
