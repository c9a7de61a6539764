import { LogosError, registerErrors } from '../../common/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** The storage service has no open block store (not opened yet, or closed). */
export class StorageNotOpenError extends LogosError {
  static readonly code = 'ERR_STORAGE_NOT_OPEN'
  constructor (options: LogosErrorOptions = {}) {
    super(StorageNotOpenError.code, 'the block store is not open', { retryable: true, ...options })
  }
}

/** The block store is already open in another folder. */
export class StorageAlreadyOpenError extends LogosError {
  static readonly code = 'ERR_STORAGE_ALREADY_OPEN'
  constructor (dir: string, options: LogosErrorOptions = {}) {
    super(StorageAlreadyOpenError.code, `the block store is already open at ${dir}`, { ...options, data: { dir } })
  }
}

/** Storing this would take the block store over its quota. */
export class StorageQuotaExceededError extends LogosError {
  static readonly code = 'ERR_STORAGE_QUOTA_EXCEEDED'
  constructor (needed: number, available: number, quota: number, options: LogosErrorOptions = {}) {
    super(StorageQuotaExceededError.code, `needs ${needed} bytes, ${available} of the ${quota}-byte quota free`, { ...options, data: { needed, available, quota } })
  }
}

/** A dataset, manifest or block is not in the local store. */
export class StorageNotFoundError extends LogosError {
  static readonly code = 'ERR_STORAGE_NOT_FOUND'
  constructor (what: string, options: LogosErrorOptions = {}) {
    super(StorageNotFoundError.code, `${what} is not in the local store`, { ...options, data: { what } })
  }
}

/** A CID cannot be parsed, or is not of the kind expected (manifest, tree root, block). */
export class StorageBadCidError extends LogosError {
  static readonly code = 'ERR_STORAGE_BAD_CID'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(StorageBadCidError.code, message, options)
  }
}

/** A manifest cannot be decoded, breaks a rule (block size, sizes, codecs), or does not hash to its CID. */
export class StorageBadManifestError extends LogosError {
  static readonly code = 'ERR_STORAGE_BAD_MANIFEST'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(StorageBadManifestError.code, message, options)
  }
}

/** A block failed verification: its hash, its index or its Merkle proof does not match the tree. */
export class StorageBadBlockError extends LogosError {
  static readonly code = 'ERR_STORAGE_BAD_BLOCK'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(StorageBadBlockError.code, message, options)
  }
}

/** A block exchange or manifest frame broke the wire format or its limits; the stream is dropped. */
export class StorageWireError extends LogosError {
  static readonly code = 'ERR_STORAGE_WIRE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(StorageWireError.code, message, options)
  }
}

/** No provider of a dataset could be found or reached. */
export class StorageNoProvidersError extends LogosError {
  static readonly code = 'ERR_STORAGE_NO_PROVIDERS'
  constructor (cid: string, options: LogosErrorOptions = {}) {
    super(StorageNoProvidersError.code, `no reachable provider of ${cid}`, { retryable: true, ...options, data: { cid } })
  }
}

/** A download got no new block for too long; the blocks it has are kept and a new download resumes from them. */
export class StorageDownloadStalledError extends LogosError {
  static readonly code = 'ERR_STORAGE_DOWNLOAD_STALLED'
  constructor (cid: string, have: number, total: number, options: LogosErrorOptions = {}) {
    super(StorageDownloadStalledError.code, `download of ${cid} stalled at ${have}/${total} blocks`, { retryable: true, ...options, data: { cid, have, total } })
  }
}

/** A download or upload was cancelled. */
export class StorageCancelledError extends LogosError {
  static readonly code = 'ERR_STORAGE_CANCELLED'
  constructor (what: string, options: LogosErrorOptions = {}) {
    super(StorageCancelledError.code, `${what} was cancelled`, options)
  }
}

/** A bounded table (open uploads, running downloads, requests to a peer) is full. */
export class StorageBusyError extends LogosError {
  static readonly code = 'ERR_STORAGE_BUSY'
  constructor (what: string, limit: number, options: LogosErrorOptions = {}) {
    super(StorageBusyError.code, `${what} is full (${limit})`, { retryable: true, ...options, data: { what, limit } })
  }
}

/** An upload id names no open upload (unknown, finalized or cancelled). */
export class StorageUnknownUploadError extends LogosError {
  static readonly code = 'ERR_STORAGE_UNKNOWN_UPLOAD'
  constructor (id: string, options: LogosErrorOptions = {}) {
    super(StorageUnknownUploadError.code, `no open upload ${id}`, { ...options, data: { id } })
  }
}

/** A storage call got parameters it cannot use. */
export class StorageParamsError extends LogosError {
  static readonly code = 'ERR_STORAGE_PARAMS'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(StorageParamsError.code, message, options)
  }
}

/** A request to a peer failed (stream closed, timed out, refused). */
export class StorageRequestError extends LogosError {
  static readonly code = 'ERR_STORAGE_REQUEST'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(StorageRequestError.code, message, { retryable: true, ...options })
  }
}

registerErrors(
  StorageNotOpenError, StorageAlreadyOpenError, StorageQuotaExceededError, StorageNotFoundError, StorageBadCidError,
  StorageBadManifestError, StorageBadBlockError, StorageWireError, StorageNoProvidersError, StorageDownloadStalledError,
  StorageCancelledError, StorageBusyError, StorageUnknownUploadError, StorageParamsError, StorageRequestError
)
