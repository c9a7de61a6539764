import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  FIELD_ORDER, Rln, RlnDuplicateMessageError, RlnEpochOutOfRangeError, RlnInvalidProofError, createIdentity,
  resolveResources, toBytesLE
} from '../../../src/crypto/rln/index.ts'
import type { MessageShare, RlnIdentity, RlnResources, SlashedEvent } from '../../../src/crypto/rln/index.ts'
import {
  MixRlnWireError, RATE_LIMIT_PROOF_BYTES, createRlnSpamProtection, decodeMessagingMetadata, decodeRateLimitProof,
  encodeMessagingMetadata, encodeRateLimitProof, rlnSpamProtection
} from '../../../src/net/rln-spam-protection/index.ts'
import type { MixSpamProtection, RlnSpamProtection } from '../../../src/net/rln-spam-protection/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'

const field = fc.bigInt({ min: 0n, max: FIELD_ORDER - 1n })
const proofArb = fc.record({
  proof: fc.uint8Array({ minLength: 128, maxLength: 128 }),
  merkleRoot: field,
  epoch: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  shareX: field,
  shareY: field,
  nullifier: field
})

describe('RateLimitProof and MessagingMetadata on the wire', () => {
  it('a RateLimitProof is always 301 bytes and decodes to what was encoded', () => {
    fc.assert(fc.property(proofArb, (p) => {
      const bytes = encodeRateLimitProof(p)
      expect(bytes.length).toBe(RATE_LIMIT_PROOF_BYTES)
      expect(decodeRateLimitProof(bytes)).toEqual(p)
    }), { numRuns: 50 })
  })

  it('refuses malformed proofs: size, framing, repeated, unknown or short fields, non-canonical values', () => {
    const good = encodeRateLimitProof({ proof: new Uint8Array(128), merkleRoot: 1n, epoch: 2n, shareX: 3n, shareY: 4n, nullifier: 5n })
    expect(() => decodeRateLimitProof(good.subarray(0, 300))).toThrow(MixRlnWireError)
    const wrongTag = Uint8Array.from(good)
    wrongTag[0] = (7 << 3) | 2
    expect(() => decodeRateLimitProof(wrongTag)).toThrow(MixRlnWireError)
    const repeated = Uint8Array.from(good)
    repeated[0] = (2 << 3) | 2
    expect(() => decodeRateLimitProof(repeated)).toThrow(MixRlnWireError)
    const varintType = Uint8Array.from(good)
    varintType[0] = (1 << 3) | 0
    expect(() => decodeRateLimitProof(varintType)).toThrow(MixRlnWireError)
    const nonCanonical = Uint8Array.from(good)
    nonCanonical.set(toBytesLE(FIELD_ORDER), 131 + 2)
    expect(() => decodeRateLimitProof(nonCanonical)).toThrow(MixRlnWireError)
    fc.assert(fc.property(fc.uint8Array({ minLength: 301, maxLength: 301 }), (junk) => {
      try { decodeRateLimitProof(junk) } catch (err) { expect(err).toBeInstanceOf(MixRlnWireError) }
    }), { numRuns: 200 })
  })

  it('metadata round-trips and carries its epoch', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.array(fc.record({ nullifier: field, shares: fc.array(fc.record({ x: field, y: field }), { maxLength: 3 }) }), { maxLength: 5 }), (epoch, entries) => {
      expect(decodeMessagingMetadata(encodeMessagingMetadata({ epoch, entries }))).toEqual({ epoch, entries })
    }), { numRuns: 30 })
    expect(() => decodeMessagingMetadata(new Uint8Array([0x0a, 0x00]))).toThrow(MixRlnWireError)
  })
})

/**
 * Per-hop proofs as the mixnet makes them: sender -> relay -> exit, all members of one group. A dishonest sender
 * runs two processes under one identity, each with its own message-id store, and sends one message through each
 * path with the same message_id: neither relay sees both, the coordination-layer metadata reveals it. The sender's
 * processes and the exit have the mixnet's defaults (split prover); the relay a plain Rln (zerokit proves).
 */
