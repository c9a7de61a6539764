import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import initZerokit, { generateRLNProofWithWitness, newRLN, verifyWithRoots } from '@waku/zerokit-rln-wasm'
import { WitnessCalculatorBuilder } from 'circom_runtime'
import type { WitnessCalculator } from 'circom_runtime'
import * as snarkjs from 'snarkjs'
import type { VerificationKey } from 'snarkjs'
import { compressProof, decompressProof, fromSnarkjsProof, toSnarkjsProof } from './arkworks-codec.ts'
import { bn254Curve } from './curve.ts'
import { SplitProver } from './split-prover.ts'
import type { PrecomputedProof, ProofPart } from './split-prover.ts'
import { readZkey, verifyingOnlyZkey } from './zkey.ts'
import { FIELD_BYTES, TREE_DEPTH } from './constants.ts'
import { RlnEncodingError, RlnInvalidProofError, RlnWitnessError, RlnWorkerError } from './errors.ts'
import { toBytesLE } from './field.ts'
import { publicSignals, serializeProof } from './proof.ts'
import type { RlnProof } from './proof.ts'

/**
 * Which implementation makes a proof; all give zerokit's 128-byte arkworks proof.
 * - 'zerokit': zerokit's arkworks prover compiled to wasm (`generateRLNProofWithWitness`), the default.
 * - 'split': our split prover (split-prover.ts): most of a proof made before the message exists, then a
 *   millisecond step for the signal; the only code here that no library has.
 * - 'snarkjs': stock snarkjs, an independent second implementation.
 */
export type ProverKind = 'zerokit' | 'split' | 'snarkjs'

/** Which implementation checks a proof: zerokit's verify_with_roots (the default), or stock snarkjs. */
export type VerifierKind = 'zerokit' | 'snarkjs'

export const PROVER_KINDS: readonly ProverKind[] = ['zerokit', 'split', 'snarkjs']
export const VERIFIER_KINDS: readonly VerifierKind[] = ['zerokit', 'snarkjs']

/**
 * What a thread can load, each once, on first use or ahead of it (`preload`):
 * - 'witness': circom_runtime's witness calculator over the circuit's wasm (every prover needs it);
 * - 'zerokit-prover': zerokit with the whole proving key (seconds of CPU: it parses the key into arkworks form);
 * - 'zerokit-verifier': zerokit with the verifying-only key (zkey.ts, milliseconds);
 * - 'split': the split prover (ffjavascript's curve, the key read in place);
 * - 'snarkjs': the verification key for snarkjs (and ffjavascript's curve, which snarkjs proofs use too).
 */
export type EnginePart = 'witness' | 'zerokit-prover' | 'zerokit-verifier' | 'split' | 'snarkjs'

/** The parts a prover needs in the thread that proves. */
export function proverParts (kind: ProverKind): EnginePart[] {
  return kind === 'zerokit' ? ['witness', 'zerokit-prover'] : kind === 'split' ? ['witness', 'split'] : ['witness', 'snarkjs']
}

/** The parts a verifier needs in the thread that verifies. */
export function verifierParts (kind: VerifierKind): EnginePart[] {
  return kind === 'zerokit' ? ['zerokit-verifier'] : ['snarkjs']
}

/** What the circuit needs to prove one message (rln-v2.md "RLN-Diff flow", zerokit RLNWitnessInput). */
export interface WitnessInput {
  secret: bigint
  userMessageLimit: number
  messageId: number
  pathElements: bigint[]
  pathIndices: number[]
  x: bigint
  externalNullifier: bigint
}

export interface EngineResources {
  /** The circom witness generator (rln.wasm). */
  circuit: Uint8Array
  /** The Groth16 proving key (rln_final.zkey). */
  zkey: Uint8Array
}

let zerokitReady: Promise<void> | undefined
/** Instantiates zerokit's wasm once per thread, from the bytes the npm package ships (no fetch in Node). */
async function loadZerokitWasm (): Promise<void> {
  zerokitReady ??= (async () => {
    const require = createRequire(import.meta.url)
    const bytes = await readFile(require.resolve('@waku/zerokit-rln-wasm/rln_wasm_bg.wasm'))
    await initZerokit({ module_or_path: bytes })
  })()
  await zerokitReady
}

/** zerokit's newRLN, whose failures (thrown strings) become typed errors. */
function newZerokit (zkey: Uint8Array, what: string): number {
  try {
    return newRLN(zkey)
  } catch (err) {
    throw new RlnWorkerError(`zerokit could not load the ${what}`, { cause: err instanceof Error ? err : new Error(String(err)) })
  }
}

