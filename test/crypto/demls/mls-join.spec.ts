import { describe, expect, it } from 'vitest'
import { acceptAll, createCommit, createGroup, emptyPskIndex, generateKeyPackage, joinGroup, processMessage, defaultLifetime } from 'ts-mls'
import type { ClientState, KeyPackage, PrivateKeyPackage, Proposal, MLSMessage } from 'ts-mls'
import { defaultClientConfig } from 'ts-mls/clientConfig.js'
import { demlsCapabilities, loadCipherSuite, encryptApplication, decryptApplication } from '../../../src/crypto/demls/index.ts'
import { joinWithWelcome, validateTree } from '../../../src/crypto/demls/mls-join.ts'

const enc = new TextEncoder()

describe('joining from a Welcome', () => {
  it('accepts valid trees whose parents list different unmerged leaves, which ts-mls 1.6.4 refuses', async () => {
    const cs = await loadCipherSuite()
    const kp = async (name: string): Promise<{ publicPackage: KeyPackage, privatePackage: PrivateKeyPackage }> =>
      await generateKeyPackage({ credentialType: 'basic', identity: enc.encode(name) }, demlsCapabilities(), defaultLifetime, [], cs)
    const add = (k: { publicPackage: KeyPackage }): Proposal => ({ proposalType: 'add', add: { keyPackage: k.publicPackage } })
    const a = await kp('a')
    let state: ClientState = await createGroup(enc.encode('g'), a.publicPackage, a.privatePackage, [], cs)
    const others = await Promise.all(Array.from({ length: 7 }, async (_, i) => await kp(`m${i}`)))
    const commit = async (proposals: Proposal[]): Promise<{ commit: MLSMessage, welcome: unknown }> => {
      const r = await createCommit({ state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true })
      state = r.newState
      return r
    }
    await commit(others.map(add)) // 8 members, blank parents
    await commit([]) // a's path: nodes 1, 3, 7
    await commit([{ proposalType: 'remove', remove: { removed: 2 } }, { proposalType: 'remove', remove: { removed: 5 } }])
    await commit([add(await kp('x'))]) // lands at leaf 2: unmerged at nodes 3 and 7
    await commit([add(await kp('y'))]) // lands at leaf 5: unmerged at node 7 only
    const shape = state.ratchetTree.map(n => n?.nodeType === 'parent' ? n.parent.unmergedLeaves.join('.') : '')
    expect(shape[3]).toBe('2')
    expect(shape[7]).toBe('2.5')
    const z = await kp('z')
    const last = await createCommit({ state, cipherSuite: cs }, { extraProposals: [add(z)], ratchetTreeExtension: true })
    const welcome = last.welcome
    if (welcome === undefined) throw new Error('no welcome')
    await expect(joinGroup(welcome, z.publicPackage, z.privatePackage, emptyPskIndex, cs)).rejects.toThrow(/unmerged_leaves/)
    const [joined] = await joinWithWelcome(welcome, z.publicPackage, z.privatePackage, cs, defaultClientConfig)
    expect(joined.groupContext.epoch).toBe(last.newState.groupContext.epoch)
    expect(joined.keySchedule.epochAuthenticator).toEqual(last.newState.keySchedule.epochAuthenticator)
    // And it is a working member: it reads the creator's messages.
    const m = await encryptApplication(last.newState, enc.encode('hi z'), cs)
    expect(new TextDecoder().decode((await decryptApplication(joined, m.message, cs)).data)).toBe('hi z')
    // A later commit by the creator (with a path) is processed by the joiner too.
    const next = await createCommit({ state: last.newState, cipherSuite: cs }, {})
    const processed = await processMessage(next.commit as never, joined, emptyPskIndex, acceptAll, cs)
    expect(processed.newState.keySchedule.epochAuthenticator).toEqual(next.newState.keySchedule.epochAuthenticator)
  }, 30_000)

  it('refuses a tampered tree (parent hash) and a Welcome for another key package', async () => {
    const cs = await loadCipherSuite()
    const kp = async (name: string): Promise<{ publicPackage: KeyPackage, privatePackage: PrivateKeyPackage }> =>
      await generateKeyPackage({ credentialType: 'basic', identity: enc.encode(name) }, demlsCapabilities(), defaultLifetime, [], cs)
    const a = await kp('a')
    let state: ClientState = await createGroup(enc.encode('g'), a.publicPackage, a.privatePackage, [], cs)
    const b = await kp('b')
    state = (await createCommit({ state, cipherSuite: cs }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: b.publicPackage } }] })).newState
    state = (await createCommit({ state, cipherSuite: cs }, {})).newState
    const c = await kp('c')
    const r = await createCommit({ state, cipherSuite: cs }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: c.publicPackage } }], ratchetTreeExtension: true })
    const welcome = r.welcome
    if (welcome === undefined) throw new Error('no welcome')
    const stranger = await kp('d')
    await expect(joinWithWelcome(welcome, stranger.publicPackage, stranger.privatePackage, cs, defaultClientConfig)).rejects.toThrow()
    const [ok] = await joinWithWelcome(welcome, c.publicPackage, c.privatePackage, cs, defaultClientConfig)
    expect(ok.groupContext.epoch).toBe(r.newState.groupContext.epoch)
    const tree = r.newState.ratchetTree
    const gc = r.newState.groupContext
    expect(await validateTree(tree, gc, defaultClientConfig, gc.treeHash, cs)).toBeUndefined()
    // A parent node with another key: its parent hash no longer matches the chain that covers it.
    const i = tree.findIndex(n => n?.nodeType === 'parent')
    const node = tree[i]
    if (node?.nodeType !== 'parent') throw new Error('no parent node')
    const tampered = tree.slice()
    tampered[i] = { nodeType: 'parent', parent: { ...node.parent, hpkePublicKey: node.parent.hpkePublicKey.map(x => x ^ 1) } }
    expect(await validateTree(tampered, gc, defaultClientConfig, gc.treeHash, cs)).toMatch(/parent hash|tree hash/)
    // A tree that does not hash to the GroupContext's tree hash.
    expect(await validateTree(tree, gc, defaultClientConfig, new Uint8Array(32), cs)).toMatch(/tree hash/)
  }, 30_000)
})
