import { LogosError, registerErrors } from '../../sdk/index.ts'
import type { LogosErrorOptions } from '../../common/index.ts'

/** A package manifest (or archive) is malformed: a field is missing, of the wrong type, or inconsistent. */
export class BadPackageError extends LogosError {
  static readonly code = 'ERR_PKG_BAD_PACKAGE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(BadPackageError.code, message, options)
  }
}

/** A file name in a package would escape its folder or is not a plain relative path (path traversal). */
export class UnsafePathError extends LogosError {
  static readonly code = 'ERR_PKG_UNSAFE_PATH'
  constructor (path: string, reason: string, options: LogosErrorOptions = {}) {
    super(UnsafePathError.code, `unsafe file name ${JSON.stringify(path)} in package: ${reason}`, { ...options, data: { path, reason, ...options.data } })
  }
}

/** A size a package declares disagrees with its parts (a manifest lying about its size), or exceeds a bound. */
export class SizeMismatchError extends LogosError {
  static readonly code = 'ERR_PKG_SIZE_MISMATCH'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(SizeMismatchError.code, message, options)
  }
}

/** A chunk's bytes do not hash to the name its manifest gives it (tampered chunk). */
export class ChunkHashMismatchError extends LogosError {
  static readonly code = 'ERR_PKG_CHUNK_MISMATCH'
  constructor (expected: string, actual: string, options: LogosErrorOptions = {}) {
    super(ChunkHashMismatchError.code, `chunk ${expected} has the wrong content (its bytes hash to ${actual})`, { ...options, data: { expected, actual, ...options.data } })
  }
}

/** A file assembled from verified chunks, or an installed file, does not match its manifest hash. */
export class FileHashMismatchError extends LogosError {
  static readonly code = 'ERR_PKG_FILE_MISMATCH'
  constructor (path: string, expected: string, actual: string, options: LogosErrorOptions = {}) {
    super(FileHashMismatchError.code, `file ${path} hashes to ${actual}, its manifest says ${expected}`, { ...options, data: { path, expected, actual, ...options.data } })
  }
}

/** A download went on past the length its signed metadata allows (endless-data attack). */
export class EndlessDataError extends LogosError {
  static readonly code = 'ERR_PKG_ENDLESS_DATA'
  constructor (what: string, limit: number, options: LogosErrorOptions = {}) {
    super(EndlessDataError.code, `${what} sent more than the ${limit} bytes allowed`, { ...options, data: { what, limit, ...options.data } })
  }
}

/** A package's manifest is not the one its repository's signed targets metadata names (arbitrary package). */
export class TargetMismatchError extends LogosError {
  static readonly code = 'ERR_PKG_TARGET_MISMATCH'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(TargetMismatchError.code, message, options)
  }
}

/** Repository metadata is not signed by a threshold of the keys the trusted root names (wrong signer). */
export class BadSignatureError extends LogosError {
  static readonly code = 'ERR_PKG_BAD_SIGNATURE'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(BadSignatureError.code, message, options)
  }
}

/** The repository offered metadata older than what this client already trusts (rollback attack). */
export class RollbackAttackError extends LogosError {
  static readonly code = 'ERR_PKG_ROLLBACK_ATTACK'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RollbackAttackError.code, message, options)
  }
}

/** The newest metadata the repository offers has expired (freeze attack, or a repository nobody re-signs). */
export class MetadataExpiredError extends LogosError {
  static readonly code = 'ERR_PKG_METADATA_EXPIRED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(MetadataExpiredError.code, message, options)
  }
}

/** Metadata files of different repository versions were served together (mix-and-match attack). */
export class MixAndMatchError extends LogosError {
  static readonly code = 'ERR_PKG_MIX_AND_MATCH'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(MixAndMatchError.code, message, options)
  }
}

/** The repository's metadata is invalid in another way (malformed, missing a role, ...). */
export class RepositoryError extends LogosError {
  static readonly code = 'ERR_PKG_REPOSITORY'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RepositoryError.code, message, options)
  }
}

/** A source could not deliver a file (network error, HTTP status, git failure); a retry may help. */
export class FetchFailedError extends LogosError {
  static readonly code = 'ERR_PKG_FETCH_FAILED'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(FetchFailedError.code, message, { retryable: true, ...options })
  }
}

