import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { WitnessCalculatorBuilder } from 'circom_runtime'
import * as snarkjs from 'snarkjs'
import { summarize } from '../src/common/index.ts'
import {
  MembershipGroup, MerkleTree, ProverPool, TREE_DEPTH, createIdentity, decompressProof, externalNullifier,
  hashToField, parseProof, poseidon, publicSignals, resolveResources, rlnIdentifierField, serializeProof,
  toSnarkjsProof
} from '../src/crypto/rln/index.ts'
import type { ProverKind, VerifierKind, WitnessInput } from '../src/crypto/rln/index.ts'
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

/**
 * RLN v2 on the depth-20 ceremony key: proving and verifying in the worker threads the library uses (snarkjs and
 * zerokit's wasm), against stock snarkjs in the main thread on the same witness and proof (the baseline), plus the
 * event loop's longest stall while the workers prove. `npm run bench -- rln [proofs] [niceness]` (default 6 proofs
 * per prover, the library's default niceness of 0 for the heavy threads).
 */
export async function run (args: string[]): Promise<Record<string, unknown>> {
  const proofs = Number(args[0] ?? 6)
  const niceness = Number(args[1] ?? 0)
  const resources = await resolveResources({ path: resourcesPath(), download: false })
  console.log(`resources: ${resources.source} ${resources.dir}`)

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

  // Key loading: one worker thread with zerokit (the costly part is zerokit parsing the zkey).
  const i0 = performance.now()
  const initPool = new ProverPool({ circuit: resources.circuit, zkey: resources.zkey }, { workers: 1, lightWorkers: 1 })
  await initPool.start()
  const initMs = performance.now() - i0
  console.log(`init (a heavy and a light thread: wasm, witness calculator, key parsed): ${initMs.toFixed(0)} ms`)
  await initPool.stop()
  // The measuring pool: two heavy threads (a proof split over both), one light; zerokit loaded to compare.
  const z0 = performance.now()
  const pool2 = new ProverPool({ circuit: resources.circuit, zkey: resources.zkey }, { workers: 2, lightWorkers: 1, zerokit: true, lightZerokit: true, niceness })
  await pool2.start()
  const zerokitInitMs = performance.now() - z0

  const histogram = monitorEventLoopDelay({ resolution: 1 })
  const pool = pool2
  const proveTimes: Record<ProverKind, number[]> = { groth16: [], snarkjs: [], zerokit: [] }
  const sample: Record<ProverKind, Uint8Array | undefined> = { groth16: undefined, snarkjs: undefined, zerokit: undefined }
  let sampleInput: WitnessInput | undefined
  // Warm up each prover once (first calls compile wasm tiers).
  for (const kind of ['groth16', 'snarkjs', 'zerokit'] as const) await pool.prove(input(), kind)
  // Each heavy thread computes the three constant points of the quadratic term on its first precomputation.
  for (let i = 0; i < 2; i++) await Promise.all([pool.precompute(input()), pool.precompute(input())])
  histogram.enable()
  for (let i = 0; i < proofs; i++) {
    for (const kind of ['groth16', 'snarkjs', 'zerokit'] as const) {
      const w = input()
      const s = performance.now()
      const bytes = await pool.prove(w, kind)
      proveTimes[kind].push(performance.now() - s)
      sample[kind] = bytes
      if (kind === 'groth16') sampleInput = w
    }
  }
  // Split proofs: the signal-independent half ahead of time, then the online step for the signal.
  const precomputeTimes: number[] = []
  const finalizeTimes: number[] = []
  for (let i = 0; i < proofs; i++) {
    const w = input()
    const s = performance.now()
    const pre = await pool.precompute(w, { urgent: true })
    precomputeTimes.push(performance.now() - s)
    const f = performance.now()
    await pool.finalize(pre, w.x)
    finalizeTimes.push(performance.now() - f)
  }
  histogram.disable()
  const stallMs = histogram.max / 1e6
  const stallP99Ms = histogram.percentile(99) / 1e6
  console.log(`prove in a worker: groth16 p50 ${summarize(proveTimes.groth16).p50.toFixed(0)} ms, snarkjs p50 ${summarize(proveTimes.snarkjs).p50.toFixed(0)} ms, zerokit p50 ${summarize(proveTimes.zerokit).p50.toFixed(0)} ms; precompute p50 ${summarize(precomputeTimes).p50.toFixed(0)} ms, finalize p50 ${summarize(finalizeTimes).p50.toFixed(1)} ms; event loop max stall ${stallMs.toFixed(1)} ms (p99 ${stallP99Ms.toFixed(1)} ms)`)

  const proofBytes = sample.groth16 as Uint8Array
  const proof = parseProof(proofBytes)
  const signal = signals.get(proof.x) as Uint8Array
  const roots = group.roots
  const verifyTimes: Record<VerifierKind, number[]> = { prepared: [], zerokit: [], snarkjs: [] }
  for (let i = 0; i < 20; i++) {
    for (const kind of ['prepared', 'zerokit', 'snarkjs'] as const) {
      const s = performance.now()
      const ok = await pool.verify(serializeProof(proof), signal, roots, kind)
      verifyTimes[kind].push(performance.now() - s)
      if (!ok) throw new Error(`${kind} refused a valid proof`)
    }
  }
  console.log(`verify in a worker: prepared p50 ${summarize(verifyTimes.prepared).p50.toFixed(1)} ms, zerokit p50 ${summarize(verifyTimes.zerokit).p50.toFixed(1)} ms, snarkjs p50 ${summarize(verifyTimes.snarkjs).p50.toFixed(1)} ms`)
  await pool.stop()

  // Baseline: stock snarkjs in this thread, on the same witness (prove) and the same proof (verify).
  const wc = await WitnessCalculatorBuilder(resources.circuit)
  const w = sampleInput as WitnessInput
  const wt0 = performance.now()
  const wtns = await wc.calculateWTNSBin({ identitySecret: w.secret, userMessageLimit: BigInt(w.userMessageLimit), messageId: BigInt(w.messageId), pathElements: w.pathElements, identityPathIndex: w.pathIndices.map(BigInt), x: w.x, externalNullifier: w.externalNullifier }, true)
  const witnessMs = performance.now() - wt0
  const vk = await snarkjs.zKey.exportVerificationKey({ type: 'mem', data: resources.zkey })
  const baseline = monitorEventLoopDelay({ resolution: 1 })
  const snarkProve: number[] = []
  await snarkjs.groth16.prove({ type: 'mem', data: resources.zkey }, { type: 'mem', data: wtns })
  baseline.enable()
  for (let i = 0; i < Math.max(3, Math.ceil(proofs / 2)); i++) {
    const s = performance.now()
    const r = await snarkjs.groth16.prove({ type: 'mem', data: resources.zkey }, { type: 'mem', data: wtns })
    snarkProve.push(performance.now() - s)
    if (r.publicSignals.join() !== publicSignals(proof).join()) throw new Error('snarkjs and the library disagree on the public signals')
  }
  baseline.disable()
  const snarkVerify: number[] = []
  const asSnarkjs = toSnarkjsProof(decompressProof(proof.zkProof))
  for (let i = 0; i < 20; i++) {
    const s = performance.now()
    const ok = await snarkjs.groth16.verify(vk, publicSignals(proof), asSnarkjs)
    snarkVerify.push(performance.now() - s)
    if (!ok) throw new Error('snarkjs refused the proof')
  }
  console.log(`baseline snarkjs in the main thread: prove p50 ${summarize(snarkProve).p50.toFixed(0)} ms (event loop blocked up to ${(baseline.max / 1e6).toFixed(0)} ms), verify p50 ${summarize(snarkVerify).p50.toFixed(1)} ms; witness ${witnessMs.toFixed(0)} ms`)
  group.close()

  const prove = summarize(proveTimes.groth16).p50
  const verify = summarize(verifyTimes.prepared).p50
  const online = summarize(finalizeTimes).p50
  return {
    tree_depth: TREE_DEPTH,
    members: group.size,
    proofs_per_prover: proofs,
    heavy_niceness: niceness,
    load_average_1m: round(loadavg()[0] as number, 1),
    init_ms: round(initMs),
    init_with_zerokit_ms: round(zerokitInitMs),
    prove_ms_p50: round(prove),
    prove_ms_p90: round(summarize(proveTimes.groth16).p90),
    prover: 'groth16 (ours, ffjavascript wasm) in a worker',
    snarkjs_worker_prove_ms_p50: round(summarize(proveTimes.snarkjs).p50),
    zerokit_prove_ms_p50: round(summarize(proveTimes.zerokit).p50),
    precompute_ms_p50: round(summarize(precomputeTimes).p50),
    prove_precomputed_ms_p50: round(online, 1),
    verify_ms_p50: round(verify, 1),
    verifier: 'prepared (ours, ffjavascript pairing) in a worker',
    zerokit_verify_ms_p50: round(summarize(verifyTimes.zerokit).p50, 1),
    snarkjs_worker_verify_ms_p50: round(summarize(verifyTimes.snarkjs).p50, 1),
    snarkjs_prove_ms_p50: round(summarize(snarkProve).p50),
    snarkjs_verify_ms_p50: round(summarize(snarkVerify).p50, 1),
    snarkjs_main_thread_stall_ms: round(baseline.max / 1e6),
    event_loop_max_stall_ms: round(stallMs, 1),
    event_loop_p99_stall_ms: round(stallP99Ms, 1),
    witness_ms: round(witnessMs, 1),
    poseidon2_us: round(poseidonUs, 1),
    group_register_ms: round(registerMs, 2),
    proof_bytes: proofBytes.length,
    mix_proof_bytes: 301,
    prove_bar_3000_ms: prove < 3000 ? 'pass' : 'miss',
    prove_goal_1000_ms: prove < 1000 ? 'pass' : 'miss',
    prove_precomputed_goal_1000_ms: online < 1000 ? 'pass' : 'miss',
    verify_bar_30_ms: verify < 30 ? 'pass' : 'miss',
    verify_goal_10_ms: verify < 10 ? 'pass' : 'miss',
    stall_goal_20_ms: stallMs < 20 ? 'pass' : 'miss'
  }
}
