import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kernel } from '../../../src/kernel/index.ts'
import { defineModule } from '../../../src/sdk/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'

const moduleDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/modules/rln')
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
let dir: string

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'logos-rln-mod-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('the rln module', () => {
  it('without resources fails to start with the clear error, and the node keeps running', async () => {
    const kernel = new Kernel({
      dataDir: join(dir, 'missing'),
      config: { rln: { resources: join(dir, 'no-such-folder'), cacheDir: join(dir, 'empty-cache'), download: false } }
    })
    await kernel.load({ dir: moduleDir }, { trusted: true })
    await kernel.load(defineModule({ name: 'echo', version: '1.0.0', start: () => ({ methods: { echo: (x: number) => x } }) }))
    const results = await kernel.startAll()
    const rln = results.find(r => r.name === 'rln')
    expect(rln?.state).toBe('failed')
    const entry = kernel.describe('rln')
    const codes = [entry.cause?.code, entry.cause?.cause?.code]
    expect(codes).toContain('ERR_RLN_RESOURCES_UNAVAILABLE')
    expect(JSON.stringify(entry.cause)).toContain('LOGOS_RLN_RESOURCES')
    expect(await kernel.call('echo', 'echo', 7)).toBe(7)
    await kernel.shutdown()
  })

  it('refuses an unknown prover or verifier in its config', async () => {
    const kernel = new Kernel({ dataDir: join(dir, 'bad'), config: { rln: { resources: testResourcesDir(), download: false, prover: 'groth16' } } })
    await kernel.load({ dir: moduleDir }, { trusted: true })
    const results = await kernel.startAll()
    expect(results.find(r => r.name === 'rln')?.state).toBe('failed')
    const cause = kernel.describe('rln').cause
    expect([cause?.code, cause?.cause?.code]).toContain('ERR_INVALID_ARGUMENT')
    expect(JSON.stringify(cause)).toContain('zerokit, split, snarkjs')
    await kernel.shutdown()
  })

  it('creates its identity, joins, proves and verifies through kernel calls, with typed errors across', async () => {
    const kernel = new Kernel({
      dataDir: join(dir, 'node'),
      // Minute-long epochs: on a loaded test machine the first proof (after zerokit loads its key) may take long.
      config: { rln: { resources: testResourcesDir(), download: false, workers: 1, userMessageLimit: 10, epochPeriodSeconds: 60 } },
      startTimeoutMs: 120_000,
      defaultCallTimeoutMs: 120_000
    })
    await kernel.load({ dir: moduleDir }, { trusted: true })
    const events: string[] = []
    kernel.subscribe('test', 'rln', '*', (_payload, meta) => { events.push(meta.event) })
    // The start does not wait for zerokit's proving key (loaded in the proving thread, in the background).
    const started = performance.now()
    await kernel.start('rln')
    console.log(`rln module started in ${(performance.now() - started).toFixed(0)} ms`)
    const id = await kernel.call<{ commitment: string, member: unknown }>('rln', 'identity')
    expect(id.commitment).toMatch(/^[0-9a-f]{64}$/)
    expect(id.member).toBeNull()
    const other = await kernel.call<{ secret: string, commitment: string }>('rln', 'createIdentity')
    await kernel.call('rln', 'register', { commitment: other.commitment })
    const joined = await kernel.call<{ index: number, userMessageLimit: number }>('rln', 'join', {})
    expect(joined).toMatchObject({ index: 1, userMessageLimit: 10 })
    expect(events).toEqual(['member:added', 'member:added'])

    const signal = enc('hello through the kernel')
    const proving = performance.now()
    const made = await kernel.call<{ proof: Uint8Array, epoch: string }>('rln', 'prove', { signal })
    console.log(`first proof (zerokit's key loaded meanwhile) in ${(performance.now() - proving).toFixed(0)} ms`)
    expect(made.proof.length).toBe(288)
    const ok = await kernel.call<{ valid: boolean, epoch: string }>('rln', 'verify', { signal, proof: made.proof, record: false })
    expect(ok).toMatchObject({ valid: true, epoch: made.epoch })
    const bad = await kernel.call('rln', 'verify', { signal: enc('altered'), proof: made.proof }).catch((e: unknown) => e)
    expect((bad as { code: string }).code).toBe('ERR_RLN_INVALID_PROOF')
    const limit = await kernel.call('rln', 'prove', { signal, messageId: 10 }).catch((e: unknown) => e)
    expect((limit as { code: string }).code).toBe('ERR_RLN_MESSAGE_LIMIT')
    await kernel.call('rln', 'verify', { signal, proof: made.proof })
    const dup = await kernel.call('rln', 'verify', { signal, proof: made.proof }).catch((e: unknown) => e)
    expect((dup as { code: string }).code).toBe('ERR_RLN_DUPLICATE_MESSAGE')
    await kernel.shutdown()

    // A restart keeps the identity and the group (here with the other implementations, which load only when used).
    const again = new Kernel({ dataDir: join(dir, 'node'), config: { rln: { resources: testResourcesDir(), download: false, workers: 1, precompute: 0, prover: 'split', verifier: 'snarkjs' } }, startTimeoutMs: 120_000 })
    await again.load({ dir: moduleDir }, { trusted: true })
    await again.start('rln')
    const back = await again.call<{ commitment: string, member: { index: number } }>('rln', 'identity')
    expect(back.commitment).toBe(id.commitment)
    expect(back.member.index).toBe(1)
    expect(await again.call<unknown[]>('rln', 'members')).toHaveLength(2)
    await again.shutdown()
  }, 180_000)
})
