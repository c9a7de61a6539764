import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { IntervalHistogram } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { WitnessCalculatorBuilder } from 'circom_runtime'
import * as snarkjs from 'snarkjs'
import { summarize } from '../src/common/index.ts'
import {
  MembershipGroup, MerkleTree, ProverPool, TREE_DEPTH, createIdentity, decompressProof, defaultWorkerCount,
  externalNullifier, hashToField, parseProof, poseidon, publicSignals, resolveResources, rlnIdentifierField,
  serializeProof, toSnarkjsProof
} from '../src/crypto/rln/index.ts'
import type { WitnessInput } from '../src/crypto/rln/index.ts'
import { round } from './measure.ts'

/** $LOGOS_RLN_RESOURCES, else a shared/rln/tree_height_20 beside the repository (as in CI), else the cache. */
function resourcesPath (): string | undefined {
  if (process.env.LOGOS_RLN_RESOURCES !== undefined && process.env.LOGOS_RLN_RESOURCES !== '') return process.env.LOGOS_RLN_RESOURCES
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'shared', 'rln', 'tree_height_20')
    if (existsSync(join(candidate, 'rln_final.zkey'))) return candidate
    dir = resolve(dir, '..')
  }
  return undefined
}

const mb = (bytes: number): number => round(bytes / 1e6)
const p50 = (values: number[]): number => summarize(values).p50

/**
 * RLN v2 on the depth-20 ceremony key, in the library's worker threads with its default sizes (heavy threads: one
 * per core but one; one light thread):
 * - the default engine, zerokit's wasm: start and key loading, proofs (the event loop's stall measured meanwhile),
 *   verification with the verifying-only key;
 * - the split prover: the precomputation made ahead of time and the online step once the signal is known;
 * - snarkjs in the same worker threads (single-threaded there, like zerokit), and the baseline: stock snarkjs in the
 *   main thread (with its own threads) proving the same witness and verifying the same proof;
 * - the event loop's longest stall with no proof anywhere, the control for the stall while proving.
 * `npm run bench -- rln [proofs]` (default 6 proofs per prover).
 */
