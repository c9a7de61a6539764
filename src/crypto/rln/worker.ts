/**
 * The entry of a proving thread: it starts, says so, then loads the parts of the engine it will need (zerokit's
 * proving key takes seconds) before it serves the pool's jobs (pool.ts), one at a time. Started only by the pool.
 */
import { setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import { errorToWire } from '../../common/index.ts'
import { RlnEngine } from './engine.ts'
import type { EnginePart, EngineResources, ProverKind, VerifierKind, WitnessInput } from './engine.ts'
import type { PrecomputedProof, ProofPart } from './split-prover.ts'
import { parseProof, serializeProof } from './proof.ts'

export interface WorkerInit {
  resources: EngineResources
  /** Loaded right after the thread says it is ready, before its first job; other parts load on first use. */
  preload: EnginePart[]
  /** Added to the thread's nice value so the event loop of the process wins the CPU (Linux: per thread). */
  niceness: number
  /** Read by the 'web-worker' shim that ffjavascript loads (see pool.ts). */
  mod: string
  type: 'module'
}

export type WorkerJob =
  | { op: 'prove', input: WitnessInput, prover: ProverKind }
  | { op: 'precompute', input: WitnessInput, part: ProofPart }
  | { op: 'finalize', parts: PrecomputedProof[], x: bigint }
  | { op: 'verify', proof: Uint8Array, signal: Uint8Array, roots: bigint[], verifier: VerifierKind }

export type WorkerRequest = WorkerJob & { id: number }

export type WorkerValue = Uint8Array | boolean | PrecomputedProof

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'loaded' }
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

const engine = new RlnEngine(init.resources)
port.on('message', (req: WorkerRequest) => {
  void handle(req).then(
    (value) => { port.postMessage({ type: 'result', id: req.id, ok: true, value } satisfies WorkerReply) },
    (err: unknown) => { port.postMessage({ type: 'result', id: req.id, ok: false, error: errorToWire(err) } satisfies WorkerReply) }
  )
})
port.postMessage({ type: 'ready' } satisfies WorkerReply)
// A part that fails to load fails every job that needs it, with the same error; the pool reports it too.
engine.preload(init.preload).then(
  () => { port.postMessage({ type: 'loaded' } satisfies WorkerReply) },
  (err: unknown) => { port.postMessage({ type: 'failed', error: errorToWire(err) } satisfies WorkerReply) }
)

async function handle (req: WorkerRequest): Promise<WorkerValue> {
  switch (req.op) {
    case 'prove': return serializeProof(await engine.prove(req.input, req.prover))
    case 'precompute': return await engine.precompute(req.input, req.part)
    case 'finalize': return serializeProof(await engine.finalize(req.parts, req.x))
    case 'verify': return await engine.verify(parseProof(req.proof), req.signal, req.roots, req.verifier)
  }
}
