import type { Command } from 'commander'
import { defaultDataDir, formatModuleTable, startNode } from '../../node/index.ts'
import { InvalidArgumentError } from '../../../common/index.ts'
import { isLogLevel } from '../../../kernel/index.ts'
import type { Kernel, LogEntry } from '../../../kernel/index.ts'
import { readBasecampLink } from '../../../modules/basecamp/index.ts'

export function registerStart (program: Command): void {
  program
    .command('start')
    .description('boot a node with the default distribution of modules and keep it running')
    .option('--data-dir <dir>', 'the node\'s data directory', defaultDataDir())
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'info')
    .action(async (opts: { dataDir: string, logLevel: string }) => {
      if (!isLogLevel(opts.logLevel)) throw new InvalidArgumentError(`--log-level must be one of trace, debug, info, warn, error (got "${opts.logLevel}")`)
      const node = await startNode({ dataDir: opts.dataDir, config: { logLevel: opts.logLevel } })
      node.kernel.logs.subscribe(printLog)
      for (const entry of node.kernel.logs.tail(undefined, 50)) printLog(entry)
      // The node runs until it is told to stop, even when no module holds a socket or timer open.
      const keepAlive = setInterval(() => {}, 1 << 30)
      let stopping = false
      const stop = (signal: string): void => {
        if (stopping) return
        stopping = true
        clearInterval(keepAlive)
        console.log(`${signal}: stopping`)
        node.stop().then(() => process.exit(0), (err: unknown) => {
          console.error(err)
          process.exit(1)
        })
      }
      process.on('SIGINT', () => { stop('SIGINT') })
      process.on('SIGTERM', () => { stop('SIGTERM') })
      console.log(`logos node running, data directory ${node.dataDir}`)
      console.log(formatModuleTable(node.kernel.list()))
      await printBasecampLink(node.kernel, node.dataDir)
    })
}

/** The link to the node's Basecamp, with this run's secret in its fragment: only who reads this terminal gets it. */
async function printBasecampLink (kernel: Kernel, dataDir: string): Promise<void> {
  if (!kernel.has('basecamp')) return
  const state = kernel.state('basecamp')
  if (state !== 'running') {
    console.log(`Basecamp is ${state} (see the log above)`)
    return
  }
  try {
    console.log(`Basecamp: ${(await readBasecampLink(dataDir)).link}`)
  } catch (err) {
    console.log(`Basecamp runs, but its link could not be read: ${(err as Error).message}`)
  }
}

function printLog (entry: LogEntry): void {
  const fields = entry.fields === undefined ? '' : ` ${JSON.stringify(entry.fields)}`
  process.stderr.write(`${new Date(entry.at).toISOString()} ${entry.level.padEnd(5)} [${entry.module}] ${entry.message}${fields}\n`)
}
