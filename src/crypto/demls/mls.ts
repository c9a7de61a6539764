import {
  createApplicationMessage, createCommit, createGroup, decodeGroupState, decodeMlsMessage, defaultCapabilities,
  defaultLifetime, emptyPskIndex, encodeGroupState, encodeMlsMessage,
  generateKeyPackageWithKey, getCiphersuiteFromName, getCiphersuiteImpl, mlsExporter,
  processMessage
} from 'ts-mls'
import type {
  AuthenticationService, Capabilities, CiphersuiteImpl, CiphersuiteName, ClientConfig, ClientState, Credential,
  CryptoProvider, Extension, IncomingMessageCallback, KeyPackage, MLSMessage, PrivateKeyPackage, Proposal, Welcome
} from 'ts-mls'
import { makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js'
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js'
import { defaultClientConfig } from 'ts-mls/clientConfig.js'
import type { AuthenticatedContent } from 'ts-mls/authenticatedContent.js'
import { bytesEqual, toHex } from './bytes.ts'
import { DEFAULT_CIPHER_SUITE, GOVERNANCE_EXTENSION_TYPE, MEMBER_ID_LENGTH } from './constants.ts'
import { DemlsDecodeError, InvalidKeyPackageError } from './errors.ts'
import { decodeGovernance, encodeGovernance } from './governance.ts'
import type { Governance } from './governance.ts'
import { memberIdOf } from './identity.ts'
import { joinWithWelcome } from './mls-join.ts'
import { nativeCryptoProvider } from './native-suite.ts'
import type { Identity } from './identity.ts'

/**
 * The thin layer over ts-mls (RFC 9420). ts-mls states are immutable values: processing a commit returns a new state
 * and leaves the old one usable, which is what lets a member judge several competing commits against one epoch and
 * roll back to a better one.
 */

export type { ClientState, CiphersuiteImpl, CiphersuiteName, CryptoProvider, KeyPackage, PrivateKeyPackage, Welcome }

/**
 * A cipher suite implementation; by default on Node's own crypto (native-suite.ts) where it covers the suite, and
 * ts-mls's default provider elsewhere. Both interoperate on the wire.
 */
export async function loadCipherSuite (name: string = DEFAULT_CIPHER_SUITE, provider: CryptoProvider = nativeCryptoProvider): Promise<CiphersuiteImpl> {
  return await getCiphersuiteImpl(getCiphersuiteFromName(name as CiphersuiteName), provider)
}

/**
 * The authentication service (RFC 9420 §5.3.1): a basic credential's identity must be the member id of the leaf's
 * signature key, so member ids cannot be claimed by anyone else.
 */
export const demlsAuthService: AuthenticationService = {
  async validateCredential (credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    return credential.credentialType === 'basic' && bytesEqual(credential.identity, memberIdOf(signaturePublicKey))
  }
}

export const demlsClientConfig: ClientConfig = { ...defaultClientConfig, authService: demlsAuthService }

export function demlsCapabilities (): Capabilities {
  const caps = defaultCapabilities()
  return { ...caps, extensions: [...caps.extensions, GOVERNANCE_EXTENSION_TYPE] }
}

export interface OwnKeyPackage {
  publicPackage: KeyPackage
  privatePackage: PrivateKeyPackage
  /** The MLSMessage encoding, as published on the welcome topic. */
  encoded: Uint8Array
  ref: Uint8Array
}

export async function createKeyPackage (identity: Identity, cs: CiphersuiteImpl): Promise<OwnKeyPackage> {
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    { credentialType: 'basic', identity: identity.memberId }, demlsCapabilities(), defaultLifetime, [],
    { signKey: identity.secretKey, publicKey: identity.publicKey }, cs
  )
  const encoded = encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage })
  return { publicPackage, privatePackage, encoded, ref: await makeKeyPackageRef(publicPackage, cs.hash) }
}

export interface DecodedKeyPackage {
  keyPackage: KeyPackage
  memberId: Uint8Array
  ref: Uint8Array
}

/** Decodes and checks a published key package: suite, self-signature, and credential bound to its key. */
export async function decodeKeyPackage (bytes: Uint8Array, cs: CiphersuiteImpl): Promise<DecodedKeyPackage> {
  const msg = decodeMlsBytes(bytes)
  if (msg.wireformat !== 'mls_key_package') throw new InvalidKeyPackageError('not a key package')
  const kp = msg.keyPackage
  if (kp.cipherSuite !== cs.name) throw new InvalidKeyPackageError(`key package suite ${kp.cipherSuite} is not the group's ${cs.name}`)
  if (!await verifyKeyPackage(kp, cs.signature)) throw new InvalidKeyPackageError('bad key package signature')
  const cred = kp.leafNode.credential
  if (cred.credentialType !== 'basic' || cred.identity.length !== MEMBER_ID_LENGTH || !await demlsAuthService.validateCredential(cred, kp.leafNode.signaturePublicKey)) {
    throw new InvalidKeyPackageError('credential does not match the signature key')
  }
  if (!kp.leafNode.capabilities.extensions.includes(GOVERNANCE_EXTENSION_TYPE)) throw new InvalidKeyPackageError('key package does not support the De-MLS governance extension')
  return { keyPackage: kp, memberId: cred.identity, ref: await makeKeyPackageRef(kp, cs.hash) }
}

