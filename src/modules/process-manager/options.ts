import {
  DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS, DEFAULT_CANCEL_GRACE_MS, DEFAULT_BACKOFF_FACTOR, DEFAULT_BACKOFF_JITTER, DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS, DEFAULT_INTENSITY_MAX_RESTARTS, DEFAULT_INTENSITY_WITHIN_MS, DEFAULT_KILL_GRACE_MS,
  DEFAULT_MEMORY_LIMIT_BYTES, DEFAULT_RESET_AFTER_MS, DEFAULT_RESTART, DEFAULT_SPARES, DEFAULT_START_TIMEOUT_MS,
  DEFAULT_STOP_GRACE_MS
} from './constants.ts'
import { PmBadOptionsError } from './errors.ts'

/**
 * Erlang/OTP's three restart types: permanent is always restarted, transient only after a crash (not after a clean
 * exit with code 0), temporary never.
 */
export type RestartPolicy = 'permanent' | 'transient' | 'temporary'

export interface BackoffPolicy {
  baseMs: number
  factor: number
  capMs: number
  /** In [0, 1]: the delay is drawn uniformly from [d * (1 - jitter), d]. */
  jitter: number
}

/** How the host runs and supervises one module; what a manifest's `hostOptions` and the user's configuration set. */
export interface HostPolicy {
  restart: RestartPolicy
  backoff: BackoffPolicy
  /** Running this long without a crash resets the backoff. */
  resetAfterMs: number
  /** At most `maxRestarts` restarts within `withinMs`; one more crash leaves the module failed. */
  intensity: { maxRestarts: number, withinMs: number }
  /** `intervalMs` 0 turns heartbeats (and CPU/memory sampling) off. */
  heartbeat: { intervalMs: number, timeoutMs: number }
  /** Resident memory above this restarts the module; 0 for no ceiling. */
  memoryLimitBytes: number
  startTimeoutMs: number
  stopGraceMs: number
  killGraceMs: number
  /** A cancelled call's handler gets this long to return before the host stops counting it (it never waits longer). */
  cancelGraceMs: number
  /** Extra Node flags for this module's process (such as --max-old-space-size); such a process is never a spare. */
  execArgv: string[]
}

export const DEFAULT_POLICY: Readonly<HostPolicy> = Object.freeze({
  restart: DEFAULT_RESTART,
  backoff: { baseMs: DEFAULT_BACKOFF_BASE_MS, factor: DEFAULT_BACKOFF_FACTOR, capMs: DEFAULT_BACKOFF_CAP_MS, jitter: DEFAULT_BACKOFF_JITTER },
  resetAfterMs: DEFAULT_RESET_AFTER_MS,
  intensity: { maxRestarts: DEFAULT_INTENSITY_MAX_RESTARTS, withinMs: DEFAULT_INTENSITY_WITHIN_MS },
  heartbeat: { intervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS, timeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS },
  memoryLimitBytes: DEFAULT_MEMORY_LIMIT_BYTES,
  startTimeoutMs: DEFAULT_START_TIMEOUT_MS,
  stopGraceMs: DEFAULT_STOP_GRACE_MS,
  killGraceMs: DEFAULT_KILL_GRACE_MS,
  cancelGraceMs: DEFAULT_CANCEL_GRACE_MS,
  execArgv: []
}) as Readonly<HostPolicy>

type Layer = Record<string, unknown> | undefined

const RESTARTS: readonly RestartPolicy[] = ['permanent', 'transient', 'temporary']
const GROUPS = new Set(['backoff', 'intensity', 'heartbeat'])

/**
 * The policy of one module: the defaults, overlaid in order by each layer (later wins, nested groups merge field by
 * field). The process manager passes: the user's defaults for every module, the module's manifest `hostOptions`, then
 * the user's settings for that module. Every field is checked; an unknown one is refused (a typo must not be ignored).
 */
export function resolvePolicy (module: string, ...layers: Layer[]): HostPolicy {
  const merged: Record<string, unknown> = structuredClone({ ...DEFAULT_POLICY }) as unknown as Record<string, unknown>
  for (const layer of layers) {
    if (layer === undefined) continue
    if (layer === null || typeof layer !== 'object' || Array.isArray(layer)) throw new PmBadOptionsError(module, '(host options)', 'an object', layer)
    for (const [key, value] of Object.entries(layer)) {
      if (!Object.hasOwn(DEFAULT_POLICY, key)) throw new PmBadOptionsError(module, key, `one of ${Object.keys(DEFAULT_POLICY).join(', ')}`, key)
      if (GROUPS.has(key)) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new PmBadOptionsError(module, key, 'an object', value)
        const group = merged[key] as Record<string, unknown>
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (!Object.hasOwn(group, k)) throw new PmBadOptionsError(module, `${key}.${k}`, `one of ${Object.keys(group).join(', ')}`, k)
          group[k] = v
        }
      } else {
        merged[key] = value
      }
    }
  }
  return checkPolicy(module, merged)
}

