import type { Command } from 'commander'
import { registerDevnet } from './devnet.ts'
import { registerModules } from './modules.ts'
import { registerStart } from './start.ts'

/** Every subcommand of `logos`; each area adds its own file here. */
export function registerCommands (program: Command): void {
  registerStart(program)
  registerModules(program)
  registerDevnet(program)
}
