/** The `logos` command line: every subcommand, and typed errors printed with their code. */
import { Command } from 'commander'
import { LogosError } from '../../common/index.ts'
import { registerCommands } from './commands/index.ts'

const program = new Command()
program.name('logos').description('Logos in TypeScript: the runtime and its private networking layer').version('0.1.0')
registerCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof LogosError) {
    console.error(`error ${err.code}: ${err.message}`)
  } else {
    console.error(err)
  }
  process.exit(1)
}