/** A source does not have the file asked for. */
export class SourceNotFoundError extends LogosError {
  static readonly code = 'ERR_PKG_SOURCE_NOT_FOUND'
  constructor (path: string, source: string, options: LogosErrorOptions = {}) {
    super(SourceNotFoundError.code, `${source} has no ${path}`, { ...options, data: { path, source, ...options.data } })
  }
}

/** A repository address names no kind of source this node knows (folder, http(s), git). */
export class UnsupportedSourceError extends LogosError {
  static readonly code = 'ERR_PKG_UNSUPPORTED_SOURCE'
  constructor (url: string, options: LogosErrorOptions = {}) {
    super(UnsupportedSourceError.code, `no source handles ${url} (use a folder path, http(s)://, git+file://, git+http(s):// or git://)`, { ...options, data: { url, ...options.data } })
  }
}

/** No repository has a package of this name (or the asked version). */
export class PackageNotFoundError extends LogosError {
  static readonly code = 'ERR_PKG_NOT_FOUND'
  constructor (name: string, range?: string, options: LogosErrorOptions = {}) {
    super(PackageNotFoundError.code, range === undefined ? `no package named ${name}` : `no version of ${name} matches ${range}`, { ...options, data: { name, range, ...options.data } })
  }
}

/** The requested packages cannot all be installed together; `data.explanation` names the conflicting requirements. */
export class UnsatisfiableError extends LogosError {
  static readonly code = 'ERR_PKG_UNSATISFIABLE'
  constructor (explanation: string, options: LogosErrorOptions = {}) {
    super(UnsatisfiableError.code, `no set of versions satisfies the requirements:\n${explanation}`, { ...options, data: { explanation, ...options.data } })
  }
}

/** The chosen packages depend on each other in a cycle, which the kernel cannot start. */
export class DependencyCycleError extends LogosError {
  static readonly code = 'ERR_PKG_DEPENDENCY_CYCLE'
  constructor (cycle: string[], options: LogosErrorOptions = {}) {
    super(DependencyCycleError.code, `dependency cycle: ${cycle.join(' -> ')}`, { ...options, data: { cycle, ...options.data } })
  }
}

/** The package is not installed. */
export class NotInstalledError extends LogosError {
  static readonly code = 'ERR_PKG_NOT_INSTALLED'
  constructor (name: string, options: LogosErrorOptions = {}) {
    super(NotInstalledError.code, `${name} is not installed`, { ...options, data: { name, ...options.data } })
  }
}

/** A rollback was asked for a package that has no previous version kept, or whose previous version breaks others. */
export class RollbackUnavailableError extends LogosError {
  static readonly code = 'ERR_PKG_NO_ROLLBACK'
  constructor (name: string, reason: string, options: LogosErrorOptions = {}) {
    super(RollbackUnavailableError.code, `cannot roll ${name} back: ${reason}`, { ...options, data: { name, reason, ...options.data } })
  }
}

/** Other installed packages depend on the one to remove. */
export class RequiredByError extends LogosError {
  static readonly code = 'ERR_PKG_REQUIRED'
  constructor (name: string, dependents: string[], options: LogosErrorOptions = {}) {
    super(RequiredByError.code, `${name} is required by ${dependents.join(', ')}`, { ...options, data: { name, dependents, ...options.data } })
  }
}

/** Another process is changing the installation right now. */
export class InstallLockedError extends LogosError {
  static readonly code = 'ERR_PKG_LOCKED'
  constructor (pid: number, options: LogosErrorOptions = {}) {
    super(InstallLockedError.code, `another package manager (pid ${pid}) is changing the installation`, { retryable: true, ...options, data: { pid, ...options.data } })
  }
}

/** A repository is not configured, or its trust anchor (root.json) is missing or malformed. */
export class RepositoryConfigError extends LogosError {
  static readonly code = 'ERR_PKG_REPOSITORY_CONFIG'
  constructor (message: string, options: LogosErrorOptions = {}) {
    super(RepositoryConfigError.code, message, options)
  }
}

registerErrors(
  BadPackageError, UnsafePathError, SizeMismatchError, ChunkHashMismatchError, FileHashMismatchError, EndlessDataError,
  TargetMismatchError, BadSignatureError, RollbackAttackError, MetadataExpiredError, MixAndMatchError, RepositoryError,
  FetchFailedError, SourceNotFoundError, UnsupportedSourceError, PackageNotFoundError, UnsatisfiableError,
  DependencyCycleError, NotInstalledError, RollbackUnavailableError, RequiredByError, InstallLockedError,
  RepositoryConfigError
)
