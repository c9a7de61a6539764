import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import initZerokit, { generateRLNProofWithWitness, newRLN, verifyWithRoots } from '@waku/zerokit-rln-wasm'
import { WitnessCalculatorBuilder } from 'circom_runtime'
import type { WitnessCalculator } from 'circom_runtime'
import * as snarkjs from 'snarkjs'
import type { VerificationKey } from 'snarkjs'
import { compressProof, decompressProof, fromSnarkjsProof, toSnarkjsProof } from './arkworks-codec.ts'
import { bn254Curve } from './curve.ts'
import { Groth16Prover } from './groth16-prover.ts'
import type { PrecomputedProof, ProofPart } from './groth16-prover.ts'
import { PreparedVerifier } from './groth16-verifier.ts'
import { readZkey } from './zkey.ts'
import { FIELD_BYTES, TREE_DEPTH } from './constants.ts'
import { RlnEncodingError, RlnInvalidProofError, RlnWitnessError } from './errors.ts'
import { toBytesLE } from './field.ts'
import { publicSignals, serializeProof } from './proof.ts'
import type { RlnProof } from './proof.ts'

/**
 * Which implementation makes a proof: 'groth16' (ours, groth16-prover.ts, on ffjavascript's wasm with the key
 * parsed once), stock snarkjs, or zerokit's arkworks compiled to wasm. All give the same 128-byte arkworks proof.
 */
export type ProverKind = 'groth16' | 'snarkjs' | 'zerokit'

/**
 * Which implementation checks a proof, all on the same 128-byte arkworks proof: 'prepared' (ours, on
 * ffjavascript's wasm pairing with the key prepared once), zerokit's verify_with_roots, or stock snarkjs.
 */
export type VerifierKind = 'prepared' | 'zerokit' | 'snarkjs'

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

export interface EngineOptions {
  /** Load zerokit (3-4 s and ~150 MB for its copy of the key); needed to prove or verify with zerokit. */
  zerokit?: boolean
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

/**
 * Proves and verifies RLN v2 messages with the ceremony key, in the thread that owns it. The witness comes from
 * circom_runtime; the proof from snarkjs or zerokit. Heavy: each call to prove takes about a second of CPU, so the
 * library runs engines in worker threads (pool.ts), never on an event loop that relays traffic.
 */
export class RlnEngine {
  private readonly resources: EngineResources
  private readonly calculator: WitnessCalculator
  private readonly vk: VerificationKey
  private readonly zerokitCtx: number | undefined
  private readonly prepared: PreparedVerifier
  private readonly prover: Groth16Prover

  private constructor (resources: EngineResources, calculator: WitnessCalculator, vk: VerificationKey, zerokitCtx: number | undefined, prepared: PreparedVerifier, prover: Groth16Prover) {
    this.resources = resources
    this.calculator = calculator
    this.vk = vk
    this.zerokitCtx = zerokitCtx
    this.prepared = prepared
    this.prover = prover
  }

  static async create (resources: EngineResources, options: EngineOptions = {}): Promise<RlnEngine> {
    // A single-threaded curve, shared with snarkjs in this thread (see curve.ts).
    await bn254Curve()
    const calculator = await WitnessCalculatorBuilder(resources.circuit)
    const vk = await snarkjs.zKey.exportVerificationKey({ type: 'mem', data: resources.zkey })
    const zkey = readZkey(resources.zkey)
    const prepared = await PreparedVerifier.create(zkey)
    const prover = await Groth16Prover.create(zkey)
    let ctx: number | undefined
    if (options.zerokit !== false) {
      await loadZerokitWasm()
      // Zerokit parses the zkey into its own proving key once: the costly step (seconds), kept for the thread's life.
      ctx = newRLN(resources.zkey)
    }
    return new RlnEngine(resources, calculator, vk, ctx, prepared, prover)
  }

  get hasZerokit (): boolean {
    return this.zerokitCtx !== undefined
  }

