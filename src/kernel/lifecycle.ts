import { InvalidStateError } from './errors.ts'
import type { ModuleState } from './types.ts'

/** The lifecycle state machine: the only transitions the kernel makes. */
const TRANSITIONS: Readonly<Record<ModuleState, readonly ModuleState[]>> = {
  resolved: ['starting', 'failed'],
  starting: ['running', 'failed'],
  running: ['stopping', 'restarting', 'reloading', 'failed'],
  restarting: ['running', 'failed', 'stopping'],
  reloading: ['running', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: ['starting', 'failed'],
  failed: ['starting', 'failed']
}

/** States in which a call waits a bounded time for the module instead of failing. */
export const WAITING_STATES: ReadonlySet<ModuleState> = new Set(['starting', 'restarting', 'reloading'])

/** States from which a module may be unloaded. */
export const UNLOADABLE_STATES: ReadonlySet<ModuleState> = new Set(['resolved', 'stopped', 'failed'])

export function canTransition (from: ModuleState, to: ModuleState): boolean {
  return TRANSITIONS[from].includes(to)
}

export function assertTransition (module: string, from: ModuleState, to: ModuleState): void {
  if (!canTransition(from, to)) throw new InvalidStateError(module, from, to)
}
