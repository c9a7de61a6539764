import { summarize } from '../src/common/index.ts'

/**
 * Per-operation time of an async operation, two ways: the p50 from batches (the mean of `batch` back-to-back runs,
 * so the clock's own cost is spread thin) and the p99 from individually timed runs (where the tail lives).
 */
export async function timeAsync (op: () => Promise<unknown>, options: { batches?: number, batch?: number, singles?: number, warmup?: number } = {}): Promise<{ p50: number, p99: number, mean: number }> {
  const { batches = 300, batch = 200, singles = 50_000, warmup = 20_000 } = options
  for (let i = 0; i < warmup; i++) await op()
  const batchMeans: number[] = []
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) await op()
    batchMeans.push(Number(process.hrtime.bigint() - t0) / batch)
  }
  const single = new Float64Array(singles)
  for (let i = 0; i < singles; i++) {
    const t0 = process.hrtime.bigint()
    await op()
    single[i] = Number(process.hrtime.bigint() - t0)
  }
  const batched = summarize(batchMeans)
  return { p50: batched.p50, p99: summarize(single).p99, mean: batched.mean }
}

/** Operations per second over `durationMs`, with `concurrency` operations in flight. */
export async function throughput (op: () => Promise<unknown>, options: { durationMs?: number, concurrency?: number } = {}): Promise<number> {
  const { durationMs = 2000, concurrency = 1 } = options
  let count = 0
  const end = performance.now() + durationMs
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      for (let i = 0; i < 100; i++) await op()
      count += 100
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  return count / ((performance.now() - t0) / 1000)
}

export function round (n: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** Per-operation time of a synchronous operation: p50 from batches, p99 from individually timed runs. */
export function timeSync (op: () => unknown, options: { batches?: number, batch?: number, singles?: number, warmup?: number } = {}): { p50: number, p99: number, mean: number } {
  const { batches = 300, batch = 1000, singles = 50_000, warmup = 50_000 } = options
  for (let i = 0; i < warmup; i++) op()
  const batchMeans: number[] = []
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) op()
    batchMeans.push(Number(process.hrtime.bigint() - t0) / batch)
  }
  const single = new Float64Array(singles)
  for (let i = 0; i < singles; i++) {
    const t0 = process.hrtime.bigint()
    op()
    single[i] = Number(process.hrtime.bigint() - t0)
  }
  const batched = summarize(batchMeans)
  return { p50: batched.p50, p99: summarize(single).p99, mean: batched.mean }
}
