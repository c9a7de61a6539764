/** Every default and bound of the developer module, with why it is what it is. */

/** Loopback only: the interface controls the whole node, so it is never reachable from another machine by default. */
export const DEFAULT_HOST = '127.0.0.1'

/** Hosts the server may bind to: loopback addresses only (a token on a LAN would still be a remote control). */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '::1', 'localhost']

/**
 * 0 asks the system for a free port: several nodes on one machine (a devnet) never collide, and clients learn the port
 * from the endpoint file. Set `port` in the module's config for a fixed one.
 */
export const DEFAULT_PORT = 0

/** The one path that answers JSON-RPC, over POST and WebSocket alike. */
export const RPC_PATH = '/rpc'

/** Files in the module's data folder (`<data dir>/modules/developer/`): the access token (mode 0600) and where to connect. */
export const TOKEN_FILE = 'token'
export const ENDPOINT_FILE = 'endpoint'

/** Owner-only: whoever can read the token controls the node. */
export const TOKEN_FILE_MODE = 0o600

/** 256 bits of randomness: not guessable, and short enough to paste. */
export const TOKEN_BYTES = 32

/** Largest request body (HTTP) or message (WebSocket): generous for parameters, small enough that no client can exhaust memory. */
export const MAX_REQUEST_BYTES = 1024 * 1024

/** Most requests in one JSON-RPC batch; a larger batch is refused whole with -32600. */
export const MAX_BATCH = 100

/** Most WebSocket clients at once; one more is refused with HTTP 503 (a developer tool has a handful). */
export const MAX_WS_CLIENTS = 32

/** Most subscriptions (trace and logs) one WebSocket client may hold. */
export const MAX_SUBSCRIPTIONS_PER_CLIENT = 16

/** Most requests one WebSocket client may have in flight; more are answered at once with -32003. */
export const MAX_INFLIGHT_PER_CLIENT = 64

/**
 * Records (trace or log) waiting to go to one WebSocket client. When it is full, new records for that client are
 * dropped and counted, and the client is told how many it lost (`subscription.dropped`) before the next ones.
 */
export const CLIENT_QUEUE_RECORDS = 10_000

/** Bytes the socket of one client may hold unsent before the server stops writing to it and lets its queue fill. */
export const CLIENT_HIGH_WATER_BYTES = 4 * 1024 * 1024

/** How often a flush blocked by a full socket buffer looks again. */
export const FLUSH_RETRY_MS = 20

/** Most records in one notification: large enough to amortise framing, small enough to keep messages modest. */
export const MAX_RECORDS_PER_NOTIFICATION = 500

/** Recent calls and recent errors kept per module for `modules.recent` (fed from the trace stream). */
export const RECENT_CALLS = 100
export const RECENT_ERRORS = 50

/** Most modules whose activity is kept; the directory of a node is far smaller, this only guards against churn. */
export const MAX_TRACKED_MODULES = 1024

/** Changes to a watched folder within this window are one reload (editors write a file in several steps). */
export const WATCH_DEBOUNCE_MS = 200

/** Most module folders watched at once. */
export const MAX_WATCHES = 64

/** Most log entries `logs.tail` returns (the kernel keeps 1000 per module). */
export const MAX_LOG_TAIL = 1000

/** Most module names in one filter. */
export const MAX_FILTER_MODULES = 64

/** Header and request-body deadlines of the HTTP server: a stalled client cannot hold a connection forever. */
export const HEADERS_TIMEOUT_MS = 10_000
export const REQUEST_TIMEOUT_MS = 30_000

/** How long stopping the module waits for open connections before it cuts them. */
export const CLOSE_GRACE_MS = 2_000

/** Folders whose module root (the nearest folder with a module.json) the resolve hook remembers. */
export const MODULE_ROOT_CACHE_SIZE = 4096
