/**
 * De-MLS: end-to-end encrypted groups co-managed by stewards (logos-lips docs/anoncomms/raw/
 * decentralized-mls-offchain-consensus.md), on ts-mls (RFC 9420), with hashgraph-like voting
 * (consensus-hashgraphlike.md). Transport-independent: a DemlsClient consumes the bytes that arrive on its topics
 * and emits the bytes to publish; src/net/demls-gossipsub runs it over libp2p gossipsub.
 */
export { DemlsClient, topicsFor, toGroupId, DEFAULT_JOIN_RETRY_MS } from './client.ts'
export type { ClientEvents, ClientOptions } from './client.ts'
export { DemlsGroup } from './group.ts'
export type { GroupEvents, GroupOptions, ProposalView, VotePolicy, CommitPolicy, Topic } from './group.ts'
export { defaultGroupConfig, validateGroupConfig, encodeGovernance, decodeGovernance, governanceDigest } from './governance.ts'
export type { GroupConfig, GroupConfigInit, GroupTimers, ConsensusMode, Governance, StewardState, ScoringConfig, ScoreDeltas } from './governance.ts'
export { systemClock, ManualClock } from './clock.ts'
export type { Clock, TimerHandle } from './clock.ts'
export { MemoryStore, SqliteStore } from './store.ts'
export type { DemlsStore } from './store.ts'
export { generateIdentity, identityFromSecret, memberIdOf, signBytes, verifyBytes } from './identity.ts'
export type { Identity } from './identity.ts'
export {
  encodeEnvelope, decodeEnvelope, encodeAppMessage, decodeAppMessage, encodeHeader, encodeCandidateBody,
  decodeCandidateBody, candidateAad, candidateSigningBytes, VIOLATION
} from './messages.ts'
export type {
  Envelope, AppMessage, ProposalHeader, ProposalPayload, ProposalKind, Vote, Certificate, CandidateBody, ViolationType
} from './messages.ts'
export { proposalDigest, computeVoteHash, createVote, verifyVote, verifyVoteChain, tally, VotingSession } from './consensus.ts'
export { generateStewardList, isValidStewardList, stewardSortKey, stewardListSize, coversEpoch, stewardWalk, recoveryWalk } from './steward-list.ts'
export { PeerScores } from './scoring.ts'
export type { ScoreEvent, ScoreChange } from './scoring.ts'
export {
  loadCipherSuite, createKeyPackage, decodeKeyPackage, createMlsGroup, joinMlsGroup, membersOf, epochOf, governanceOf,
  commitProposals, processCommit, encryptApplication, decryptApplication, exportKey, encodeState, decodeState,
  demlsAuthService, demlsCapabilities, decodeMlsBytes, decodeWelcome, governanceExtension, commitAuthenticatedData
} from './mls.ts'
export type { ClientState, CiphersuiteImpl, CryptoProvider, OwnKeyPackage, DecodedKeyPackage, Member } from './mls.ts'
export { sealCandidate, openCandidate, candidateKey, CANDIDATE_EXPORT_LABEL } from './candidate.ts'
export { nativeCryptoProvider } from './native-suite.ts'
export { Reader, Writer } from './codec.ts'
export { toHex, fromHex, bytesEqual, compareBytes, sha256 } from './bytes.ts'
export * from './errors.ts'
export * as demlsConstants from './constants.ts'