export async function run (args: string[]): Promise<Record<string, unknown>> {
  const proofs = Number(args[0] ?? 6)
  const resources = await resolveResources({ path: resourcesPath(), download: false })
  console.log(`resources: ${resources.source} ${resources.dir}; load average ${loadavg()[0]?.toFixed(1)}`)
  const engineResources = { circuit: resources.circuit, zkey: resources.zkey }

  // A group of 1000 members, ours among them.
  const id = createIdentity()
  const group = new MembershipGroup()
  const t0 = performance.now()
  for (let i = 0; i < 999; i++) group.register(createIdentity().commitment, 100)
  const member = group.register(id.commitment, 100)
  const registerMs = (performance.now() - t0) / 1000
  const tree = new MerkleTree()
  const t1 = performance.now()
  tree.setMany(group.members().map(m => [m.index, m.rateCommitment] as const))
  const bulkLoadMs = performance.now() - t1
  const h0 = performance.now()
  for (let i = 0; i < 2000; i++) poseidon([BigInt(i), 7n])
  const poseidonUs = (performance.now() - h0) / 2000 * 1000
  console.log(`group: register ${registerMs.toFixed(2)} ms each, rebuild of 1000 leaves ${bulkLoadMs.toFixed(0)} ms, poseidon2 ${poseidonUs.toFixed(1)} us`)

  const rlnId = rlnIdentifierField('mix-rln-spam-protection/v1')
  const path = group.merkleProof(member.index)
  let counter = 0
  const signals = new Map<bigint, Uint8Array>()
  const input = (): WitnessInput => {
    const signal = new TextEncoder().encode(`message ${counter}`)
    signals.set(hashToField(signal), signal)
    return { secret: id.secret, userMessageLimit: 100, messageId: counter++ % 100, pathElements: path.pathElements, pathIndices: path.pathIndices, x: hashToField(signal), externalNullifier: externalNullifier(1000n + BigInt(Math.floor(counter / 100)), rlnId) }
  }
  const track = async <T>(histogram: IntervalHistogram, op: () => Promise<T>): Promise<T> => {
    histogram.enable()
    try { return await op() } finally { histogram.disable() }
  }

  // The default pool: zerokit proves (its proving key parsed once per heavy thread) and verifies (verifying-only key).
  const rss0 = process.memoryUsage().rss
  const s0 = performance.now()
  const pool = new ProverPool(engineResources)
  await pool.start()
  const startMs = performance.now() - s0
  await pool.loaded()
  const initMs = performance.now() - s0
  const initRss = process.memoryUsage().rss - rss0
  console.log(`zerokit pool (${defaultWorkerCount()} heavy, 1 light): threads up in ${startMs.toFixed(0)} ms, keys loaded in ${initMs.toFixed(0)} ms, rss +${mb(initRss)} MB`)

  // The control: the event loop's longest stall over a few seconds with no proof anywhere (the host's share).
  const idleLoop = monitorEventLoopDelay({ resolution: 1 })
  await track(idleLoop, async () => { await new Promise(resolve => setTimeout(resolve, 3000)) })
  const idleStallMs = idleLoop.max / 1e6

  await pool.prove(input(), 'zerokit') // warm-up: the first calls compile wasm tiers
  const proveLoop = monitorEventLoopDelay({ resolution: 1 })
  const zerokitProve: number[] = []
  let sample: { input: WitnessInput, bytes: Uint8Array } | undefined
  await track(proveLoop, async () => {
    for (let i = 0; i < proofs; i++) {
      const w = input()
      const s = performance.now()
      const bytes = await pool.prove(w, 'zerokit')
      zerokitProve.push(performance.now() - s)
      sample = { input: w, bytes }
    }
  })
  const stallMs = proveLoop.max / 1e6
  const stallP99Ms = proveLoop.percentile(99) / 1e6

  const { input: sampleInput, bytes: proofBytes } = sample as { input: WitnessInput, bytes: Uint8Array }
  const proof = parseProof(proofBytes)
  const signal = signals.get(proof.x) as Uint8Array
  const zerokitVerify: number[] = []
  for (let i = 0; i < 20; i++) {
    const s = performance.now()
    const ok = await pool.verify(serializeProof(proof), signal, group.roots, 'zerokit')
    zerokitVerify.push(performance.now() - s)
    if (!ok) throw new Error('zerokit refused a valid proof')
  }
  console.log(`zerokit in a worker: prove p50 ${p50(zerokitProve).toFixed(0)} ms (event loop max stall ${stallMs.toFixed(1)} ms, p99 ${stallP99Ms.toFixed(1)} ms; idle ${idleStallMs.toFixed(1)} ms), verify p50 ${p50(zerokitVerify).toFixed(1)} ms`)
  // snarkjs in the same worker threads (single-threaded there, as zerokit is): the like-for-like comparison.
  await pool.prove(input(), 'snarkjs')
  const snarkWorkerProve: number[] = []
  for (let i = 0; i < Math.max(3, Math.ceil(proofs / 2)); i++) {
    const s = performance.now()
    await pool.prove(input(), 'snarkjs')
    snarkWorkerProve.push(performance.now() - s)
  }
  const snarkWorkerVerify: number[] = []
  for (let i = 0; i < 20; i++) {
    const s = performance.now()
    const ok = await pool.verify(serializeProof(proof), signal, group.roots, 'snarkjs')
    snarkWorkerVerify.push(performance.now() - s)
    if (!ok) throw new Error('snarkjs refused a zerokit proof')
  }
  await pool.stop()
  console.log(`snarkjs in a worker: prove p50 ${p50(snarkWorkerProve).toFixed(0)} ms, verify p50 ${p50(snarkWorkerVerify).toFixed(1)} ms`)

  // The split prover: the precomputation (heavy lane), then the online step for the signal (light lane).
  const s1 = performance.now()
  const split = new ProverPool(engineResources, { prover: 'split' })
  await split.start()
  await split.loaded()
  const splitInitMs = performance.now() - s1
  for (let i = 0; i < 2; i++) { const w = input(); await split.finalize(await split.precompute(w), w.x) } // warm-up
  const splitLoop = monitorEventLoopDelay({ resolution: 1 })
  const precomputeTimes: number[] = []
  const onlineTimes: number[] = []
  await track(splitLoop, async () => {
    for (let i = 0; i < proofs; i++) {
      const w = input()
      const s = performance.now()
      const pre = await split.precompute(w, { urgent: true })
      precomputeTimes.push(performance.now() - s)
      const f = performance.now()
      const bytes = await split.finalize(pre, w.x)
      onlineTimes.push(performance.now() - f)
      if (!await split.verify(bytes, signals.get(w.x) as Uint8Array, group.roots, 'zerokit')) throw new Error('zerokit refused a split proof')
    }
  })
  await split.stop()
  console.log(`split prover: threads and keys in ${splitInitMs.toFixed(0)} ms; precompute p50 ${p50(precomputeTimes).toFixed(0)} ms, online step p50 ${p50(onlineTimes).toFixed(1)} ms; event loop max stall ${(splitLoop.max / 1e6).toFixed(1)} ms`)

  // Baseline: stock snarkjs in this thread, on the same witness (prove) and the same proof (verify).
  const wc = await WitnessCalculatorBuilder(resources.circuit)
  const w = sampleInput
  const wt0 = performance.now()
  const wtns = await wc.calculateWTNSBin({ identitySecret: w.secret, userMessageLimit: BigInt(w.userMessageLimit), messageId: BigInt(w.messageId), pathElements: w.pathElements, identityPathIndex: w.pathIndices.map(BigInt), x: w.x, externalNullifier: w.externalNullifier }, true)
  const witnessMs = performance.now() - wt0
  const vk = await snarkjs.zKey.exportVerificationKey({ type: 'mem', data: resources.zkey })
  const baseline = monitorEventLoopDelay({ resolution: 1 })
  const snarkProve: number[] = []
  await snarkjs.groth16.prove({ type: 'mem', data: resources.zkey }, { type: 'mem', data: wtns })
  await track(baseline, async () => {
    for (let i = 0; i < Math.max(3, Math.ceil(proofs / 2)); i++) {
      const s = performance.now()
      const r = await snarkjs.groth16.prove({ type: 'mem', data: resources.zkey }, { type: 'mem', data: wtns })
      snarkProve.push(performance.now() - s)
      if (r.publicSignals.join() !== publicSignals(proof).join()) throw new Error('snarkjs and zerokit disagree on the public signals')
    }
  })
  const snarkVerify: number[] = []
  const asSnarkjs = toSnarkjsProof(decompressProof(proof.zkProof))
  for (let i = 0; i < 20; i++) {
    const s = performance.now()
    const ok = await snarkjs.groth16.verify(vk, publicSignals(proof), asSnarkjs)
    snarkVerify.push(performance.now() - s)
    if (!ok) throw new Error('snarkjs refused the zerokit proof')
  }
  console.log(`baseline snarkjs in the main thread: prove p50 ${p50(snarkProve).toFixed(0)} ms (event loop blocked up to ${(baseline.max / 1e6).toFixed(0)} ms), verify p50 ${p50(snarkVerify).toFixed(1)} ms; witness ${witnessMs.toFixed(0)} ms`)
  group.close()

  const prove = p50(zerokitProve)
  const verify = p50(zerokitVerify)
  const online = p50(onlineTimes)
  return {
    tree_depth: TREE_DEPTH,
    members: group.size,
    proofs_per_prover: proofs,
    heavy_workers: defaultWorkerCount(),
    load_average_1m: round(loadavg()[0] as number, 1),
    engine: 'zerokit wasm (@waku/zerokit-rln-wasm 0.2.1) in worker threads, witness by circom_runtime',
    start_ms: round(startMs),
    init_ms: round(initMs),
    init_rss_mb: mb(initRss),
    prove_ms_p50: round(prove),
    prove_ms_p90: round(summarize(zerokitProve).p90),
    verify_ms_p50: round(verify, 1),
    verify_ms_p90: round(summarize(zerokitVerify).p90, 1),
    event_loop_max_stall_ms: round(stallMs, 1),
    event_loop_p99_stall_ms: round(stallP99Ms, 1),
    event_loop_idle_max_stall_ms: round(idleStallMs, 1),
    split_init_ms: round(splitInitMs),
    split_precompute_ms_p50: round(p50(precomputeTimes)),
    split_online_ms_p50: round(online, 1),
    split_online_ms_p90: round(summarize(onlineTimes).p90, 1),
    split_event_loop_max_stall_ms: round(splitLoop.max / 1e6, 1),
    snarkjs_prove_ms_p50: round(p50(snarkProve)),
    snarkjs_verify_ms_p50: round(p50(snarkVerify), 1),
    snarkjs_main_thread_stall_ms: round(baseline.max / 1e6),
    snarkjs_worker_prove_ms_p50: round(p50(snarkWorkerProve)),
    snarkjs_worker_verify_ms_p50: round(p50(snarkWorkerVerify), 1),
    witness_ms: round(witnessMs, 1),
    poseidon2_us: round(poseidonUs, 1),
    group_register_ms: round(registerMs, 2),
    proof_bytes: proofBytes.length,
    mix_proof_bytes: 301,
    prove_bar_3000_ms: prove < 3000 ? 'pass' : 'miss',
    prove_goal_1000_ms: prove < 1000 ? 'pass' : 'miss',
    split_online_goal_1000_ms: online < 1000 ? 'pass' : 'miss',
    verify_bar_30_ms: verify < 30 ? 'pass' : 'miss',
    verify_goal_10_ms: verify < 10 ? 'pass' : 'miss',
    stall_goal_20_ms: stallMs < 20 ? 'pass' : 'miss'
  }
}
