/** Every default of the storage module, with why. */

/** Bytes per storageUploadChunk call when uploading bytes or a file: large enough to amortise a call, small enough to stream. */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024

/** Bytes per storageRead call when downloading: the network module's read cap (4 MiB). */
export const READ_CHUNK_BYTES = 4 * 1024 * 1024

/** A download returned as bytes (no path) is refused above this: larger datasets go to a file. */
export const MAX_DOWNLOAD_BYTES_IN_MEMORY = 256 * 1024 * 1024

/** Uploads through uploadInit/uploadChunk that the module tracks at once (the service has its own bound). */
export const MAX_TRACKED_UPLOADS = 64

/** Downloads the module tracks (for downloadCancel) at once. */
export const MAX_TRACKED_DOWNLOADS = 64

/** Deadline of a call into the network module that waits on the network: downloads end by themselves when they stall. */
export const LONG_CALL_MS = 24 * 60 * 60 * 1000
