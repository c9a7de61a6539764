/**
 * Where repository files come from. A source only moves bytes: it is never trusted. Everything it delivers is checked
 * above it (TUF metadata by signatures, versions and expiry; manifests by their signed target hashes; chunks by their
 * SHA-256 names), so a new kind of source needs no security review of its own.
 *
 * A repository is a tree of files addressed by relative paths:
 *   metadata/<n>.root.json, metadata/timestamp.json, metadata/<n>.snapshot.json, metadata/<n>.targets.json
 *   targets/<sha256>.index.json, targets/packages/<name>/<sha256>.<version>.json
 *   chunks/<first two hex digits>/<sha256>
 * To add a kind of source (a peer-to-peer Storage module, say), implement `PackageSource` and register a factory for
 * its URL scheme with `registerSourceKind`; nothing else changes. Chunks are named by their hash, so a content-
 * addressed store can serve `chunks/..` paths straight from its own index.
 */
export interface SourceReadOptions {
  /** The most bytes the caller will accept; the caller stops reading (and refuses the file) past it. */
  maxBytes: number
  /** Resume: start at this byte when the source can; `SourceRead.offset` says where it really starts. */
  offset?: number
  signal?: AbortSignal
}

export interface SourceRead {
  /** The position in the file of the first byte of `body`: the asked offset when the source resumed, else 0. */
  offset: number
  body: AsyncIterable<Uint8Array>
}

export interface PackageSource {
  /** "folder", "http", "git", ... */
  readonly kind: string
  /** The address it was opened with, for messages. */
  readonly url: string
  /**
   * Opens one file of the repository. Throws SourceNotFoundError when the file does not exist there, FetchFailedError
   * (retryable) when it could not be reached.
   */
  read: (path: string, options: SourceReadOptions) => Promise<SourceRead>
  /** Releases what it holds (processes, sockets); reads after close fail. */
  close: () => Promise<void>
}

export interface SourceOptions {
  /** A folder the source may use for caches (a git clone, say); each source takes a sub-folder of its own. */
  cacheDir: string
}

export type SourceFactory = (url: string, options: SourceOptions) => PackageSource
