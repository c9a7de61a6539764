import { createRequire } from 'node:module'
import { LogosError } from '../../common/index.ts'
import {
  BadSignatureError, EndlessDataError, MetadataExpiredError, MixAndMatchError, RepositoryError, RollbackAttackError
} from './errors.ts'

/** An error class tuf-js throws: a constructor whose instances are Errors. */
type ErrorClass = abstract new (...args: never[]) => Error

/** The error classes of tuf-js (and of the @tufjs/models it verifies with) that the package manager looks for. */
export interface TufErrorClasses {
  /** Thrown by a fetcher for an HTTP status; 403/404 ends tuf-js's walk through root versions (TUF 5.3.3). */
  DownloadHTTPError?: new (message: string, statusCode: number) => Error
  DownloadLengthMismatchError?: ErrorClass
  /** Metadata whose version goes back, or does not match what the timestamp or snapshot names. */
  BadVersionError?: ErrorClass
  /** Expired root, timestamp, snapshot or targets (freeze). */
  ExpiredMetadataError?: ErrorClass
  /** @tufjs/models: fewer valid signatures than the role's threshold. */
  UnsignedMetadataError?: ErrorClass
  /** @tufjs/models: bytes whose length or hash differs from the signed metadata. */
  LengthOrHashMismatchError?: ErrorClass
}

function errorModule (require: NodeJS.Require, entry: string): Record<string, unknown> {
  try {
    // The module the entry's own files load as './error': the very classes they throw.
    return createRequire(require.resolve(entry))('./error') as Record<string, unknown>
  } catch {
    return {}
  }
}

function loadTufErrorClasses (): TufErrorClasses {
  const pick = (mod: Record<string, unknown>, name: string): ErrorClass | undefined => {
    const value = mod[name]
    return typeof value === 'function' && value.prototype instanceof Error ? value as ErrorClass : undefined
  }
  let tuf: Record<string, unknown> = {}
  let models: Record<string, unknown> = {}
  try {
    const ours = createRequire(import.meta.url)
    tuf = errorModule(ours, 'tuf-js')
    // @tufjs/models as tuf-js itself resolves it (the copy whose classes it throws).
    models = errorModule(createRequire(ours.resolve('tuf-js')), '@tufjs/models')
  } catch {
    // not resolvable: every class stays undefined and classification falls back to messages
  }
  return {
    DownloadHTTPError: pick(tuf, 'DownloadHTTPError') as TufErrorClasses['DownloadHTTPError'],
    DownloadLengthMismatchError: pick(tuf, 'DownloadLengthMismatchError'),
    BadVersionError: pick(tuf, 'BadVersionError'),
    ExpiredMetadataError: pick(tuf, 'ExpiredMetadataError'),
    UnsignedMetadataError: pick(models, 'UnsignedMetadataError'),
    LengthOrHashMismatchError: pick(models, 'LengthOrHashMismatchError')
  }
}

/**
 * tuf-js 5 exports no error classes from its entry point (only Updater, BaseFetcher and TargetFile), nor does
 * @tufjs/models (only ValueError). Its failures still come as classes, and a fetcher must throw its DownloadHTTPError
 * for a missing root version, so they are loaded the way tuf-js's own files load them: `./error` beside its entry
 * (and beside the entry of the @tufjs/models it resolves), hence the same module instance and `instanceof` works. If a
 * tuf-js release moves or renames them, a class is undefined here: checks against it are false and classification
 * falls back to the message, then to RepositoryError; a refusal is never turned into an acceptance. The package
 * manager's tests check that every class is found and that each attack gets its code.
 */
export const tufErrorClasses: TufErrorClasses = loadTufErrorClasses()

function is (err: unknown, cls: ErrorClass | undefined): boolean {
  return cls !== undefined && err instanceof cls
}

/** The error to throw from a Fetcher for a missing file: the class tuf-js checks to end its root walk. */
export function tufNotFound (message: string): Error {
  const Cls = tufErrorClasses.DownloadHTTPError
  if (Cls !== undefined) return new Cls(message, 404)
  // Without the class tuf-js cannot tell "no newer root" from a failure: the refresh fails, loudly and safely.
  return new RepositoryError(`${message} (tuf-js's DownloadHTTPError not found: unsupported tuf-js version)`)
}

/** Version messages of tuf-js that mean "not the version the timestamp or snapshot names" rather than "older". */
const MISMATCH = /does not match snapshot version|doesn't match timestamp/i

function rollback (message: string, cause: unknown): LogosError {
  return new RollbackAttackError(`repository offered older metadata than already trusted (rollback attack): ${message}`, { cause })
}

function mixAndMatch (message: string, cause: unknown): LogosError {
  return new MixAndMatchError(`repository metadata files do not belong together (mix-and-match attack): ${message}`, { cause })
}

/** Root: "Expected version N, got M": M below N goes back (rollback); above, it skips versions (not a chain). */
function rootVersion (message: string, cause: unknown): LogosError | undefined {
  const m = /Expected version (\d+), got (\d+)/.exec(message)
  if (m === null) return undefined
  return Number(m[2]) < Number(m[1]) ? rollback(message, cause) : mixAndMatch(message, cause)
}

/** The text of whatever was thrown; never throws itself (an object without toString, a throwing getter). */
function describe (err: unknown): string {
  try {
    return err instanceof Error ? String(err.message) : String(err)
  } catch {
    return 'an error that cannot be printed'
  }
}

/**
 * Turns a tuf-js failure into our typed error: by its class where tuf-js keeps it (root and timestamp failures), by
 * its message where tuf-js folds it into a RuntimeError (snapshot and targets: "Unable to load ... error <cause>"),
 * and as RepositoryError when neither says more. Every outcome is a refusal.
 */
export function classifyTufError (err: unknown, lastFetchError?: Error): LogosError {
  if (err instanceof LogosError) return err
  const message = describe(err)
  // Our fetcher's own typed error (endless data, a failed fetch), which tuf-js may have folded into a message.
  if (lastFetchError instanceof LogosError && message.includes(lastFetchError.message)) return lastFetchError
  const options = { cause: err }
  const c = tufErrorClasses
  if (is(err, c.ExpiredMetadataError)) return new MetadataExpiredError(`repository metadata has expired (freeze attack or stale repository): ${message}`, options)
  if (is(err, c.BadVersionError)) return rootVersion(message, err) ?? (MISMATCH.test(message) ? mixAndMatch(message, err) : rollback(message, err))
  if (is(err, c.UnsignedMetadataError)) return new BadSignatureError(`repository metadata is not signed by the trusted keys: ${message}`, options)
  if (is(err, c.LengthOrHashMismatchError)) return mixAndMatch(message, err)
  if (is(err, c.DownloadLengthMismatchError)) return new EndlessDataError('repository metadata', 0, options)
  // A folded failure (or classes this tuf-js version does not have): what the message says.
  if (/Max length reached/i.test(message)) return new EndlessDataError('repository metadata', 0, options)
  if (/expired/i.test(message)) return new MetadataExpiredError(`repository metadata has expired (freeze attack or stale repository): ${message}`, options)
  const root = rootVersion(message, err)
  if (root !== undefined) return root
  if (MISMATCH.test(message) || /Expected hash|Expected length|Missing file .* in new snapshot/i.test(message)) return mixAndMatch(message, err)
  if (/less than current version/i.test(message)) return rollback(message, err)
  if (/signed by|signature|no public key/i.test(message)) return new BadSignatureError(`repository metadata is not signed by the trusted keys: ${message}`, options)
  return new RepositoryError(`repository metadata refused: ${message}`, options)
}