export function decodeMlsBytes (bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined
  try {
    decoded = decodeMlsMessage(bytes, 0)
  } catch (err) {
    throw new DemlsDecodeError('malformed MLS message', { cause: err })
  }
  if (decoded === undefined || decoded[1] !== bytes.length) throw new DemlsDecodeError('malformed MLS message')
  return decoded[0]
}

export function governanceExtension (g: Governance): Extension {
  return { extensionType: GOVERNANCE_EXTENSION_TYPE, extensionData: encodeGovernance(g) }
}

export function readGovernance (extensions: readonly Extension[]): Governance | undefined {
  const ext = extensions.find(e => e.extensionType === GOVERNANCE_EXTENSION_TYPE)
  return ext === undefined ? undefined : decodeGovernance(ext.extensionData)
}

export async function createMlsGroup (groupId: Uint8Array, own: OwnKeyPackage, governance: Governance, cs: CiphersuiteImpl): Promise<ClientState> {
  return await createGroup(groupId, own.publicPackage, own.privatePackage, [governanceExtension(governance)], cs, demlsClientConfig)
}

/** Joins from a Welcome; returns the state and the governance the committer put in the GroupInfo. */
export async function joinMlsGroup (welcome: Welcome, own: OwnKeyPackage, cs: CiphersuiteImpl): Promise<{ state: ClientState, governance: Governance }> {
  const [state, extensions] = await joinWithWelcome(welcome, own.publicPackage, own.privatePackage, cs, demlsClientConfig)
  return { state, governance: readGovernance(extensions) ?? governanceOf(state) }
}

export interface Member {
  leafIndex: number
  memberId: Uint8Array
  publicKey: Uint8Array
}

/** The group's members in leaf order. */
export function membersOf (state: ClientState): Member[] {
  const out: Member[] = []
  const tree = state.ratchetTree
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i]
    if (node?.nodeType !== 'leaf') continue
    const cred = node.leaf.credential
    if (cred.credentialType !== 'basic') continue
    out.push({ leafIndex: i / 2, memberId: cred.identity, publicKey: node.leaf.signaturePublicKey })
  }
  return out
}

export function ownLeafIndex (state: ClientState): number {
  return state.privatePath.leafIndex
}

export function epochOf (state: ClientState): number {
  return Number(state.groupContext.epoch)
}

export function governanceOf (state: ClientState): Governance {
  const g = readGovernance(state.groupContext.extensions)
  if (g === undefined) throw new DemlsDecodeError('the group has no De-MLS governance extension')
  return g
}

export function epochAuthenticator (state: ClientState): Uint8Array {
  return state.keySchedule.epochAuthenticator
}

export async function exportKey (state: ClientState, label: string, context: Uint8Array, length: number, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return await mlsExporter(state.keySchedule.exporterSecret, label, context, length, cs)
}

export interface CommitOutput {
  state: ClientState
  commit: Uint8Array
  welcome: Uint8Array | undefined
}

/**
 * A commit of the given proposals by value, as a PublicMessage, with the ratchet tree in the Welcome. The
 * authenticated data goes into the MLS transcript; the GroupInfo extensions reach joiners only (encrypted).
 */
export async function commitProposals (state: ClientState, proposals: Proposal[], cs: CiphersuiteImpl, authenticatedData?: Uint8Array, groupInfoExtensions?: Extension[]): Promise<CommitOutput> {
  const r = await createCommit({ state, cipherSuite: cs }, { extraProposals: proposals, wireAsPublicMessage: true, ratchetTreeExtension: true, authenticatedData, groupInfoExtensions })
  return {
    state: r.newState,
    commit: encodeMlsMessage(r.commit),
    welcome: r.welcome === undefined ? undefined : encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome })
  }
}

/** The authenticated data of a commit (a PublicMessage), read without processing it. */
export function commitAuthenticatedData (commit: Uint8Array): Uint8Array {
  const msg = decodeMlsBytes(commit)
  if (msg.wireformat !== 'mls_public_message' || msg.publicMessage.content.contentType !== 'commit') throw new DemlsDecodeError('not a commit')
  return msg.publicMessage.content.authenticatedData
}

export interface ProcessedCommit {
  state: ClientState
  senderLeafIndex: number | undefined
  proposals: Proposal[]
}

/**
 * Applies a commit to `state` (which stays valid), letting `check` see the committer and the proposals first and
 * refuse them. Throws on any MLS failure or refusal.
 */
