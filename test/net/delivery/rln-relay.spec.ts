import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Rln, createIdentity, resolveResources } from '../../../src/crypto/rln/index.ts'
import type { SlashedEvent } from '../../../src/crypto/rln/index.ts'
import {
  WAKU_RLN_IDENTIFIER, decodeRateLimitProof, encodeRateLimitProof, nsFromMs, proveRlnMessage, relayVerdict,
  rlnRelayOver, validateRlnMessage
} from '../../../src/net/delivery/index.ts'
import type { RlnRelayProver, RlnRelayVerifier, WakuMessage } from '../../../src/net/delivery/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'

/**
 * RLN relay validation in logos-delivery's order, over real proofs. Two RLN instances hold the same identity (the
 * second with its own, in-memory message_id log): that is how a member double-signals, and what must get it slashed.
 */
const CONTENT = '/rln-test/1/chat/proto'
let verifierRln: Rln
let rogueRln: Rln
let relay: RlnRelayVerifier & RlnRelayProver
let rogue: RlnRelayProver
const slashed: SlashedEvent[] = []

function message (text: string, at = Date.now()): WakuMessage {
  return { payload: new TextEncoder().encode(text), contentTopic: CONTENT, timestamp: nsFromMs(at) }
}

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

beforeAll(async () => {
  const resources = await resolveResources({ path: testResourcesDir(), download: false })
  const identity = createIdentity()
  const options = { resources, identity, rlnIdentifier: WAKU_RLN_IDENTIFIER, epoch: { periodSeconds: 600, maxGap: 1 }, rootWindow: 50, workers: 1, lightWorkers: 1, precompute: 0 }
  ;[verifierRln, rogueRln] = await Promise.all([Rln.create(options), Rln.create(options)])
  const other = createIdentity().commitment
  for (const r of [verifierRln, rogueRln]) {
    r.group.register(other, 5)
    r.join(2)
  }
  verifierRln.addEventListener('slashed', (e) => { slashed.push((e as CustomEvent<SlashedEvent>).detail) })
  relay = rlnRelayOver(verifierRln)
  rogue = rlnRelayOver(rogueRln)
  // Proving keys loaded before any message is stamped: a first proof must not spend its 20 s timestamp budget on it.
  await Promise.all([verifierRln.loaded(), rogueRln.loaded()])
  // The double signal below must fall in the epoch of the first message (600 s), with room for every test of the
  // file on a loaded machine: start afresh near an epoch's end.
  const left = 600_000 - (Date.now() % 600_000)
  if (left < 180_000) await new Promise(resolve => setTimeout(resolve, left + 500))
}, 480_000)

afterAll(async () => {
  await Promise.all([verifierRln?.stop(), rogueRln?.stop()])
})

describe('RLN relay (17/WAKU2-RLN-RELAY v2)', () => {
  it('accepts a proven message once, then ignores its replay', async () => {
    const m = await proveRlnMessage(message('first'), relay)
    const wire = decodeRateLimitProof(m.proof as Uint8Array)
    expect(wire.rlnIdentifier).toEqual(Uint8Array.from(Buffer.from(WAKU_RLN_IDENTIFIER.padEnd(32, '\0'), 'latin1')))
    const ok = await validateRlnMessage(m, relay)
    expect(ok.nullifier).toEqual(wire.nullifier)
    const replay = await validateRlnMessage(m, relay).catch((e: unknown) => e)
    expect((replay as { code: string }).code).toBe('ERR_RLN_DUPLICATE_MESSAGE')
    expect(relayVerdict(replay)).toBe('ignore')
  }, 60_000)

  it('rejects, in order: no proof, a stale timestamp, another identifier, an epoch that is not the timestamp\'s, an altered message', async () => {
    const m = await proveRlnMessage(message('to tamper with'), relay)
    expect(await codeOf(validateRlnMessage({ ...m, proof: undefined }, relay))).toBe('ERR_DLV_NO_PROOF')
    expect(await codeOf(validateRlnMessage({ ...m, proof: Uint8Array.of(1, 2, 3) }, relay))).toBe('ERR_DLV_NO_PROOF')
    // The timestamp check comes first: 21 s off our clock is refused before the proof is even read.
    const sentAt = Number((m.timestamp as bigint) / 1_000_000n)
    expect(await codeOf(validateRlnMessage({ ...m, proof: Uint8Array.of(1) }, relay, { nowMs: sentAt + 20_001 }))).toBe('ERR_DLV_TIMESTAMP')
    expect(await codeOf(validateRlnMessage(m, relay, { nowMs: sentAt - 20_001 }))).toBe('ERR_DLV_TIMESTAMP')
    const wire = decodeRateLimitProof(m.proof as Uint8Array)
    const otherId = encodeRateLimitProof({ ...wire, rlnIdentifier: new Uint8Array(32).fill(1) })
    expect(await codeOf(validateRlnMessage({ ...m, proof: otherId }, relay))).toBe('ERR_DLV_RLN_IDENTIFIER')
    const nextEpoch = new Uint8Array(32)
    new DataView(nextEpoch.buffer).setBigUint64(0, new DataView(wire.epoch.buffer, wire.epoch.byteOffset).getBigUint64(0, true) + 1n, true)
    expect(await codeOf(validateRlnMessage({ ...m, proof: encodeRateLimitProof({ ...wire, epoch: nextEpoch }) }, relay))).toBe('ERR_DLV_EPOCH_MISMATCH')
    // The timestamp is part of the signal: moving it by a nanosecond breaks the proof, as does another payload.
    expect(await codeOf(validateRlnMessage({ ...m, timestamp: (m.timestamp as bigint) + 1n }, relay))).toBe('ERR_RLN_INVALID_PROOF')
    const altered = { ...m, payload: new TextEncoder().encode('altered') }
    const err = await validateRlnMessage(altered, relay).catch((e: unknown) => e)
    expect((err as { code: string }).code).toBe('ERR_RLN_INVALID_PROOF')
    expect(relayVerdict(err)).toBe('reject')
    // A broken zkSNARK with the right public values: the verifier itself refuses it.
    const forged = encodeRateLimitProof({ ...wire, proof: new Uint8Array(128).fill(3) })
    expect(await codeOf(validateRlnMessage({ ...m, proof: forged }, relay))).toBe('ERR_RLN_INVALID_PROOF')
    // This member's limit is 2 messages an epoch, both used: an honest prover refuses a third (before any proof).
    expect(await codeOf(proveRlnMessage(message('a third one'), relay))).toBe('ERR_RLN_RATE_LIMITED')
  }, 60_000)

  it('slashes a member who sends two messages under one nullifier', async () => {
    // The rogue instance proves with message_id 0 again: the verifier already saw message_id 0 of this member.
    const second = await proveRlnMessage(message('double signal'), rogue)
    const err = await validateRlnMessage(second, relay).catch((e: unknown) => e)
    expect((err as { code: string }).code).toBe('ERR_RLN_SPAM_DETECTED')
    expect(relayVerdict(err)).toBe('reject')
    expect(slashed).toHaveLength(1)
    expect(slashed[0]?.evidence.commitment).toBe(verifierRln.identity.commitment)
    expect(verifierRln.membership).toBeUndefined()
    // The removal restarted the root window: even a fresh proof against the old root is refused.
    const late = await proveRlnMessage(message('after removal'), rogue)
    expect(await codeOf(validateRlnMessage(late, relay))).toBe('ERR_RLN_UNKNOWN_ROOT')
  }, 60_000)
})