describe('the mixnet hook on the ceremony key', () => {
  let resources: RlnResources
  const ids: RlnIdentity[] = [createIdentity(), createIdentity(), createIdentity()]
  const hooks: RlnSpamProtection[] = []
  let sender: RlnSpamProtection
  let senderTwin: RlnSpamProtection
  let relay: RlnSpamProtection
  let exit: RlnSpamProtection

  beforeAll(async () => {
    resources = await resolveResources({ path: testResourcesDir(), download: false })
    // One fixed clock for all: the test must not straddle an epoch boundary.
    const options = { resources, workers: 1, epoch: { now: () => 1_700_000_005_000 } }
    const make = async (identity: RlnIdentity, mixDefaults: boolean): Promise<RlnSpamProtection> => {
      const hook = mixDefaults
        ? await createRlnSpamProtection({ ...options, identity })
        : rlnSpamProtection(await Rln.create({ ...options, identity }), { emitShares: true })
      for (const id of ids) hook.rln.group.register(id.commitment, 100)
      hooks.push(hook)
      return hook
    }
    ;[sender, senderTwin, relay, exit] = await Promise.all([make(ids[0] as RlnIdentity, true), make(ids[0] as RlnIdentity, true), make(ids[1] as RlnIdentity, false), make(ids[2] as RlnIdentity, true)])
    expect([sender, senderTwin, relay, exit].map(h => h.rln.prover)).toEqual(['split', 'split', 'zerokit', 'split'])
  }, 120_000)

  afterAll(async () => {
    await Promise.all(hooks.map(async h => { await h.stop() }))
    // A hook over an Rln it did not make leaves it to its owner.
    await relay?.rln.stop()
  })

  it('implements the mixnet shape with 301-byte proofs, its rate and its epochs', () => {
    const hook: MixSpamProtection = relay
    expect(hook.proofLength).toBe(301)
    expect(hook.slotsPerEpoch).toBe(100)
    expect(hook.epochMs).toBe(10_000)
    const off = hook.onEpochChange?.(() => {})
    expect(typeof off).toBe('function')
    off?.()
  })

  it('each hop verifies the incoming proof and proves the outgoing packet; tampering and replays are refused; spam across paths is found from shared metadata', async () => {
    const packet = randomBytes(4608)
    const forwarded = randomBytes(4608)
    const other = randomBytes(4608)
    const shares: MessageShare[] = []
    relay.addEventListener('share', (e) => { shares.push((e as CustomEvent<MessageShare>).detail) })
    // The sender's two processes each use message_id 0 of this epoch; the relay proves its own hop meanwhile.
    const [p1, p2] = await Promise.all([sender.generateProof(packet), senderTwin.generateProof(other)])
    expect(p1.length).toBe(301)

    await relay.verifyProof(packet, p1)
    expect(shares).toHaveLength(1)
    await expect(relay.verifyProof(packet, p1)).rejects.toThrow(RlnDuplicateMessageError)
    const tampered = Uint8Array.from(packet)
    tampered[100] = (tampered[100] as number) ^ 1
    await expect(exit.verifyProof(tampered, p1)).rejects.toThrow(RlnInvalidProofError)
    await expect(exit.verifyProof(packet, p1.subarray(1))).rejects.toThrow(MixRlnWireError)
    const stale = decodeRateLimitProof(p1)
    await expect(exit.verifyProof(packet, encodeRateLimitProof({ ...stale, epoch: stale.epoch - 4n }))).rejects.toThrow(RlnEpochOutOfRangeError)

    const hop = await relay.generateProof(forwarded)
    await exit.verifyProof(forwarded, hop)

    // Forged metadata cannot condemn anyone: a share that conflicts with a verified one but does not make valid
    // evidence is dropped, and a verified message replaces a forged share recorded before it.
    const forged = (nullifier: bigint, epoch: bigint): Uint8Array => encodeMessagingMetadata({ epoch, entries: [{ nullifier, shares: [{ x: 1n, y: 2n }] }] })
    expect(relay.importMetadata(forged(stale.nullifier, stale.epoch))).toEqual({ recorded: 1, spam: 0 })
    expect(relay.rln.group.memberByCommitment(ids[0]?.commitment as bigint)?.removed).toBe(false)
    const hopWire = decodeRateLimitProof(hop)
    expect(senderTwin.importMetadata(forged(hopWire.nullifier, hopWire.epoch))).toEqual({ recorded: 1, spam: 0 })
    await senderTwin.verifyProof(forwarded, hop)
    expect(senderTwin.rln.group.memberByCommitment(ids[1]?.commitment as bigint)?.removed).toBe(false)

    // The other path: the exit sees the twin's message, valid on its own.
    await exit.verifyProof(other, p2)
    const slashed: SlashedEvent[] = []
    exit.rln.addEventListener('slashed', (e) => { slashed.push((e as CustomEvent<SlashedEvent>).detail) })
    const result = exit.importMetadata(relay.exportMetadata())
    expect(result.spam).toBe(1)
    expect(slashed[0]?.evidence.secret).toBe(ids[0]?.secret)
    expect(exit.rln.group.memberByCommitment(ids[0]?.commitment as bigint)?.removed).toBe(true)
    // Metadata that only repeats what the exit knows changes nothing.
    expect(exit.importMetadata(exit.exportMetadata())).toEqual({ recorded: 0, spam: 0 })
  }, 180_000)
})
