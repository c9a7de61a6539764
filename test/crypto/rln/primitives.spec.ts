import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bn254 } from '@noble/curves/bn254.js'
import initZerokit, { hash as zerokitHash, poseidonHash as zerokitPoseidon } from '@waku/zerokit-rln-wasm'
import fc from 'fast-check'
import { openDatabase } from '../../../src/common/index.ts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EpochClock, FIELD_ORDER, MembershipGroup, MerkleTree, MessageIdAllocator, NullifierLog, RLN_PROOF_BYTES,
  RlnEncodingError, RlnEpochOutOfRangeError, RlnGroupError, RlnInvalidEvidenceError, RlnNotAMemberError,
  RlnRateLimitedError, buildEvidence, compressG1, compressG2, createIdentity, decodeEpoch, decompressG1,
  decompressG2, encodeEpoch, externalNullifier, fieldFromBytes, fromBytesLE, hashToField, identityFromSecret,
  loadIdentity, parseProof, poseidon, rateCommitment, recoverSecret, rlnIdentifierField, rootFromProof,
  saveIdentity, serializeProof, toBytesLE, verifyEvidence, zeroHashes
} from '../../../src/crypto/rln/index.ts'

const field = fc.bigInt({ min: 0n, max: FIELD_ORDER - 1n })

function frVec (values: bigint[]): Uint8Array {
  const out = new Uint8Array(8 + values.length * 32)
  new DataView(out.buffer).setBigUint64(0, BigInt(values.length), true)
  values.forEach((v, i) => out.set(toBytesLE(v), 8 + i * 32))
  return out
}

let dir: string
beforeAll(async () => {
  const require = createRequire(import.meta.url)
  await initZerokit({ module_or_path: await readFile(require.resolve('@waku/zerokit-rln-wasm/rln_wasm_bg.wasm')) })
  dir = await mkdtemp(join(tmpdir(), 'logos-rln-'))
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('hashes agree with zerokit', () => {
  it('poseidon-lite equals zerokit poseidonHash for 1, 2 and 3 inputs', () => {
    fc.assert(fc.property(fc.array(field, { minLength: 1, maxLength: 3 }), (inputs) => {
      expect(poseidon(inputs)).toBe(fromBytesLE(zerokitPoseidon(frVec(inputs))))
    }), { numRuns: 60 })
  })

  it('hashToField equals zerokit hash (keccak256 read little-endian mod p)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (signal) => {
      expect(hashToField(signal)).toBe(fromBytesLE(zerokitHash(signal)))
    }), { numRuns: 100 })
  })

  it('the rate commitment is Poseidon(Poseidon(secret), limit)', () => {
    const id = createIdentity()
    expect(id.commitment).toBe(fromBytesLE(zerokitPoseidon(frVec([id.secret]))))
    expect(rateCommitment(id.commitment, 100)).toBe(fromBytesLE(zerokitPoseidon(frVec([id.commitment, 100n]))))
  })
})

describe('Merkle tree', () => {
  it('an empty depth-20 tree has the zero root, and zero hashes chain', () => {
    const z = zeroHashes(20)
    expect(new MerkleTree().root).toBe(z[20])
    expect(z[1]).toBe(poseidon([0n, 0n]))
  })

  it('every proof leads to the root; batch loading equals one-by-one inserts; removal restores the empty tree', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 20 - 1 }), { minLength: 1, maxLength: 6 }), fc.array(field, { minLength: 6, maxLength: 6 }), (indices, leaves) => {
      const a = new MerkleTree()
      const b = new MerkleTree()
      indices.forEach((index, i) => { a.set(index, (leaves[i] as bigint) + 1n) })
      b.setMany(indices.map((index, i) => [index, (leaves[i] as bigint) + 1n] as const))
      expect(b.root).toBe(a.root)
      for (const index of indices) expect(rootFromProof(a.leaf(index), a.proof(index))).toBe(a.root)
      expect(a.proof(indices[0] as number).pathIndices.reduce((acc, bit, i) => acc + bit * 2 ** i, 0)).toBe(indices[0])
      for (const index of indices) a.set(index, 0n)
      expect(a.root).toBe(new MerkleTree().root)
    }), { numRuns: 8 })
  })

  it('refuses indices outside the tree', () => {
    expect(() => new MerkleTree().set(2 ** 20, 1n)).toThrow(RlnGroupError)
    expect(() => new MerkleTree().proof(-1)).toThrow(RlnGroupError)
  })
})

