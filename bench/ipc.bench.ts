import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { summarize } from '../src/common/index.ts'
import { Kernel } from '../src/kernel/index.ts'
import { round, throughput, timeAsync } from './measure.ts'

/**
 * The cost of running a module in a process of its own: a call through the kernel to a module on the child-process
 * host, against a bare echo between two Node processes over a Unix domain socket measured in the same run (and, for
 * the record, against Node's own IPC channel with advanced serialization). Then throughput with 256 calls in flight,
 * and the time from kill -9 to serving again (backoff base 0), with a spare process and without.
 *
 * `npm run bench -- ipc [--quick]`
 */
export async function run (args: string[] = []): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick')
  // The raw echo and the remote call are measured in alternating rounds, both processes up all along, and each
  // figure is the median over rounds: on a shared machine the load drifts, and it then drifts for both alike.
  const rounds = quick ? 2 : 7
  const timing = quick ? { batches: 40, batch: 100, singles: 4_000, warmup: 2_000 } : { batches: 60, batch: 200, singles: 10_000, warmup: 3_000 }
  const dir = await mkdtemp(join(tmpdir(), 'logos-bench-ipc-'))
  const raw = await rawEchoClient(join(dir, 'echo.sock'))
  const ipc = await nodeIpcClient()
  const moduleDir = await writeEchoModule(dir)
  const kernel = new Kernel({ dataDir: join(dir, 'node') })
  try {
    await kernel.load({ dir: resolve('src/modules/process-manager') }, { trusted: true, config: { spares: 1 } })
    await kernel.start('process-manager')
    await kernel.load({ dir: moduleDir })
    await kernel.start('bench-echo')
    const bytes = new Uint8Array(32).fill(7)
    const rawRounds: Array<{ p50: number, p99: number }> = []
    const remoteRounds: Array<{ p50: number, p99: number }> = []
    const bytesRounds: Array<{ p50: number }> = []
    const ipcRounds: Array<{ p50: number }> = []
    for (let r = 0; r < rounds; r++) {
      rawRounds.push(await timeAsync(raw.op, timing))
      remoteRounds.push(await timeAsync(async () => await kernel.call('bench-echo', 'echo', 1), timing))
      bytesRounds.push(await timeAsync(async () => await kernel.call('bench-echo', 'echo', bytes), timing))
      ipcRounds.push(await timeAsync(ipc.op, timing))
      const last = (a: Array<{ p50: number }>): number => round((a[a.length - 1] as { p50: number }).p50 / 1000, 1)
      console.log(`round ${r + 1}: raw echo p50 ${last(rawRounds)} us, remote call p50 ${last(remoteRounds)} us, with 32 bytes ${last(bytesRounds)} us, node IPC echo ${last(ipcRounds)} us`)
    }
    const rawP50 = median(rawRounds.map(x => x.p50))
    const remoteP50 = median(remoteRounds.map(x => x.p50))
    console.log(`raw UDS echo p50 ${round(rawP50 / 1000, 1)} us; remote call p50 ${round(remoteP50 / 1000, 1)} us (${round(remoteP50 / rawP50, 2)}x)`)

    const perS = median(await sequence(quick ? 1 : 3, async () => await throughput(async () => await kernel.call('bench-echo', 'echo', 1), { concurrency: 256, durationMs: quick ? 1000 : 2000 })))
    console.log(`${round(perS)} remote calls/s with 256 in flight`)

    const warm = await restarts(kernel, quick ? 5 : 20)
    console.log(`kill -9 to serving again, with a spare: p50 ${round(warm.p50, 1)} ms max ${round(warm.max, 1)} ms (${warm.count} kills)`)
    await kernel.shutdown()

    const coldKernel = new Kernel({ dataDir: join(dir, 'node-cold') })
    await coldKernel.load({ dir: resolve('src/modules/process-manager') }, { trusted: true, config: { spares: 0 } })
    await coldKernel.start('process-manager')
    await coldKernel.load({ dir: moduleDir })
    await coldKernel.start('bench-echo')
    const cold = await restarts(coldKernel, quick ? 3 : 8)
    console.log(`kill -9 to serving again, no spare (cold boot): p50 ${round(cold.p50, 1)} ms (${cold.count} kills)`)
    await coldKernel.shutdown()

    return {
      remote_call_p50_us: round(remoteP50 / 1000, 1),
      remote_call_p99_us: round(median(remoteRounds.map(x => x.p99)) / 1000, 1),
      raw_echo_p50_us: round(rawP50 / 1000, 1),
      raw_echo_p99_us: round(median(rawRounds.map(x => x.p99)) / 1000, 1),
      remote_vs_raw: round(remoteP50 / rawP50, 2),
      remote_call_bytes_p50_us: round(median(bytesRounds.map(x => x.p50)) / 1000, 1),
      node_ipc_echo_p50_us: round(median(ipcRounds.map(x => x.p50)) / 1000, 1),
      remote_calls_per_s: round(perS),
      restart_ms_p50: round(warm.p50, 1),
      restart_ms_max: round(warm.max, 1),
      restart_cold_ms_p50: round(cold.p50, 1),
      rounds,
      load_avg_1m: round(loadavg()[0] as number, 2)
    }
  } finally {
    await kernel.shutdown()
    raw.close()
    ipc.close()
    await rm(dir, { recursive: true, force: true })
  }
}

