/**
 * The entry of a proving thread: it loads the wasm and the proving key once, then serves the pool's jobs
 * (pool.ts) one at a time. Started only by the pool.
 */
import { setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import { errorToWire } from '../../common/index.ts'
import { RlnEngine } from './engine.ts'
import type { EngineResources, ProverKind, VerifierKind, WitnessInput } from './engine.ts'
import type { PrecomputedProof, ProofPart } from './groth16-prover.ts'
import { parseProof, serializeProof } from './proof.ts'

export interface WorkerInit {
  resources: EngineResources
  zerokit: boolean
  /** Added to the thread's nice value so the event loop of the process wins the CPU (Linux: per thread). */
  niceness: number
  /** Read by the 'web-worker' shim that ffjavascript loads (see pool.ts). */
  mod: string
  type: 'module'
}

export type WorkerJob =
  | { op: 'prove', input: WitnessInput, prover: ProverKind }
  | { op: 'precompute', input: WitnessInput, part: ProofPart, full: boolean }
  | { op: 'finalize', parts: PrecomputedProof[], x: bigint }
  | { op: 'verify', proof: Uint8Array, signal: Uint8Array, roots: bigint[], verifier: VerifierKind }

export type WorkerRequest = WorkerJob & { id: number }

export type WorkerValue = Uint8Array | boolean | PrecomputedProof

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'failed', error: ReturnType<typeof errorToWire> }
  | { type: 'result', id: number, ok: true, value: WorkerValue }
  | { type: 'result', id: number, ok: false, error: ReturnType<typeof errorToWire> }

const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')
const init = workerData as WorkerInit

if (init.niceness > 0) {
  try {
    // pid 0 is the calling thread on Linux; the threads this one starts later inherit the value.
    setPriority(0, init.niceness)
  } catch {
    // Not allowed or not supported: the thread keeps its priority.
  }
}

let engine: RlnEngine
try {
  engine = await RlnEngine.create(init.resources, { zerokit: init.zerokit })
  port.postMessage({ type: 'ready' } satisfies WorkerReply)
} catch (err) {
  port.postMessage({ type: 'failed', error: errorToWire(err) } satisfies WorkerReply)
  process.exit(1)
}

port.on('message', (req: WorkerRequest) => {
  void handle(req).then(
    (value) => { port.postMessage({ type: 'result', id: req.id, ok: true, value } satisfies WorkerReply) },
    (err: unknown) => { port.postMessage({ type: 'result', id: req.id, ok: false, error: errorToWire(err) } satisfies WorkerReply) }
  )
})

async function handle (req: WorkerRequest): Promise<WorkerValue> {
  switch (req.op) {
    case 'prove': return serializeProof(await engine.prove(req.input, req.prover))
    case 'precompute': return req.full ? await engine.provePart(req.input, req.part) : await engine.precompute(req.input, req.part)
    case 'finalize': return serializeProof(engine.finalize(req.parts, req.x))
    case 'verify': {
      const proof = parseProof(req.proof)
      if (req.verifier === 'snarkjs') return await engine.verifySnarkjs(proof)
      if (req.verifier === 'prepared') return engine.verifyPrepared(proof)
      return engine.verifyZerokit(proof, req.signal, req.roots)
    }
  }
}
