import type { Command } from 'commander'
import { registerBasecamp } from './basecamp.ts'
import { registerDev } from './dev.ts'
import { registerDevnet } from './devnet.ts'
import { registerModules } from './modules.ts'
import { registerPkg } from './pkg.ts'
import { registerRln } from './rln.ts'
import { registerStart } from './start.ts'

/** Every subcommand of `logos`; each area adds its own file here. */
export function registerCommands (program: Command): void {
  registerStart(program)
  registerModules(program)
  registerDev(program)
  registerDevnet(program)
  registerPkg(program)
  registerRln(program)
  registerBasecamp(program)
}