function median (values: number[]): number {
  return summarize(values).p50
}

async function sequence<T> (n: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = []
  for (let i = 0; i < n; i++) out.push(await fn())
  return out
}

/** A module that echoes, in a folder of its own, on the child-process host with backoff base 0. */
async function writeEchoModule (dir: string): Promise<string> {
  const moduleDir = join(dir, 'bench-echo')
  await mkdir(moduleDir)
  await writeFile(join(moduleDir, 'module.json'), JSON.stringify({
    name: 'bench-echo',
    version: '1.0.0',
    entry: './index.ts',
    host: 'child-process',
    hostOptions: { backoff: { baseMs: 0 }, intensity: { maxRestarts: 1000, withinMs: 1000 } }
  }))
  const sdk = pathToFileURL(resolve('src/sdk/index.ts')).href
  await writeFile(join(moduleDir, 'index.ts'), `import { defineModule } from '${sdk}'
export const benchEcho = defineModule({ start: () => ({ methods: { echo: (x: unknown) => x, pid: () => process.pid } }) })
`)
  return moduleDir
}

/** Kill -9 the module's process `n` times, a while apart; each time, ms until a call is served by the new process. */
async function restarts (kernel: Kernel, n: number): Promise<ReturnType<typeof summarize>> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    // Long enough for the spare pool to boot its next process: crashes are rare events, not a loop.
    await new Promise(resolve => setTimeout(resolve, 1500))
    const pid = await kernel.call<number>('bench-echo', 'pid')
    const t0 = performance.now()
    process.kill(pid, 'SIGKILL')
    for (;;) {
      try {
        if (await kernel.call<number>('bench-echo', 'pid') !== pid) break
      } catch {
        // In flight when it died, or between the crash and its report: try again after a turn of the event loop
        // (which is when the host learns of the exit).
        await new Promise(resolve => setImmediate(resolve))
      }
    }
    times.push(performance.now() - t0)
  }
  return summarize(times)
}

/** A bare echo between two Node processes over a Unix domain socket: 8 bytes there and back. */
async function rawEchoClient (path: string): Promise<{ op: () => Promise<void>, close: () => void }> {
  const server = `const net = require('node:net')
net.createServer((s) => { s.on('data', (d) => { s.write(d) }) }).listen(${JSON.stringify(path)}, () => { process.stdout.write('ready\\n') })`
  const child = spawn(process.execPath, ['-e', server], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(child.stdout as NonNullable<typeof child.stdout>, 'data')
  const socket: Socket = connect(path)
  await once(socket, 'connect')
  const message = Buffer.alloc(8, 1)
  let waiting = 0
  let done: () => void = () => {}
  socket.on('data', (d: Buffer) => {
    waiting -= d.length
    if (waiting <= 0) done()
  })
  return {
    op: async () => {
      await new Promise<void>((resolve) => {
        done = resolve
        waiting = message.length
        socket.write(message)
      })
    },
    close: () => {
      socket.destroy()
      kill(child)
    }
  }
}

/** Node's built-in IPC channel (advanced serialization): the alternative this host measured and did not take. */
async function nodeIpcClient (): Promise<{ op: () => Promise<void>, close: () => void }> {
  const child = spawn(process.execPath, ['-e', 'process.on("message", (m) => process.send(m))'], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let done: () => void = () => {}
  child.on('message', () => { done() })
  return {
    op: async () => {
      await new Promise<void>((resolve) => {
        done = resolve
        child.send([2, 1, 'echo', 1])
      })
    },
    close: () => { kill(child) }
  }
}

function kill (child: ChildProcess): void {
  try {
    child.kill('SIGKILL')
  } catch {
    // gone
  }
}