/**
 * Proves and verifies RLN v2 messages with the ceremony key, in the thread that owns it. The witness comes from
 * circom_runtime; the proof from zerokit, the split prover or snarkjs. Each part is loaded once, when first needed
 * or when preloaded. Heavy: a proof takes a second or more of CPU, so the library runs engines in worker threads
 * (pool.ts), never on an event loop that relays traffic.
 */
export class RlnEngine {
  private readonly resources: EngineResources
  private readonly parts = new Map<EnginePart, Promise<unknown>>()

  constructor (resources: EngineResources) {
    this.resources = resources
  }

  /** Loads the parts now (each once; a part already loading or loaded is not loaded again). */
  async preload (parts: readonly EnginePart[]): Promise<void> {
    await Promise.all(parts.map(async part => { await this.part(part) }))
  }

  private async part (part: EnginePart): Promise<unknown> {
    let loading = this.parts.get(part)
    if (loading === undefined) {
      loading = this.load(part)
      this.parts.set(part, loading)
    }
    return await loading
  }

  private async load (part: EnginePart): Promise<unknown> {
    switch (part) {
      case 'witness': return await WitnessCalculatorBuilder(this.resources.circuit)
      case 'zerokit-prover':
        await loadZerokitWasm()
        // The costly step (seconds): zerokit parses the zkey into its own proving key, kept for the thread's life.
        return newZerokit(this.resources.zkey, 'proving key')
      case 'zerokit-verifier':
        await loadZerokitWasm()
        return newZerokit(verifyingOnlyZkey(this.resources.zkey), 'verification key')
      case 'split':
        return await SplitProver.create(readZkey(this.resources.zkey))
      case 'snarkjs':
        // A single-threaded curve shared with snarkjs in this thread (see curve.ts), then the verification key.
        await bn254Curve()
        return await snarkjs.zKey.exportVerificationKey({ type: 'mem', data: this.resources.zkey })
    }
  }

  /** The circuit inputs, by the signal names of zerokit's rln-v2 circuit. */
  private static circuitInputs (w: WitnessInput): Record<string, unknown> {
    if (w.pathElements.length !== TREE_DEPTH || w.pathIndices.length !== TREE_DEPTH) {
      throw new RlnEncodingError(`a Merkle path has ${TREE_DEPTH} levels`)
    }
    return {
      identitySecret: w.secret,
      userMessageLimit: BigInt(w.userMessageLimit),
      messageId: BigInt(w.messageId),
      pathElements: w.pathElements,
      identityPathIndex: w.pathIndices.map(BigInt),
      x: w.x,
      externalNullifier: w.externalNullifier
    }
  }

  private async witness (w: WitnessInput): Promise<bigint[]> {
    const inputs = RlnEngine.circuitInputs(w)
    const calculator = await this.part('witness') as WitnessCalculator
    try {
      return await calculator.calculateWitness(inputs, true)
    } catch (err) {
      throw new RlnWitnessError('the circuit refuses these inputs', { cause: err })
    }
  }

  private static fromPublics (zkProof: Uint8Array, publics: bigint[]): RlnProof {
    const [y, root, nullifier, x, externalNullifier] = publics as [bigint, bigint, bigint, bigint, bigint]
    return { zkProof, root, externalNullifier, x, y, nullifier }
  }

  /** A proof in this thread: zerokit, snarkjs, or the split prover's two steps one after the other. */
  async prove (w: WitnessInput, prover: ProverKind = 'zerokit'): Promise<RlnProof> {
    if (prover === 'zerokit') return await this.proveZerokit(w)
    if (prover === 'split') return await this.finalize([await this.precompute(w)], w.x)
    const inputs = RlnEngine.circuitInputs(w)
    const calculator = await this.part('witness') as WitnessCalculator
    let wtns: Uint8Array
    try {
      wtns = await calculator.calculateWTNSBin(inputs, true)
    } catch (err) {
      throw new RlnWitnessError('the circuit refuses these inputs', { cause: err })
    }
    // snarkjs proves on ffjavascript's curve: the single-threaded one of this thread (curve.ts).
    await this.part('snarkjs')
    const { proof, publicSignals: signals } = await snarkjs.groth16.prove({ type: 'mem', data: this.resources.zkey }, { type: 'mem', data: wtns })
    const [y, root, nullifier, x, externalNullifier] = signals.map(BigInt) as [bigint, bigint, bigint, bigint, bigint]
    return { zkProof: compressProof(fromSnarkjsProof(proof)), root, externalNullifier, x, y, nullifier }
  }