function checkPolicy (module: string, p: Record<string, unknown>): HostPolicy {
  const fail = (field: string, expected: string, got: unknown): never => { throw new PmBadOptionsError(module, field, expected, got) }
  const num = (field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) fail(field, `a number in [${min}, ${max}]`, value)
    return value as number
  }
  const int = (field: string, value: unknown, min: number): number => {
    if (!Number.isSafeInteger(value) || (value as number) < min) fail(field, `an integer >= ${min}`, value)
    return value as number
  }
  if (!RESTARTS.includes(p.restart as RestartPolicy)) fail('restart', RESTARTS.join(' | '), p.restart)
  const b = p.backoff as Record<string, unknown>
  const i = p.intensity as Record<string, unknown>
  const h = p.heartbeat as Record<string, unknown>
  const policy: HostPolicy = {
    restart: p.restart as RestartPolicy,
    backoff: {
      baseMs: num('backoff.baseMs', b.baseMs, 0),
      factor: num('backoff.factor', b.factor, 1, 100),
      capMs: num('backoff.capMs', b.capMs, 0),
      jitter: num('backoff.jitter', b.jitter, 0, 1)
    },
    resetAfterMs: num('resetAfterMs', p.resetAfterMs, 0),
    intensity: { maxRestarts: int('intensity.maxRestarts', i.maxRestarts, 0), withinMs: num('intensity.withinMs', i.withinMs, 1) },
    heartbeat: { intervalMs: num('heartbeat.intervalMs', h.intervalMs, 0), timeoutMs: num('heartbeat.timeoutMs', h.timeoutMs, 1) },
    memoryLimitBytes: num('memoryLimitBytes', p.memoryLimitBytes, 0),
    startTimeoutMs: num('startTimeoutMs', p.startTimeoutMs, 1),
    stopGraceMs: num('stopGraceMs', p.stopGraceMs, 0),
    killGraceMs: num('killGraceMs', p.killGraceMs, 0),
    cancelGraceMs: num('cancelGraceMs', p.cancelGraceMs, 0),
    execArgv: []
  }
  if (policy.backoff.capMs < policy.backoff.baseMs) fail('backoff.capMs', `at least backoff.baseMs (${policy.backoff.baseMs})`, policy.backoff.capMs)
  if (policy.heartbeat.intervalMs > 0 && policy.heartbeat.timeoutMs <= policy.heartbeat.intervalMs) {
    fail('heartbeat.timeoutMs', `more than heartbeat.intervalMs (${policy.heartbeat.intervalMs})`, policy.heartbeat.timeoutMs)
  }
  if (!Array.isArray(p.execArgv) || !p.execArgv.every(a => typeof a === 'string' && a.startsWith('-'))) fail('execArgv', 'an array of Node flags', p.execArgv)
  policy.execArgv = [...p.execArgv as string[]]
  return policy
}

/** The process manager's own configuration (`modules["process-manager"].config` in the node's config.json). */
export interface ProcessManagerConfig {
  /** Host options for every module on this host (below each manifest's own). */
  defaults?: Record<string, unknown>
  /** Host options per module name (above its manifest's). */
  modules: Record<string, Record<string, unknown>>
  /** Pre-booted idle processes to keep (see DEFAULT_SPARES). */
  spares: number
}

export function parseManagerConfig (module: string, config: Readonly<Record<string, unknown>>): ProcessManagerConfig {
  const out: ProcessManagerConfig = { modules: {}, spares: DEFAULT_SPARES }
  for (const key of Object.keys(config)) {
    if (key !== 'defaults' && key !== 'modules' && key !== 'spares') throw new PmBadOptionsError(module, key, 'one of defaults, modules, spares', key)
  }
  if (config.defaults !== undefined) {
    if (config.defaults === null || typeof config.defaults !== 'object' || Array.isArray(config.defaults)) throw new PmBadOptionsError(module, 'defaults', 'an object of host options', config.defaults)
    resolvePolicy(module, config.defaults as Record<string, unknown>)
    out.defaults = config.defaults as Record<string, unknown>
  }
  if (config.modules !== undefined) {
    if (config.modules === null || typeof config.modules !== 'object' || Array.isArray(config.modules)) throw new PmBadOptionsError(module, 'modules', 'an object of module name -> host options', config.modules)
    // Each module's settings are checked when it launches: a mistake there fails that module, not every other.
    for (const [name, options] of Object.entries(config.modules as Record<string, unknown>)) {
      if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new PmBadOptionsError(module, `modules.${name}`, 'an object of host options', options)
      out.modules[name] = options as Record<string, unknown>
    }
  }
  if (config.spares !== undefined) {
    if (!Number.isSafeInteger(config.spares) || (config.spares as number) < 0 || (config.spares as number) > 16) throw new PmBadOptionsError(module, 'spares', 'an integer in [0, 16]', config.spares)
    out.spares = config.spares as number
  }
  return out
}
