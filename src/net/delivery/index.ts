/**
 * @packageDocumentation
 *
 * Logos Delivery (Waku v2) protocols as js-libp2p services: relay (gossipsub on /vac/waku/relay/2.0.0 with Waku's
 * parameters, unsigned messages, asynchronous validation), store v3 (/vac/waku/store-query/3.0.0, an archive on
 * node:sqlite), lightpush v3 (/vac/waku/lightpush/3.0.0), the WakuMessage and RateLimitProof wire formats, message
 * hashing, autosharding, and RLN relay validation over a pluggable verifier.
 *
 * ```ts
 * const node = await createLibp2p({ ..., services: { relay: wakuRelay(), store: wakuStore({ path }), lightpush: wakuLightpush() } })
 * const rln = rlnRelayOver(await Rln.create({ ... }))
 * node.services.relay.setValidator('*', async (m) => { await validateRlnMessage(m.message!, rln); return 'accept' })
 * ```
 * See docs/delivery.md.
 */
export * from './constants.ts'
export * from './errors.ts'
export { ProtoReader, ProtoWriter } from './protobuf.ts'
export type { ProtoField } from './protobuf.ts'
export { encodeWakuMessage, decodeWakuMessage, checkWakuMessage, messageHash, rlnSignal, hashHex, nsFromMs } from './message.ts'
export type { WakuMessage } from './message.ts'
export { parseContentTopic, shardOf, pubsubTopic, parsePubsubTopic, isShardTopic, autoshard } from './sharding.ts'
export type { ContentTopic } from './sharding.ts'
export { encodeRateLimitProof, decodeRateLimitProof, proofEpoch, toZerokitProof, fromZerokitProof } from './rate-limit-proof.ts'
export type { WakuRateLimitProof } from './rate-limit-proof.ts'
export { validateRlnMessage, proveRlnMessage, relayVerdict, rlnRelayOver, rlnIdentifierOf, epochOfTimestamp } from './rln-relay.ts'
export type { RlnRelayParams, RlnRelayVerifier, RlnRelayProver, ValidateOptions, ValidatedProof } from './rln-relay.ts'
export { writeFrame, readFrame, sendRequest, serveRequest } from './request-response.ts'
export type { StreamOpener, RequestOptions, RequestHandler } from './request-response.ts'
export { WakuRelay, wakuRelay } from './relay.ts'
export type { RelayVerdict, RelayedMessage, RelayValidator, RelayRejection, WakuRelayEvents, WakuRelayInit, RelayStats } from './relay.ts'
export { MessageArchive } from './archive.ts'
export type { ArchiveOptions, ArchiveQuery, ArchivedMessage, ArchivePage } from './archive.ts'
export {
  STORE_STATUS, encodeStoreQueryRequest, decodeStoreQueryRequest, encodeStoreQueryResponse, decodeStoreQueryResponse
} from './store-codec.ts'
export type { StoreQueryRequest, StoreQueryResponse, StoreEntry } from './store-codec.ts'
export { answerStoreQuery, handleStoreRequest, storeQuery, readStoreResponse, queryStorePeer, WakuStore, wakuStore } from './store.ts'
export type { WakuStoreInit, WakuStoreComponents } from './store.ts'
export {
  LIGHTPUSH_STATUS, encodeLightPushRequest, decodeLightPushRequest, encodeLightPushResponse, decodeLightPushResponse,
  handleLightpushRequest, readLightPushResponse, lightpushStatusOf, pushTo, WakuLightpush, wakuLightpush
} from './lightpush.ts'
export type { LightPushRequest, LightPushResponse, LightpushPush, WakuLightpushInit, WakuLightpushComponents } from './lightpush.ts'
export {
  MEMBERSHIP_TOPIC, MEMBERSHIP_VERSION, MAX_SNAPSHOT_MEMBERS, MAX_EVIDENCE_BYTES, encodeSnapshot, encodeJoin,
  encodeSlashing, decodeMembership, generateRegistrarKey, registrarPublicKey
} from './membership.ts'
export type { MembershipMessage, SnapshotMember } from './membership.ts'
