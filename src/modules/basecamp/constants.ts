/** Every default and bound of Basecamp, with why it is what it is. */

/** Loopback only: the UI controls the whole node, so it is never served to another machine. */
export const DEFAULT_HOST = '127.0.0.1'

/** Hosts Basecamp may bind to, and the only names its Host header may carry (DNS rebinding). */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '::1', 'localhost']

/** 0 asks the system for a free port, so that several nodes on one machine never collide; set `port` for a fixed one. */
export const DEFAULT_PORT = 0

/** The module whose JSON-RPC interface Basecamp relays (it is a dependency, so it runs first). */
export const DEVELOPER_MODULE = 'developer'

/** Paths: the relay (WebSocket), the secret probe (POST), and everything else is a file of the UI. */
export const RPC_PATH = '/rpc'
export const SESSION_PATH = '/session'
export const INDEX_FILE = 'index.html'

/** Files in the module's data folder (`<data dir>/modules/basecamp/`): this run's secret and where it answers. */
export const SECRET_FILE = 'secret'
export const ENDPOINT_FILE = 'endpoint'

/** Owner-only: whoever reads the secret controls the node. */
export const FILE_MODE = 0o600

/** 256 bits: not guessable, and short enough for a link. A new one at every start, like Jupyter's token. */
export const SECRET_BYTES = 32

/**
 * Browser connections at once (tabs). Each holds one of the developer interface's WebSocket slots (it has 32), so a
 * runaway page cannot take them all from the command line tools.
 */
export const MAX_CLIENTS = 8

/** Largest message a page may send, and the relay may pass: the developer interface's own bound (1 MiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024

/**
 * Messages a page may send before the connection to the developer interface is open; more close the connection
 * (1008). A page sends a handful (its first requests and subscriptions).
 */
export const EARLY_MESSAGES = 64

/**
 * Bytes sent to one side and not yet written to its socket before the relay stops reading from the other side. The
 * developer interface then sees a slow client and drops trace and log records for it (telling it how many), instead
 * of this process buffering without bound.
 */
export const RELAY_HIGH_WATER_BYTES = 4 * 1024 * 1024

/** Reading resumes once the unwritten bytes fall under this. */
export const RELAY_LOW_WATER_BYTES = 1024 * 1024

/** How long the relay waits for the developer interface to accept its connection. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000

/** A page that has not answered a ping within this is gone (a closed laptop lid, a killed browser): its slot is freed. */
export const PING_INTERVAL_MS = 30_000

/** UI files kept in memory (read, and TypeScript stripped, once per change); the UI has a few dozen. */
export const UI_CACHE_FILES = 128

/** Largest UI file served: the UI has no file near this, so a bigger one is a mistake, not something to stream. */
export const MAX_UI_FILE_BYTES = 2 * 1024 * 1024

/** Header and request deadlines of the HTTP server: a stalled client cannot hold a connection forever. */
export const HEADERS_TIMEOUT_MS = 10_000
export const REQUEST_TIMEOUT_MS = 30_000

/** How long stopping the module waits for open connections before it cuts them. */
export const CLOSE_GRACE_MS = 2_000

/**
 * Requests that would stop, unload, reload or watch Basecamp itself: refused by the relay, as the answer could never
 * arrive (the page's own connection would go with it).
 */
export const SELF_CONTROL_METHODS: readonly string[] = ['modules.stop', 'modules.unload', 'modules.reload', 'modules.watch']

/** JSON-RPC methods the relay answers itself instead of forwarding. */
export const LOCAL_METHOD_PREFIX = 'basecamp.'

/**
 * Requests that change the node (start, stop, load, unload, reload a module). When the page that sent one goes away
 * before its answer (a reload, a closed tab), the relay keeps its connection to the developer interface open until
 * the answer comes, instead of closing it: the developer interface aborts a closed connection's requests, and a page
 * reload must not cancel a module's start half-way.
 */
export const LINGER_METHODS: readonly string[] = ['modules.start', 'modules.stop', 'modules.load', 'modules.unload', 'modules.reload']

/** How long a connection waits for those answers after its page went: twice the kernel's start deadline (30 s). */
export const LINGER_MS = 60_000

/** Connections waiting so at once; past this, a page's connection closes with it (and its requests are aborted). */
export const MAX_LINGERING = 8
