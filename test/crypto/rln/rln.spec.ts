import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import * as snarkjs from 'snarkjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AbortedError } from '../../../src/common/index.ts'
import {
  FIELD_ORDER, MerkleTree, ProverPool, Rln, RlnBusyError, RlnEncodingError, RlnEpochOutOfRangeError,
  RlnInvalidProofError, RlnMessageLimitError, RlnNotAMemberError, RlnSpamDetectedError, RlnUnknownRootError,
  RlnWitnessError, RlnWorkerError, createIdentity, decompressProof, hashToField, parseProof, poseidon, publicSignals,
  rateCommitment, readZkey, recoverSecret, resolveResources, serializeProof, toSnarkjsProof, verifyingOnlyZkey
} from '../../../src/crypto/rln/index.ts'
import type { RlnProof, RlnResources, SlashedEvent, WitnessInput } from '../../../src/crypto/rln/index.ts'
import { testResourcesDir } from './helpers.ts'

/**
 * End to end on the ceremony key. Proofs cost a second or more each, so the suite makes few and shares them: one
 * honest proof (zerokit, the default), two proofs of an offender under one nullifier (the split prover and snarkjs),
 * split proofs from one precomputation, the proofs of an Rln with a stock, and one in the pool test.
 */
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
let resources: RlnResources
let dir: string
let now = 1_700_000_005_000
let node: Rln
let offenderPool: ProverPool
let vk: Awaited<ReturnType<typeof snarkjs.zKey.exportVerificationKey>>
const offender = createIdentity()
/** Well-formed bytes that are no proof. */
const fakeProof: RlnProof = { zkProof: new Uint8Array(128), root: 1n, externalNullifier: 2n, x: 3n, y: 4n, nullifier: 5n }
let offenderTree: MerkleTree
let offenderIndex: number

/** The independent check: snarkjs's verifier with the key read from the zkey, on our 128-byte proof decompressed. */
async function snarkjsVerifies (p: RlnProof): Promise<boolean> {
  return await snarkjs.groth16.verify(vk, publicSignals(p), toSnarkjsProof(decompressProof(p.zkProof)))
}

beforeAll(async () => {
  resources = await resolveResources({ path: testResourcesDir(), download: false })
  dir = await mkdtemp(join(tmpdir(), 'logos-rln-e2e-'))
  vk = await snarkjs.zKey.exportVerificationKey({ type: 'mem', data: resources.zkey })
  ;[node, offenderPool] = await Promise.all([
    // One heavy thread each: the suite shares the machine with the others' tests. The node has the defaults (zerokit
    // proves and verifies); the offender's pool proves with the split prover and snarkjs.
    Rln.create({ resources, dataDir: dir, workers: 1, epoch: { now: () => now, periodSeconds: 10, maxGap: 3 } }),
    (async () => { const p = new ProverPool(resources, { workers: 1, prover: 'split' }); await p.start(); return p })()
  ])
  for (let i = 0; i < 3; i++) node.group.register(createIdentity().commitment, 100)
  node.join(100)
  offenderIndex = node.group.register(offender.commitment, 20).index
  // The offender keeps its own copy of the tree, as any member does.
  offenderTree = new MerkleTree()
  for (const m of node.group.members()) offenderTree.set(m.index, m.rateCommitment)
}, 180_000)

afterAll(async () => {
  await Promise.all([node?.stop(), offenderPool?.stop()])
  await rm(dir, { recursive: true, force: true })
})

function offenderInput (signal: Uint8Array, messageId: number, epoch: bigint): WitnessInput {
  const path = offenderTree.proof(offenderIndex)
  return {
    secret: offender.secret,
    userMessageLimit: 20,
    messageId,
    pathElements: path.pathElements,
    pathIndices: path.pathIndices,
    x: hashToField(signal),
    externalNullifier: node.externalNullifier(epoch)
  }
}

