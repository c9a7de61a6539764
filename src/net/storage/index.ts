/**
 * Logos Storage (formerly Codex) as a js-libp2p service: datasets of fixed-size blocks under a SHA-256 Merkle tree,
 * manifests, a persistent block store with quota and TTL, /storage/manifest/1.0.0 and /storage/blockexc/1.0.0,
 * provider announcements (capability discovery or the Kad-DHT), parallel verified resumable downloads.
 */
export { storage, StorageService } from './storage-service.ts'
export type { Storage, StorageComponents, StorageServiceInit, FetchOptions, LocalManifest } from './storage-service.ts'
export { BlockStore } from './block-store.ts'
export type { BlockStoreOptions, StoreSpace, StoredManifest } from './block-store.ts'
export { UploadSession } from './uploader.ts'
export type { UploadOptions, UploadResult } from './uploader.ts'
export type { DownloadProgress, DownloadStats } from './downloader.ts'
export { MerkleTree, verifyProof, reconstructRoot, encodeProof, decodeProof, treeDepth, compress } from './merkle.ts'
export type { MerkleProof } from './merkle.ts'
export { encodeManifest, decodeManifest, manifestCidOf, manifestInfo, blockCount, isValidBlockSize } from './manifest.ts'
export type { Manifest, ManifestInfo } from './manifest.ts'
export { BLOCK_CODEC, MANIFEST_CODEC, TREE_CODEC, SHA256_CODE, cidOf, cidToString, parseCid, sha256 } from './cid.ts'
export {
  FrameReader, frame, encodeControl, decodeControl, encodeWantBlocks, decodeWantBlocks, encodeBlocks, decodeBlocks, toRanges,
  FRAME_CONTROL, FRAME_WANT_BLOCKS, FRAME_BLOCKS, WANT_BLOCK, WANT_HAVE, PRESENCE_DONT_HAVE, PRESENCE_HAVE_RANGE, PRESENCE_COMPLETE
} from './messages.ts'
export type { ControlMessage, WantEntry, BlockPresence, IndexRange, WantBlocksRequest, WantBlocksResponse, DeliveredBlock } from './messages.ts'
export { encodeManifestResponse, STATUS_FOUND, STATUS_NOT_FOUND } from './manifest-protocol.ts'
export { datasetCapability, discoveryRouting, dhtRouting, combinedRouting } from './providers.ts'
export type { Provider, ProviderRouting } from './providers.ts'
export { encodeFolderHeader, decodeFolderHeader, folderHeaderLength, FOLDER_FORMAT, MAX_FOLDER_HEADER_BYTES } from './folder-archive.ts'
export type { FolderIndex } from './folder-archive.ts'
export * from './constants.ts'
export * from './errors.ts'