  /**
   * The signal-independent part of a split proof (split-prover.ts): everything but x, which is ignored. About as
   * costly as a proof; `finalize` then takes milliseconds. `which` makes one of two halves for two threads.
   */
  async precompute (w: WitnessInput, which: ProofPart = 'all'): Promise<PrecomputedProof> {
    const prover = await this.part('split') as SplitProver
    const w0 = await this.witness({ ...w, x: 0n })
    const w1 = await this.witness({ ...w, x: 1n })
    return await prover.precompute(w0, w1, which)
  }

  /** A split proof for signal hash x from its precomputed parts. */
  async finalize (parts: readonly PrecomputedProof[], x: bigint): Promise<RlnProof> {
    const prover = await this.part('split') as SplitProver
    const made = prover.finalize(parts, x)
    return RlnEngine.fromPublics(made.zkProof, made.publics)
  }

  private async proveZerokit (w: WitnessInput): Promise<RlnProof> {
    const ctx = await this.part('zerokit-prover') as number
    const witness = await this.witness(w)
    const out = generateRLNProofWithWitness(ctx, witness, serializeWitness(w))
    const f = (i: number): bigint => {
      let v = 0n
      for (let j = FIELD_BYTES - 1; j >= 0; j--) v = (v << 8n) | BigInt(out[128 + i * FIELD_BYTES + j] as number)
      return v
    }
    // zerokit's order: proof | root | external_nullifier | x | y | nullifier
    return { zkProof: out.slice(0, 128), root: f(0), externalNullifier: f(1), x: f(2), y: f(3), nullifier: f(4) }
  }

  async verify (proof: RlnProof, signal: Uint8Array, roots: readonly bigint[], verifier: VerifierKind = 'zerokit'): Promise<boolean> {
    return verifier === 'zerokit' ? await this.verifyZerokit(proof, signal, roots) : await this.verifySnarkjs(proof)
  }

  /**
   * Zerokit's verify_with_roots: the zkSNARK, x == hash(signal), and root among `roots`. An empty root list would
   * make zerokit skip the root check, so it is refused here. It does not check the external nullifier (the caller
   * does, from the epoch).
   */
  async verifyZerokit (proof: RlnProof, signal: Uint8Array, roots: readonly bigint[]): Promise<boolean> {
    const ctx = await this.part('zerokit-verifier') as number
    if (roots.length === 0) throw new RlnInvalidProofError('no acceptable root to verify against')
    const blob = serializeProof(proof)
    const input = new Uint8Array(blob.length + 8 + signal.length)
    input.set(blob, 0)
    new DataView(input.buffer).setBigUint64(blob.length, BigInt(signal.length), true)
    input.set(signal, blob.length + 8)
    const rootBytes = new Uint8Array(roots.length * FIELD_BYTES)
    roots.forEach((r, i) => rootBytes.set(toBytesLE(r), i * FIELD_BYTES))
    try {
      return verifyWithRoots(ctx, input, rootBytes)
    } catch {
      // zerokit throws on proof bytes it cannot deserialize: that is an invalid proof.
      return false
    }
  }

  /** snarkjs's Groth16 verifier on the same key: checks only the zkSNARK against the proof's public values. */
  async verifySnarkjs (proof: RlnProof): Promise<boolean> {
    const vk = await this.part('snarkjs') as VerificationKey
    let points
    try {
      points = decompressProof(proof.zkProof)
    } catch {
      return false
    }
    return await snarkjs.groth16.verify(vk, publicSignals(proof), toSnarkjsProof(points))
  }
}

/**
 * Zerokit's serialized witness (rln/src/protocol.rs serialize_witness): identity_secret | user_message_limit |
 * message_id | len<8> path_elements | len<8> identity_path_index | x | external_nullifier.
 */
export function serializeWitness (w: WitnessInput): Uint8Array {
  const n = w.pathElements.length
  const out = new Uint8Array(FIELD_BYTES * 3 + 8 + n * FIELD_BYTES + 8 + n + FIELD_BYTES * 2)
  const view = new DataView(out.buffer)
  let o = 0
  const put = (v: bigint): void => { out.set(toBytesLE(v), o); o += FIELD_BYTES }
  put(w.secret)
  put(BigInt(w.userMessageLimit))
  put(BigInt(w.messageId))
  view.setBigUint64(o, BigInt(n), true); o += 8
  for (const e of w.pathElements) put(e)
  view.setBigUint64(o, BigInt(n), true); o += 8
  for (const b of w.pathIndices) out[o++] = b
  put(w.x)
  put(w.externalNullifier)
  return out
}