describe('RLN proofs on the ceremony key', () => {
  let honest: RlnProof
  let honestEpoch: bigint
  let spamA: RlnProof
  let spamB: RlnProof
  const signal = enc('a message through the mixnet')

  it('makes every proof in worker threads, with each prover', async () => {
    expect(node.prover).toBe('zerokit')
    expect(node.verifier).toBe('zerokit')
    const epoch = node.clock.current()
    ;[{ proof: honest, epoch: honestEpoch }, spamA, spamB] = await Promise.all([
      node.prove(signal, { messageId: 0 }),
      // The same message_id twice in one epoch, by the two other prover implementations.
      offenderPool.prove(offenderInput(enc('spam one'), 5, epoch), 'split').then(parseProof),
      offenderPool.prove(offenderInput(enc('spam two'), 5, epoch), 'snarkjs').then(parseProof)
    ])
    expect(honestEpoch).toBe(epoch)
    await node.loaded()
  }, 180_000)

  it('a valid proof verifies, and its public values are the RLN values', async () => {
    const member = node.membership
    expect(member).toBeDefined()
    await expect(node.check(signal, honest)).resolves.toMatchObject({ epoch: honestEpoch })
    const extN = node.externalNullifier(honestEpoch)
    const a1 = poseidon([node.identity.secret, extN, 0n])
    expect(honest.root).toBe(node.group.root)
    expect(honest.x).toBe(hashToField(signal))
    expect(honest.externalNullifier).toBe(extN)
    expect(honest.nullifier).toBe(poseidon([a1]))
    expect(honest.y).toBe((node.identity.secret + honest.x * a1) % FIELD_ORDER)
  })

  it('proofs made here verify with snarkjs against the same key (an independent verifier)', async () => {
    for (const p of [honest, spamA, spamB]) expect(await snarkjsVerifies(p)).toBe(true)
    expect(await snarkjsVerifies({ ...honest, y: honest.y + 1n })).toBe(false)
  })

  it('zerokit and snarkjs agree on valid and altered proofs, whichever prover made them', async () => {
    const flipped = Uint8Array.from(spamA.zkProof)
    flipped[70] = (flipped[70] as number) ^ 1
    const cases: Array<[RlnProof, Uint8Array, boolean]> = [
      [honest, signal, true],
      [spamA, enc('spam one'), true],
      [spamB, enc('spam two'), true],
      [{ ...honest, y: (honest.y + 1n) % FIELD_ORDER }, signal, false],
      [{ ...spamA, nullifier: spamB.nullifier + 1n }, enc('spam one'), false],
      [{ ...spamB, externalNullifier: 3n }, enc('spam two'), false],
      [{ ...spamA, zkProof: flipped }, enc('spam one'), false]
    ]
    for (const [p, s, want] of cases) {
      for (const kind of ['zerokit', 'snarkjs'] as const) {
        expect(await offenderPool.verify(serializeProof(p), s, [p.root], kind), `${kind} on a ${want ? 'valid' : 'altered'} proof`).toBe(want)
      }
    }
  })

  it('refuses a wrong root, a tampered signal and altered public values', async () => {
    await expect(node.check(signal, { ...honest, root: 12345n })).rejects.toThrow(RlnUnknownRootError)
    await expect(node.check(enc('a message through the mixnet!'), honest)).rejects.toThrow(RlnInvalidProofError)
    const other = enc('another message')
    await expect(node.check(other, { ...honest, x: hashToField(other) })).rejects.toThrow(RlnInvalidProofError)
    await expect(node.check(signal, { ...honest, y: (honest.y + 1n) % FIELD_ORDER })).rejects.toThrow(RlnInvalidProofError)
    await expect(node.check(signal, { ...honest, nullifier: 7n })).rejects.toThrow(RlnInvalidProofError)
    const flipped = Uint8Array.from(honest.zkProof)
    flipped[5] = (flipped[5] as number) ^ 1
    await expect(node.check(signal, { ...honest, zkProof: flipped })).rejects.toThrow(RlnInvalidProofError)
    // A new member changes the root; the old root stays in the window, and a proof relabelled with the new one fails.
    const before = node.group.root
    node.group.register(createIdentity().commitment)
    expect(node.group.isAcceptableRoot(before)).toBe(true)
    await expect(node.check(signal, honest)).resolves.toBeDefined()
    await expect(node.check(signal, { ...honest, root: node.group.root })).rejects.toThrow(RlnInvalidProofError)
  })

  it('refuses a proof whose epoch is too far from ours', async () => {
    const saved = now
    now += 4 * 10_000
    await expect(node.check(signal, honest)).rejects.toThrow(RlnEpochOutOfRangeError)
    await expect(node.check(signal, honest, { epoch: honestEpoch })).rejects.toThrow(RlnEpochOutOfRangeError)
    now = saved - 3 * 10_000
    await expect(node.check(signal, honest, { epoch: honestEpoch })).resolves.toBeDefined()
    now = saved
    await expect(node.check(signal, honest, { epoch: honestEpoch + 1n })).rejects.toThrow(RlnInvalidProofError)
  })

  it('zerokit verifies with a key that holds only the ceremony\'s verification key', () => {
    const full = readZkey(resources.zkey)
    const bytes = verifyingOnlyZkey(resources.zkey)
    const small = readZkey(bytes)
    expect(bytes.length).toBeLessThan(resources.zkey.length / 100)
    for (const key of ['alpha1', 'beta2', 'gamma2', 'delta2', 'ic'] as const) expect(small[key]).toEqual(full[key])
    expect(small.nPublic).toBe(full.nPublic)
    // The node's light thread checked the proofs above with it; zerokit's proving key is in its heavy thread only.
  })

  it('refuses message_id at the limit, before proving and in the circuit itself', async () => {
    await expect(node.prove(signal, { messageId: 100 })).rejects.toThrow(RlnMessageLimitError)
    // The offender's limit is 20: the circuit's range check refuses message_id 20, in the worker, as a typed error.
    await expect(offenderPool.prove(offenderInput(signal, 20, honestEpoch), 'snarkjs')).rejects.toThrow(RlnWitnessError)
  })

  it('double signalling reveals the exact secret and removes the member; its proofs then fail against the new root', async () => {
    const slashed: SlashedEvent[] = []
    node.addEventListener('slashed', (e) => { slashed.push((e as CustomEvent<SlashedEvent>).detail) })
    await node.verify(signal, honest)
    await node.verify(enc('spam one'), spamA)
    await expect(node.verify(enc('spam one'), spamA)).rejects.toThrow(/seen before/)
    await expect(node.verify(enc('spam two'), spamB)).rejects.toThrow(RlnSpamDetectedError)
    expect(slashed).toHaveLength(1)
    const { evidence, member } = slashed[0] as SlashedEvent
    expect(evidence.secret).toBe(offender.secret)
    expect(evidence.commitment).toBe(offender.commitment)
    expect(evidence.messageId).toBe(5)
    expect(member?.index).toBe(offenderIndex)
    expect(member?.removed).toBe(true)
    expect(node.group.memberByCommitment(offender.commitment)?.removed).toBe(true)
    expect(node.group.root).not.toBe(offenderTree.root)
    expect(node.group.roots).toEqual([node.group.root])
    // Its proofs carry a root with its leaf in it: refused; relabelled with the new root: the zkSNARK fails.
    await expect(node.check(enc('spam one'), spamA)).rejects.toThrow(RlnUnknownRootError)
    await expect(node.check(enc('spam one'), { ...spamA, root: node.group.root })).rejects.toThrow(RlnInvalidProofError)
    expect(() => node.group.merkleProof(offenderIndex)).toThrow(RlnNotAMemberError)
    expect(node.group.size).toBe(5)
    expect(rateCommitment(offender.commitment, 20)).toBe(offenderTree.leaf(offenderIndex))
  })
})

