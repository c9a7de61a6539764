/** Every default and bound of the package manager, each with the reason for its value. */

/** The package format this code writes and reads; a manifest naming another is refused. */
export const PACKAGE_FORMAT = 'logos-package/1'

/** First bytes of a packed archive (`logos pkg pack`), so a wrong file is recognised at once. */
export const ARCHIVE_MAGIC = 'LOGOSPKG'

/** Name of the chunker that cuts files into content-defined chunks (FastCDC, 32-bit gear hash, normalised level 2). */
export const CHUNKER_ALGORITHM = 'fastcdc-gear32-nc2'

/**
 * Chunk size bounds. A small edit rewrites about one chunk, so smaller chunks mean fewer bytes per update, until the
 * manifest (one ~75-byte line per chunk) grows more than the chunk shrinks. Manifests travel as content-defined chunks
 * too, which moves that point down. On the pkg-update benchmark (a 619 KiB module, one-place edits; BENCHMARKS.md)
 * the mean update costs, of a full download: 1.80% at avg 1 KiB, 1.54% at 2 KiB, 1.87% at 4 KiB, 1.91% at 8 KiB,
 * 2.69% at 16 KiB, and 3.70% with casync's 16/64/256 KiB. min = avg / 2 keeps chunks of at least 1 KiB. Those edits
 * chose the size; on a held-out module and edits 2 KiB costs 1.90% and 1 KiB 1.82% (within the noise of 8 edits),
 * 4 KiB and up more, so the choice holds up to that margin.
 */
export const CHUNK_MIN_BYTES = 1024
export const CHUNK_AVG_BYTES = 2 * 1024
export const CHUNK_MAX_BYTES = 16 * 1024

/**
 * The manifest itself is cut into content-defined chunks (smaller ones: a manifest line is ~75 bytes per chunk it
 * lists), so an update fetches only the part of the manifest that changed, not all of it. ~1 KiB balances the bytes
 * of a changed manifest chunk against the 75 bytes each one costs in the signed descriptor.
 */
export const MANIFEST_CHUNK_MIN_BYTES = 256
export const MANIFEST_CHUNK_AVG_BYTES = 1024
export const MANIFEST_CHUNK_MAX_BYTES = 8 * 1024

/** The format of the small signed target that names a manifest by its hash and its chunks. */
export const DESCRIPTOR_FORMAT = 'logos-package-descriptor/1'

/** Largest descriptor: one line per manifest chunk (a 16 MiB manifest at 1 KiB chunks is ~1.2 MiB). */
export const MAX_DESCRIPTOR_BYTES = 2 * 1024 * 1024

/** Largest chunk any manifest may declare: bounds the memory one chunk can take while it is verified. */
export const CHUNK_LIMIT_BYTES = 4 * 1024 * 1024

/** Largest package (sum of its files): a bound on disk use and download time a repository can demand. */
export const MAX_PACKAGE_BYTES = 512 * 1024 * 1024

/** Most files in one package. */
export const MAX_PACKAGE_FILES = 10_000

/** Longest file path inside a package, in characters (POSIX PATH_MAX is 4096; we stay well under). */
export const MAX_PATH_LENGTH = 1024

/** Largest package manifest a client accepts (it lists every chunk; 512 MiB at 8 KiB chunks is ~6 MiB of JSON). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024

/** Largest repository index (one line per published version). */
export const MAX_INDEX_BYTES = 32 * 1024 * 1024

/** Name of the file that keeps a package's manifest inside its installed folder. */
export const INSTALLED_MANIFEST_FILE = '.logos-package.json'

/** Expiry of each TUF role when a repository signs it, in days: short for the online roles, long for root. */
export const ROOT_EXPIRY_DAYS = 365
export const TARGETS_EXPIRY_DAYS = 90
export const SNAPSHOT_EXPIRY_DAYS = 7
/** A day: a client that sees no fresh timestamp for longer refuses to install (freeze attacks). */
export const TIMESTAMP_EXPIRY_DAYS = 1

/** The TUF specification version our metadata declares. */
export const TUF_SPEC_VERSION = '1.0.31'

/** Bounds on TUF metadata a client downloads (endless-data attacks); timestamp and root are small by nature. */
export const TUF_ROOT_MAX_BYTES = 512 * 1024
export const TUF_TIMESTAMP_MAX_BYTES = 16 * 1024
export const TUF_SNAPSHOT_MAX_BYTES = 2 * 1024 * 1024
export const TUF_TARGETS_MAX_BYTES = 8 * 1024 * 1024

/** How many root versions a client follows in one refresh (TUF 5.3: bounded root rotation). */
export const TUF_MAX_ROOT_ROTATIONS = 32

/** Attempts per download before giving up; each later attempt resumes where the previous one stopped. */
export const MAX_FETCH_ATTEMPTS = 4

/** Backoff before the second attempt; doubles each time. */
export const FETCH_BACKOFF_MS = 100

/** Time a single HTTP request may take before it is aborted (slow-retrieval attacks). */
export const FETCH_TIMEOUT_MS = 30_000

/** Chunks downloaded at once: enough to hide latency on a loopback or LAN source without flooding it. */
export const DOWNLOAD_CONCURRENCY = 8

/** Files written, fsynced or verified at once: fsyncs in parallel cost a fraction of fsyncs in a row. */
export const FILE_CONCURRENCY = 8

/** Packages downloaded in one transaction at most (install plus its dependencies). */
export const MAX_TRANSACTION_PACKAGES = 256

/** Steps the solver may take before it gives up (a bound on pathological dependency graphs). */
export const SOLVER_MAX_STEPS = 100_000

/** Where, under the node's data directory, the package manager keeps its state. */
export const PACKAGES_DIR = 'packages'

/** The one file that says which version of each package is current; replaced by a single rename. */
export const CURRENT_FILE = 'current.json'

/** Folder of the installation lock's generations; the newest names the process changing the installation. */
export const LOCK_DIR = 'locks'

/**
 * Times one acquisition looks again after losing a race for the lock's next generation: each loss means another
 * process took the lock (and then holds it or let go), so a few suffice; past them the lock is reported as held.
 */
export const LOCK_ATTEMPTS = 8

/** Git: how long a clone or fetch may take. */
export const GIT_TIMEOUT_MS = 120_000

/**
 * Git: the most one fetch may add to the cache clone (endless data). A git source fetches the whole tree of one commit
 * (every published version's chunks, as git compresses them), so this bounds the repository, not one package: twice
 * the largest package. A larger repository is better served over HTTP, which fetches only what an install needs.
 */
export const GIT_MAX_FETCH_BYTES = 2 * MAX_PACKAGE_BYTES

/** Git: how often a running fetch's growth is checked against its bound (a fetch is killed within about this). */
export const GIT_WATCH_INTERVAL_MS = 100

/** Git: the most output read from a git command that prints a line or two, or from an object header. */
export const GIT_MAX_OUTPUT_BYTES = 64 * 1024