describe('epochs', () => {
  it('encodes the epoch as a u64 in 32 little-endian bytes and refuses wider values', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (e) => {
      const bytes = encodeEpoch(e)
      expect(bytes.length).toBe(32)
      expect(decodeEpoch(bytes)).toBe(e)
    }))
    const bad = new Uint8Array(32)
    bad[8] = 1
    expect(() => decodeEpoch(bad)).toThrow(RlnEncodingError)
  })

  it('accepts epochs within the gap and refuses one past it, either way', () => {
    let now = 1_700_000_000_000
    const clock = new EpochClock({ periodSeconds: 10, maxGap: 3, now: () => now })
    const e = clock.current()
    expect(e).toBe(170_000_000n)
    for (const d of [-3n, 0n, 3n]) expect(() => { clock.check(e + d) }).not.toThrow()
    expect(() => { clock.check(e + 4n) }).toThrow(RlnEpochOutOfRangeError)
    expect(() => { clock.check(e - 4n) }).toThrow(RlnEpochOutOfRangeError)
    now += 10_000
    expect(clock.current()).toBe(e + 1n)
  })

  it('the external nullifier is Poseidon(epoch as field, rln identifier as field)', () => {
    const id = rlnIdentifierField('mix-rln-spam-protection/v1')
    expect(id).toBe(fromBytesLE(Uint8Array.from([...new TextEncoder().encode('mix-rln-spam-protection/v1'), ...new Uint8Array(6)])))
    expect(externalNullifier(5n, id)).toBe(fromBytesLE(zerokitPoseidon(frVec([5n, id]))))
  })
})

describe('shares, secret recovery and evidence', () => {
  it('two points of a line give back its secret; the evidence names the member and the message_id', () => {
    fc.assert(fc.property(field, field, field, fc.integer({ min: 0, max: 99 }), (secretSeed, x1, x2, messageId) => {
      fc.pre(x1 !== x2)
      const id = identityFromSecret(secretSeed === 0n ? 1n : secretSeed)
      const extN = externalNullifier(42n, rlnIdentifierField('test'))
      const a1 = poseidon([id.secret, extN, BigInt(messageId)])
      const share = (x: bigint): { x: bigint, y: bigint } => ({ x, y: (id.secret + x * a1) % FIELD_ORDER })
      expect(recoverSecret(share(x1), share(x2)).a0).toBe(id.secret)
      const s1 = { epoch: 42n, externalNullifier: extN, nullifier: poseidon([a1]), ...share(x1) }
      const s2 = { ...s1, ...share(x2) }
      const evidence = buildEvidence(s1, s2, 100)
      expect(evidence.secret).toBe(id.secret)
      expect(evidence.commitment).toBe(id.commitment)
      expect(evidence.messageId).toBe(messageId)
      verifyEvidence(evidence, id.commitment, 100)
      expect(() => { verifyEvidence(evidence, createIdentity().commitment, 100) }).toThrow(RlnInvalidEvidenceError)
      expect(() => buildEvidence(s1, { ...s2, y: s2.y + 1n }, 100)).toThrow(RlnInvalidEvidenceError)
    }), { numRuns: 10 })
  })

  it('the nullifier log tells new, duplicate and double-signalled shares apart, and forgets old epochs', () => {
    const log = new NullifierLog({ keepEpochs: 3 })
    const base = { epoch: 10n, externalNullifier: 7n, nullifier: 9n, x: 1n, y: 5n }
    expect(log.observe(base).kind).toBe('new')
    expect(log.observe({ ...base }).kind).toBe('duplicate')
    const seen = log.observe({ ...base, x: 2n, y: 8n })
    expect(seen.kind).toBe('double-signal')
    if (seen.kind === 'double-signal') expect(seen.secret).toBe(2n) // y = 2 + 3x
    expect(log.observe({ ...base, nullifier: 10n }).kind).toBe('new')
    log.prune(13n)
    expect(log.size).toBe(2)
    log.prune(14n)
    expect(log.size).toBe(0)
  })
})

describe('arkworks point encoding', () => {
  it('compresses and decompresses G1 and G2 points, both y signs', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 2n ** 200n }), (k) => {
      const g1 = bn254.G1.Point.BASE.multiply(k).toAffine()
      const g2 = bn254.G2.Point.BASE.multiply(k).toAffine()
      for (const p of [g1, { x: g1.x, y: bn254.fields.Fp.neg(g1.y) }]) expect(decompressG1(compressG1(p))).toEqual(p)
      for (const p of [g2, { x: g2.x, y: bn254.fields.Fp2.neg(g2.y) }]) expect(decompressG2(compressG2(p))).toEqual(p)
    }), { numRuns: 10 })
  })

  it('refuses points off the curve, at infinity, or not canonical', () => {
    let x = 1n
    while (true) {
      try { bn254.fields.Fp.sqrt(x ** 3n + 3n); x++ } catch { break }
    }
    expect(() => decompressG1(toBytesLE(x))).toThrow(RlnEncodingError)
    const inf = new Uint8Array(32)
    inf[31] = 0x40
    expect(() => decompressG1(inf)).toThrow(RlnEncodingError)
    expect(() => decompressG1(toBytesLE(bn254.fields.Fp.ORDER))).toThrow(RlnEncodingError)
    expect(() => decompressG2(new Uint8Array(63))).toThrow(RlnEncodingError)
  })
})