export async function processCommit (state: ClientState, commit: Uint8Array, cs: CiphersuiteImpl, check?: (senderLeafIndex: number | undefined, proposals: Proposal[]) => string | undefined): Promise<ProcessedCommit> {
  const msg = decodeMlsBytes(commit)
  if (msg.wireformat !== 'mls_public_message') throw new DemlsDecodeError('a commit must be an MLS PublicMessage')
  if (msg.publicMessage.content.contentType !== 'commit') throw new DemlsDecodeError('not a commit')
  let seen: { sender: number | undefined, proposals: Proposal[] } | undefined
  let refusal: string | undefined
  const callback: IncomingMessageCallback = (incoming) => {
    if (incoming.kind !== 'commit') return 'reject'
    const proposals = incoming.proposals.map(p => p.proposal)
    seen = { sender: incoming.senderLeafIndex, proposals }
    refusal = check?.(incoming.senderLeafIndex, proposals)
    return refusal === undefined ? 'accept' : 'reject'
  }
  const result = await processMessage(msg, state, emptyPskIndex, callback, cs)
  if (refusal !== undefined) throw new Error(refusal)
  if (result.kind !== 'newState' || result.actionTaken !== 'accept' || seen === undefined) throw new Error('commit not applied')
  return { state: result.newState, senderLeafIndex: seen.sender, proposals: seen.proposals }
}

export async function encryptApplication (state: ClientState, data: Uint8Array, cs: CiphersuiteImpl): Promise<{ state: ClientState, message: Uint8Array }> {
  const r = await createApplicationMessage(state, data, cs)
  return { state: r.newState, message: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: r.privateMessage }) }
}

export interface DecryptedApplication {
  state: ClientState
  data: Uint8Array
  senderLeafIndex: number
}

/**
 * Decrypts an application message of the current epoch or of a recent one (ts-mls keeps receiver data for a few
 * epochs). Handshake messages are refused: commits travel in candidates. This follows ts-mls's processPrivateMessage
 * but keeps the sender's leaf index, which ts-mls does not return for application data.
 */
export async function decryptApplication (state: ClientState, message: Uint8Array, cs: CiphersuiteImpl): Promise<DecryptedApplication> {
  const msg = decodeMlsBytes(message)
  if (msg.wireformat !== 'mls_private_message') throw new DemlsDecodeError('expected an MLS PrivateMessage')
  const pm = msg.privateMessage
  if (pm.contentType !== 'application') throw new DemlsDecodeError('only application messages travel as PrivateMessages')
  const config = state.clientConfig.keyRetentionConfig
  if (pm.epoch < state.groupContext.epoch) {
    const rd = state.historicalReceiverData.get(pm.epoch)
    if (rd === undefined) throw new DemlsDecodeError('message from an epoch whose keys are gone')
    const r = await unprotectPrivateMessage(rd.senderDataSecret, pm, rd.secretTree, rd.ratchetTree, rd.groupContext, config, cs)
    const historical = new Map(state.historicalReceiverData)
    historical.set(pm.epoch, { ...rd, secretTree: r.tree })
    return finishApplication({ ...state, historicalReceiverData: historical }, r.content)
  }
  if (pm.epoch > state.groupContext.epoch) throw new DemlsDecodeError('message from a future epoch')
  const r = await unprotectPrivateMessage(state.keySchedule.senderDataSecret, pm, state.secretTree, state.ratchetTree, state.groupContext, config, cs)
  return finishApplication({ ...state, secretTree: r.tree }, r.content)
}

function finishApplication (state: ClientState, content: AuthenticatedContent): DecryptedApplication {
  if (content.content.contentType !== 'application' || content.content.sender.senderType !== 'member') throw new DemlsDecodeError('not a member application message')
  return { state, data: content.content.applicationData, senderLeafIndex: content.content.sender.leafIndex }
}

export function decodeWelcome (bytes: Uint8Array): Welcome {
  const msg = decodeMlsBytes(bytes)
  if (msg.wireformat !== 'mls_welcome') throw new DemlsDecodeError('not an MLS Welcome')
  return msg.welcome
}

export function encodeState (state: ClientState): Uint8Array {
  return encodeGroupState(state)
}

export function decodeState (bytes: Uint8Array): ClientState {
  const decoded = decodeGroupState(bytes, 0)
  if (decoded === undefined) throw new DemlsDecodeError('malformed stored MLS state')
  return { ...decoded[0], clientConfig: demlsClientConfig }
}

export function memberById (state: ClientState, memberId: Uint8Array): Member | undefined {
  return membersOf(state).find(m => bytesEqual(m.memberId, memberId))
}

export function memberKeyMap (state: ClientState): Map<string, Member> {
  const m = new Map<string, Member>()
  for (const member of membersOf(state)) m.set(toHex(member.publicKey), member)
  return m
}
