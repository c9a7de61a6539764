/**
 * Capability (service) discovery, LOGOS-SERVICE-DISCOVERY (DISC-NG on Kad-DHT), as a js-libp2p service and as
 * transport-free protocol classes that the simulator drives too.
 */
export { capabilityDiscovery, CapabilityDiscoveryService } from './capability-discovery.ts'
export type {
  CapabilityDiscovery, CapabilityDiscoveryComponents, CapabilityDiscoveryEvents, CapabilityDiscoveryInit, FindProvidersOptions,
  ServiceProvider
} from './capability-discovery.ts'
export { DiscoveryNode } from './discovery-node.ts'
export type { DiscoveryNodeInit } from './discovery-node.ts'
export { Registrar } from './registrar.ts'
export type { RegistrarInit, RegistrarStats, RequestContext } from './registrar.ts'
export { Advertiser } from './advertiser.ts'
export type { AdvertiserInit, AdvertisementState } from './advertiser.ts'
export { Discoverer } from './discoverer.ts'
export type { DiscovererInit, FoundProvider, LookupOptions, LookupResult } from './discoverer.ts'
export { AdCache } from './ad-cache.ts'
export type { CachedAd, PutResult } from './ad-cache.ts'
export { IpTree, ipBytes } from './ip-tree.ts'
export { LowerBounds, baseWaitingTime, MAX_WAIT_S } from './waiting-time.ts'
export type { WaitingTimeParams } from './waiting-time.ts'
export { RoutingTable, LruMap } from './routing-table.ts'
export type { PeerRef, Random } from './routing-table.ts'
export { serviceIdOf, peerKeyOf, bucketIndex, commonPrefixLength, compareDistance, toHex, bytesEqual } from './keyspace.ts'
export type { Key } from './keyspace.ts'
export {
  MessageType, NimMessageType, RegistrationStatus, encodeMessage, decodeMessage, messageKind
} from './message.ts'
export type { DiscoveryMessage, RegisterPart, Ticket, WirePeer, MessageKind, RegistrationStatusCode } from './message.ts'
export { validateTicket, ticketSigningBytes, TicketKey } from './ticket.ts'
export type { UnsignedTicket } from './ticket.ts'
export {
  sealAdvertisement, openAdvertisement, advertisesService, encodeXpr, decodeXpr, AdvertisementVerifier, checkServiceData
} from './xpr.ts'
export type { Advertisement, ExtensiblePeerRecord, ServiceInfo } from './xpr.ts'
export { peerFromWire, peerIdStringOf, multihashFromBytes } from './peers.ts'
export { resolveParams, DEFAULT_PARAMS } from './params.ts'
export type { DiscoveryParams } from './params.ts'
export { systemClock } from './transport.ts'
export type { Clock, DiscoveryTransport } from './transport.ts'
export * from './constants.ts'
export * from './errors.ts'
