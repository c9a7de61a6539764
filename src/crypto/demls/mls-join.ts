import { emptyPskIndex } from 'ts-mls'
import type { CiphersuiteImpl, ClientConfig, ClientState, Extension, GroupContext, RatchetTree, Welcome } from 'ts-mls'
import { extensionsSupportedByCapabilities } from 'ts-mls/extension.js'
import { ratchetTreeFromExtension, verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js'
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js'
import { deriveKeySchedule } from 'ts-mls/keySchedule.js'
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js'
import { validateLeafNodeUpdateOrCommit } from 'ts-mls/clientState.js'
import { parentHashInputEncoder } from 'ts-mls/parentHash.js'
import { encode } from 'ts-mls/codec/tlsEncoder.js'
import { leafNodeHashInputEncoder, parentNodeHashInputEncoder } from 'ts-mls/treeHash.js'
import { pathToRoot } from 'ts-mls/pathSecrets.js'
import { mergePrivateKeyPaths, toPrivateKeyPath } from 'ts-mls/privateKeyPath.js'
import { accumulatePskSecret } from 'ts-mls/pskIndex.js'
import { findLeafIndex, removeLeaves } from 'ts-mls/ratchetTree.js'
import { createSecretTree } from 'ts-mls/secretTree.js'
import { directPath, isLeaf, leafToNodeIndex, leafWidth, left, nodeToLeafIndex, right, root, toLeafIndex, toNodeIndex } from 'ts-mls/treemath.js'
import type { NodeIndex } from 'ts-mls/treemath.js'
import { firstCommonAncestor } from 'ts-mls/updatePath.js'
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js'
import type { KeyPackage, PrivateKeyPackage } from 'ts-mls'
import { bytesEqual } from './bytes.ts'
import { InvalidKeyPackageError } from './errors.ts'

/**
 * Joining from a Welcome (RFC 9420 §12.4.3.1), as ts-mls 1.6.4's joinGroupWithExtensions does it, with one fix.
 *
 * ts-mls 1.6.4 checks unmerged leaves (RFC 9420 §7.9.1 "each non-blank parent node P lists L in unmerged_leaves if
 * L is unmerged at P's descendants") by requiring every non-blank node on an unmerged leaf's direct path, above and
 * below, to have an *equal* unmerged list. Valid trees break that rule as soon as adds land under different
 * subtrees before a path covers them (a parent lists [6], the root [6, 9]), and ts-mls then refuses its own groups'
 * Welcomes ("non-blank intermediate node must list leaf node in its unmerged_leaves"); later ts-mls versions check
 * only the nodes between the leaf and the parent, for membership. This module does the join with that check
 * corrected; every other step and check is ts-mls's own.
 *
 * It also verifies parent hashes (RFC 9420 §7.9.2) with memoized subtree hashes: ts-mls 1.6.4 recomputes the
 * sibling subtree hash, on a copy of the whole tree, for every step of every leaf's chain, which takes 15 s for a
 * Welcome into a group of 1,000. The result is the same; the slow path is kept for the rare parent whose unmerged
 * leaves fall in the sibling subtree.
 */
export async function joinWithWelcome (welcome: Welcome, keyPackage: KeyPackage, privateKeys: PrivateKeyPackage, cs: CiphersuiteImpl, clientConfig: ClientConfig): Promise<[ClientState, Extension[]]> {
  const ref = await makeKeyPackageRef(keyPackage, cs.hash)
  const groupSecrets = await decryptGroupSecrets(await cs.hpke.importPrivateKey(privateKeys.initPrivateKey), ref, welcome, cs.hpke)
  if (groupSecrets === undefined) throw new InvalidKeyPackageError('the Welcome has no secrets for this key package')
  const [pskSecret] = await accumulatePskSecret(groupSecrets.psks, emptyPskIndex, cs, new Uint8Array(cs.kdf.size))
  const gi = await decryptGroupInfo(welcome, groupSecrets.joinerSecret, pskSecret, cs)
  if (gi === undefined) throw new Error('cannot decrypt the GroupInfo')
  if (!extensionsSupportedByCapabilities(gi.groupContext.extensions, keyPackage.leafNode.capabilities)) throw new Error('the group uses extensions this member does not support')
  const tree = ratchetTreeFromExtension(gi)
  if (tree === undefined) throw new Error('the Welcome carries no ratchet tree')
  const signer = tree[leafToNodeIndex(toLeafIndex(gi.signer))]
  if (signer?.nodeType !== 'leaf') throw new Error('the GroupInfo signer is not a member')
  if (!await clientConfig.authService.validateCredential(signer.leaf.credential, signer.leaf.signaturePublicKey)) throw new Error('bad signer credential')
  if (!await verifyGroupInfoSignature(gi, signer.leaf.signaturePublicKey, cs.signature)) throw new Error('bad GroupInfo signature')
  if (gi.groupContext.cipherSuite !== keyPackage.cipherSuite) throw new Error('cipher suite mismatch')
  const invalid = await validateTree(tree, gi.groupContext, clientConfig, gi.groupContext.treeHash, cs)
  if (invalid !== undefined) throw new Error(`invalid ratchet tree: ${invalid}`)
  const newLeaf = findLeafIndex(tree, keyPackage.leafNode)
  if (newLeaf === undefined) throw new Error('own leaf not found in the Welcome\'s tree')
  const own = { leafIndex: newLeaf, privateKeys: { [leafToNodeIndex(newLeaf)]: privateKeys.hpkePrivateKey } }
  const privatePath = groupSecrets.pathSecret === undefined
    ? own
    : mergePrivateKeyPaths(await toPrivateKeyPath(await pathToRoot(tree, firstCommonAncestor(tree, newLeaf, toLeafIndex(gi.signer)), groupSecrets.pathSecret, cs.kdf), newLeaf, cs), own)
  const [keySchedule, encryptionSecret] = await deriveKeySchedule(groupSecrets.joinerSecret, pskSecret, gi.groupContext, cs.kdf)
  if (!await verifyGroupInfoConfirmationTag(gi, groupSecrets.joinerSecret, pskSecret, cs)) throw new Error('bad confirmation tag')
  const secretTree = await createSecretTree(leafWidth(tree.length), encryptionSecret, cs.kdf)
  return [{
    groupContext: gi.groupContext,
    ratchetTree: tree,
    privatePath,
    signaturePrivateKey: privateKeys.signaturePrivateKey,
    confirmationTag: gi.confirmationTag,
    unappliedProposals: {},
    keySchedule,
    secretTree,
    historicalReceiverData: new Map(),
    groupActiveState: { kind: 'active' },
    clientConfig
  }, gi.extensions]
}

/** ts-mls's validateRatchetTree with the unmerged-leaves check of RFC 9420 §7.9.1 done right. */
export async function validateTree (tree: RatchetTree, gc: GroupContext, config: ClientConfig, treeHash: Uint8Array, cs: CiphersuiteImpl): Promise<string | undefined> {
  const hpkeKeys = new Set<string>()
  const signatureKeys = new Set<string>()
  const credentialTypes = new Set<string>()
  const width = leafWidth(tree.length)
  for (const [i, n] of tree.entries()) {
    const nodeIndex = toNodeIndex(i)
    if (n === undefined) continue
    if (n.nodeType === 'leaf') {
      if (!isLeaf(nodeIndex)) return 'tree not structurally sound'
      const hk = Buffer.from(n.leaf.hpkePublicKey).toString('base64')
      const sk = Buffer.from(n.leaf.signaturePublicKey).toString('base64')
      if (hpkeKeys.has(hk) || signatureKeys.has(sk)) return 'keys not unique'
      hpkeKeys.add(hk)
      signatureKeys.add(sk)
      credentialTypes.add(n.leaf.credential.credentialType)
      if (n.leaf.leafNodeSource === 'key_package') {
        if (!await verifyLeafNodeSignatureKeyPackage(n.leaf, cs.signature)) return 'bad leaf node signature'
        if (!await config.authService.validateCredential(n.leaf.credential, n.leaf.signaturePublicKey)) return 'bad leaf credential'
        if (!extensionsSupportedByCapabilities(n.leaf.extensions, n.leaf.capabilities)) return 'leaf extension not in its capabilities'
      } else {
        const err = await validateLeafNodeUpdateOrCommit(n.leaf, nodeToLeafIndex(nodeIndex), gc, config.authService, cs.signature)
        if (err !== undefined) return err.message
      }
    } else {
      if (isLeaf(nodeIndex)) return 'tree not structurally sound'
      const hk = Buffer.from(n.parent.hpkePublicKey).toString('base64')
      if (hpkeKeys.has(hk)) return 'keys not unique'
      hpkeKeys.add(hk)
      for (const unmerged of n.parent.unmergedLeaves) {
        const leafNode = leafToNodeIndex(toLeafIndex(unmerged))
        const dp = directPath(leafNode, width)
        if (tree[leafNode]?.nodeType !== 'leaf' || !dp.includes(nodeIndex)) return 'unmerged leaf is not a non-blank descendant'
        for (const p of dp) {
          if (p === nodeIndex) break
          const between = tree[p]
          if (between !== undefined && (between.nodeType !== 'parent' || !between.parent.unmergedLeaves.includes(unmerged))) {
            return 'a non-blank node between an unmerged leaf and its ancestor does not list it'
          }
        }
      }
    }
  }
  for (const n of tree) {
    if (n?.nodeType !== 'leaf') continue
    for (const t of credentialTypes) if (!n.leaf.capabilities.credentials.includes(t as 'basic')) return 'credential type not supported by a member'
  }
  const hashes = new Map<number, Uint8Array>()
  if (!await parentHashesCovered(tree, cs, hashes)) return 'parent hashes do not verify'
  if (!bytesEqual(treeHash, await subtreeHash(tree, root(width), cs, hashes))) return 'tree hash does not match the GroupContext'
  return undefined
}

/** RFC 9420 §7.8 tree hash of a subtree, memoized by node index (the tree does not change during validation). */
async function subtreeHash (tree: RatchetTree, index: NodeIndex, cs: CiphersuiteImpl, memo: Map<number, Uint8Array>): Promise<Uint8Array> {
  const known = memo.get(index)
  if (known !== undefined) return known
  let h: Uint8Array
  if (isLeaf(index)) {
    const n = tree[index]
    h = await cs.hash.digest(encode(leafNodeHashInputEncoder)({ nodeType: 'leaf', leafIndex: nodeToLeafIndex(index), leafNode: n?.nodeType === 'leaf' ? n.leaf : undefined }))
  } else {
    const n = tree[index]
    const leftHash = await subtreeHash(tree, left(index), cs, memo)
    const rightHash = await subtreeHash(tree, right(index), cs, memo)
    h = await cs.hash.digest(encode(parentNodeHashInputEncoder)({ nodeType: 'parent', parentNode: n?.nodeType === 'parent' ? n.parent : undefined, leftHash, rightHash }))
  }
  memo.set(index, h)
  return h
}

function leavesUnder (index: NodeIndex): [number, number] {
  // A subtree at level k rooted at x spans leaves [(x - 2^k + 1) / 2, (x + 2^k - 1) / 2].
  let k = 0
  while (((index >> k) & 1) === 1) k++
  const span = (1 << k) - 1
  return [(index - span) / 2, (index + span) / 2]
}

/**
 * RFC 9420 §7.9.2: every non-blank parent node is covered by exactly one parent-hash chain from a leaf. Same walk as
 * ts-mls's verifyParentHashes, with each node's parent hash computed once.
 */
async function parentHashesCovered (tree: RatchetTree, cs: CiphersuiteImpl, memo: Map<number, Uint8Array>): Promise<boolean> {
  const width = leafWidth(tree.length)
  const rootIndex = root(width)
  const parents: number[] = []
  for (const [i, n] of tree.entries()) if (n?.nodeType === 'parent') parents.push(i)
  if (parents.length === 0) return true
  // The parent hash a node's chain expects depends only on its nearest non-blank ancestor P and the sibling subtree
  // S under P: memoize on (P, S), not on the node (all the leaves under S's sibling share it).
  const byAncestor = new Map<string, Uint8Array>()
  const removedTrees = new Map<number, { tree: RatchetTree, memo: Map<number, Uint8Array> }>()
  const parentHashOf = async (nodeIndex: NodeIndex): Promise<[Uint8Array, number | undefined]> => {
    const p = directPath(nodeIndex, width).find(x => tree[x] !== undefined) ?? rootIndex
    const parentNode = tree[p]
    if (p === rootIndex && parentNode === undefined) return [new Uint8Array(0), p]
    if (parentNode?.nodeType !== 'parent') return [new Uint8Array(0), undefined]
    const sibling = nodeIndex < p ? right(toNodeIndex(p)) : left(toNodeIndex(p))
    const key = `${p}:${sibling}`
    let hash = byAncestor.get(key)
    if (hash === undefined) {
      const [lo, hi] = leavesUnder(sibling)
      let siblingHash: Uint8Array
      if (parentNode.parent.unmergedLeaves.some(l => l >= lo && l <= hi)) {
        // The sibling's hash "before" the unmerged leaves were added: on the tree without them (RFC 9420 §7.9.2).
        let removed = removedTrees.get(p)
        if (removed === undefined) removedTrees.set(p, removed = { tree: removeLeaves(tree, parentNode.parent.unmergedLeaves.map(toLeafIndex)), memo: new Map() })
        siblingHash = await subtreeHash(removed.tree, sibling, cs, removed.memo)
      } else {
        siblingHash = await subtreeHash(tree, sibling, cs, memo)
      }
      hash = await cs.hash.digest(encode(parentHashInputEncoder)({ encryptionKey: parentNode.parent.hpkePublicKey, parentHash: parentNode.parent.parentHash, originalSiblingTreeHash: siblingHash }))
      byAncestor.set(key, hash)
    }
    return [hash, p]
  }
  const coverage = new Map<number, number>()
  for (let i = 0; i < tree.length; i += 2) {
    if (tree[i] === undefined) continue
    let current = toNodeIndex(i)
    while (current !== rootIndex) {
      const node = tree[current]
      if (node === undefined) break
      const [hash, parentIndex] = await parentHashOf(current)
      if (parentIndex === undefined) return false
      const expected = node.nodeType === 'parent' ? node.parent.parentHash : node.leaf.leafNodeSource === 'commit' ? node.leaf.parentHash : undefined
      if (expected === undefined || !bytesEqual(hash, expected)) break
      coverage.set(parentIndex, (coverage.get(parentIndex) ?? 0) + 1)
      current = toNodeIndex(parentIndex)
    }
  }
  return parents.every(p => coverage.get(p) === 1)
}