describe('precomputed proofs', () => {
  it('one precomputation finalizes into valid proofs for any signal; two of them reveal the secret like any double signal', async () => {
    const input = offenderInput(enc('unused'), 9, node.clock.current())
    const pre = await offenderPool.precompute(input, { urgent: true })
    const [one, two] = await Promise.all([offenderPool.finalize(pre, hashToField(enc('first'))), offenderPool.finalize(pre, hashToField(enc('second')))])
    const p1 = parseProof(one)
    const p2 = parseProof(two)
    for (const [p, s] of [[p1, enc('first')], [p2, enc('second')]] as const) {
      expect(await snarkjsVerifies(p)).toBe(true)
      expect(await offenderPool.verify(serializeProof(p), s, [p.root], 'zerokit')).toBe(true)
    }
    expect(p1.nullifier).toBe(p2.nullifier)
    expect(p1.zkProof).not.toEqual(p2.zkProof)
    expect(recoverSecret(p1, p2).a0).toBe(offender.secret)
  }, 120_000)

  it('an Rln with the split prover proves from its stock and keeps it topped up; with two heavy threads a precomputation runs in two halves', async () => {
    const id = createIdentity()
    const rln = await Rln.create({ resources, identity: id, prover: 'split', workers: 2, epoch: { now: () => now } })
    try {
      for (const m of node.group.members()) if (!m.removed) rln.group.register(m.commitment, m.userMessageLimit)
      rln.join(10)
      expect(rln.stocked).toBe(1)
      const made = await rln.prove(enc('from the stock'))
      expect(made.messageId).toBe(0)
      expect(rln.stocked).toBe(1)
      await expect(rln.check(enc('from the stock'), made.proof)).resolves.toBeDefined()
      expect(await snarkjsVerifies(made.proof)).toBe(true)
      // With two heavy threads a direct proof is split over both, too.
      const direct = await rln.prove(enc('direct'), { messageId: 5 })
      await expect(rln.check(enc('direct'), direct.proof)).resolves.toBeDefined()
      expect(await snarkjsVerifies(direct.proof)).toBe(true)
    } finally {
      await rln.stop()
    }
  }, 120_000)
})