describe('proof and identity encodings', () => {
  it('serializes the 288-byte zerokit proof and refuses bad lengths and non-canonical values', () => {
    const p = { zkProof: new Uint8Array(128).fill(3), root: 1n, externalNullifier: 2n, x: 3n, y: 4n, nullifier: 5n }
    const bytes = serializeProof(p)
    expect(bytes.length).toBe(RLN_PROOF_BYTES)
    expect(parseProof(bytes)).toEqual(p)
    expect(() => parseProof(bytes.subarray(1))).toThrow(RlnEncodingError)
    const bad = Uint8Array.from(bytes)
    bad.set(toBytesLE(FIELD_ORDER), 128)
    expect(() => parseProof(bad)).toThrow(RlnEncodingError)
    expect(() => fieldFromBytes(new Uint8Array(31))).toThrow(RlnEncodingError)
  })

  it('saves the identity readable by its owner only and detects a tampered file', async () => {
    const path = join(dir, 'id', 'identity.json')
    const id = createIdentity()
    await saveIdentity(path, id)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await loadIdentity(path)).toEqual(id)
    expect(await loadIdentity(join(dir, 'none.json'))).toBeUndefined()
    const text = JSON.parse(await readFile(path, 'utf8')) as { commitment: string }
    text.commitment = '00'.repeat(32)
    await writeFile(path, JSON.stringify(text))
    await expect(loadIdentity(path)).rejects.toThrow(RlnEncodingError)
  })
})

describe('membership group', () => {
  it('registers, removes, keeps a window of roots, and survives a restart', () => {
    const path = join(dir, 'group.sqlite')
    const g = new MembershipGroup({ path, rootWindow: 3 })
    const ids = Array.from({ length: 4 }, () => createIdentity())
    const events: string[] = []
    g.addEventListener('member:added', () => events.push('added'))
    g.addEventListener('member:removed', () => events.push('removed'))
    const roots = [g.root]
    for (const id of ids) { g.register(id.commitment, 50); roots.push(g.root) }
    expect(g.roots).toEqual(roots.slice(-3))
    expect(g.isAcceptableRoot(roots[1] as bigint)).toBe(false)
    expect(() => g.register(ids[0]?.commitment as bigint)).toThrow(RlnGroupError)
    const m = g.memberByCommitment(ids[2]?.commitment as bigint)
    expect(m?.index).toBe(2)
    expect(rootFromProof(m?.rateCommitment as bigint, g.merkleProof(2))).toBe(g.root)
    expect(g.remove(2, 'slashed')).toBe(true)
    expect(g.remove(2)).toBe(false)
    // A removal restarts the window: the old roots all contain the removed member.
    expect(g.roots).toEqual([g.root])
    expect(() => g.merkleProof(2)).toThrow(RlnNotAMemberError)
    expect(() => g.register(ids[2]?.commitment as bigint)).toThrow(RlnGroupError)
    expect(events).toEqual(['added', 'added', 'added', 'added', 'removed'])
    const root = g.root
    g.close()

    const again = new MembershipGroup({ path, rootWindow: 3 })
    expect(again.root).toBe(root)
    expect(again.roots).toEqual([root])
    expect(again.size).toBe(3)
    expect(again.memberByIndex(2)?.removed).toBe(true)
    expect(again.register(createIdentity().commitment).index).toBe(4)
    const root2 = again.root
    again.close()

    // The tree's nodes are stored; a store whose nodes do not give the last root is rebuilt from the members.
    const db = openDatabase(path, { synchronous: 'FULL' })
    const stored = (db.prepare('SELECT COUNT(*) AS n FROM nodes').get() as { n: number }).n
    expect(stored).toBeGreaterThan(20)
    db.prepare('DELETE FROM nodes WHERE level >= 10').run()
    db.close()
    const repaired = new MembershipGroup({ path, rootWindow: 3 })
    expect(repaired.root).toBe(root2)
    expect(rootFromProof(repaired.memberByIndex(4)?.rateCommitment as bigint, repaired.merkleProof(4))).toBe(root2)
    repaired.close()
  })

  it('refuses bad limits and bad commitments', () => {
    const g = new MembershipGroup()
    expect(() => g.register(createIdentity().commitment, 0)).toThrow(RlnGroupError)
    expect(() => g.register(createIdentity().commitment, 70_000)).toThrow(RlnGroupError)
    expect(() => g.register(FIELD_ORDER)).toThrow(RlnGroupError)
    g.close()
  })

  it('hands out each message_id once per epoch, remembers them, and stops at the limit', () => {
    const path = join(dir, 'ids.sqlite')
    const a = new MessageIdAllocator(path)
    expect([a.take(5n, 3), a.take(5n, 3), a.take(5n, 3)]).toEqual([0, 1, 2])
    expect(() => a.take(5n, 3)).toThrow(RlnRateLimitedError)
    expect(a.take(6n, 3, 2)).toBe(2)
    expect(a.take(6n, 3)).toBe(0)
    a.close()
    const b = new MessageIdAllocator(path)
    expect(() => b.take(6n, 3, 2)).toThrow(RlnRateLimitedError)
    expect(b.take(6n, 3)).toBe(1)
    b.prune(6n)
    expect(b.used(5n)).toBe(0)
    expect(b.used(6n)).toBe(3)
    b.close()
  })
})