  /** The circuit inputs, by the signal names of zerokit's rln-v2 circuit. */
  private circuitInputs (w: WitnessInput): Record<string, unknown> {
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

  private async witness (inputs: Record<string, unknown>): Promise<bigint[]> {
    try {
      return await this.calculator.calculateWitness(inputs, true)
    } catch (err) {
      throw new RlnWitnessError('the circuit refuses these inputs', { cause: err })
    }
  }

  private static fromPublics (zkProof: Uint8Array, publics: bigint[]): RlnProof {
    const [y, root, nullifier, x, externalNullifier] = publics as [bigint, bigint, bigint, bigint, bigint]
    return { zkProof, root, externalNullifier, x, y, nullifier }
  }

  async prove (w: WitnessInput, prover: ProverKind = 'groth16'): Promise<RlnProof> {
    const inputs = this.circuitInputs(w)
    if (prover === 'zerokit') return await this.proveZerokit(w, inputs)
    if (prover === 'groth16') {
      const made = await this.prover.prove(await this.witness(inputs))
      return RlnEngine.fromPublics(made.zkProof, made.publics)
    }
    let wtns: Uint8Array
    try {
      wtns = await this.calculator.calculateWTNSBin(inputs, true)
    } catch (err) {
      throw new RlnWitnessError('the circuit refuses these inputs', { cause: err })
    }
    const { proof, publicSignals: signals } = await snarkjs.groth16.prove({ type: 'mem', data: this.resources.zkey }, { type: 'mem', data: wtns })
    const [y, root, nullifier, x, externalNullifier] = signals.map(BigInt) as [bigint, bigint, bigint, bigint, bigint]
    return { zkProof: compressProof(fromSnarkjsProof(proof)), root, externalNullifier, x, y, nullifier }
  }

  /**
   * The signal-independent part of a proof (see groth16-prover.ts): everything but x, which is ignored. About as
   * costly as a proof; `finalize` then takes milliseconds.
   */
  async precompute (w: WitnessInput, which: ProofPart = 'all'): Promise<PrecomputedProof> {
    const w0 = await this.witness(this.circuitInputs({ ...w, x: 0n }))
    const w1 = await this.witness(this.circuitInputs({ ...w, x: 1n }))
    return await this.prover.precompute(w0, w1, which)
  }

  /** Part of a direct proof (x included): parts 'a' and 'b' on two threads, then `finalize(parts, 0n)`. */
  async provePart (w: WitnessInput, which: ProofPart): Promise<PrecomputedProof> {
    return await this.prover.part(await this.witness(this.circuitInputs(w)), undefined, which)
  }

  finalize (parts: readonly PrecomputedProof[], x: bigint): RlnProof {
    const made = this.prover.finalize(parts, x)
    return RlnEngine.fromPublics(made.zkProof, made.publics)
  }

  private async proveZerokit (w: WitnessInput, inputs: Record<string, unknown>): Promise<RlnProof> {
    const ctx = this.requireZerokit()
    const witness = await this.witness(inputs)
    const out = generateRLNProofWithWitness(ctx, witness, serializeWitness(w))
    const f = (i: number): bigint => {
      let v = 0n
      for (let j = FIELD_BYTES - 1; j >= 0; j--) v = (v << 8n) | BigInt(out[128 + i * FIELD_BYTES + j] as number)
      return v
    }
    // zerokit's order: proof | root | external_nullifier | x | y | nullifier
    return { zkProof: out.slice(0, 128), root: f(0), externalNullifier: f(1), x: f(2), y: f(3), nullifier: f(4) }
  }

  /**
   * Zerokit's verify_with_roots: the zkSNARK, x == hash(signal), and root among `roots`. An empty root list would
   * make zerokit skip the root check, so it is refused here.
   */
  verifyZerokit (proof: RlnProof, signal: Uint8Array, roots: readonly bigint[]): boolean {
    const ctx = this.requireZerokit()
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

  /**
   * Our verifier with the prepared key: the zkSNARK against the proof's public values (the caller checks the
   * root and x = hash(signal), as Rln.check does).
   */
  verifyPrepared (proof: RlnProof): boolean {
    let points
    try {
      points = decompressProof(proof.zkProof, false)
    } catch {
      return false
    }
    // root (index 1) and external nullifier (index 4) repeat across an epoch's messages: their input sum is cached.
    return this.prepared.verify(points, [proof.y, proof.root, proof.nullifier, proof.x, proof.externalNullifier], { indices: [1, 4] })
  }

  /** snarkjs's Groth16 verifier on the same key: checks only the zkSNARK against the proof's public values. */
  async verifySnarkjs (proof: RlnProof): Promise<boolean> {
    let points
    try {
      points = decompressProof(proof.zkProof)
    } catch {
      return false
    }
    return await snarkjs.groth16.verify(this.vk, publicSignals(proof), toSnarkjsProof(points))
  }

  private requireZerokit (): number {
    if (this.zerokitCtx === undefined) throw new RlnInvalidProofError('this engine was created without zerokit')
    return this.zerokitCtx
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