describe('the prover pool', () => {
  it('keeps the event loop free while zerokit proves, bounds its queue, and honours aborts', async () => {
    const pool = new ProverPool(resources, { workers: 1, maxQueue: 1 })
    await pool.start()
    const input = offenderInput(enc('pool'), 1, node.clock.current())
    const histogram = monitorEventLoopDelay({ resolution: 5 })
    histogram.enable()
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 10)
    // The heavy thread is still loading zerokit's proving key: the job waits for it in the thread.
    const running = pool.prove(input, 'zerokit')
    const controller = new AbortController()
    const queued = pool.prove(input, 'snarkjs', { signal: controller.signal })
    await expect(pool.prove(input, 'snarkjs')).rejects.toThrow(RlnBusyError)
    controller.abort()
    await expect(queued).rejects.toThrow(AbortedError)
    expect(pool.queued).toBe(0)
    const bytes = await running
    clearInterval(timer)
    histogram.disable()
    await pool.loaded()
    // The loop kept running timers all along; the longest stall is printed for the record (the bench measures it).
    console.log(`event loop: max stall ${(histogram.max / 1e6).toFixed(1)} ms, ${ticks} timer ticks while zerokit loaded its key and proved`)
    expect(ticks).toBeGreaterThan(10)
    expect(await snarkjsVerifies(parseProof(bytes))).toBe(true)
    for (const kind of ['zerokit', 'snarkjs'] as const) expect(await pool.verify(serializeProof(fakeProof), enc('x'), [1n], kind)).toBe(false)
    await pool.stop()
    await expect(pool.prove(input, 'snarkjs')).rejects.toThrow(RlnWorkerError)
  }, 120_000)

  it('a key that does not load fails the jobs that need it, with a typed error', async () => {
    const pool = new ProverPool({ circuit: resources.circuit, zkey: resources.zkey.subarray(0, 4096) }, { workers: 1 })
    try {
      await pool.start()
      await expect(pool.loaded()).rejects.toThrow()
      const input = offenderInput(enc('broken'), 1, node.clock.current())
      await expect(pool.prove(input, 'zerokit')).rejects.toThrow(RlnWorkerError)
      await expect(pool.verify(serializeProof(fakeProof), enc('x'), [1n], 'zerokit')).rejects.toThrow(RlnEncodingError)
    } finally {
      await pool.stop()
    }
  }, 60_000)
})
