import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { DEVNET_DISCOVERY, DEVNET_MIX, startDevnet } from '../../devnet/index.ts'
import type { Devnet } from '../../devnet/index.ts'
import { defaultDataDir, formatModuleTable, readNodeConfig, startNode } from '../../node/index.ts'
import type { ModuleSettings } from '../../node/index.ts'
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
    .option('--peers <n>', 'also run N peer nodes on loopback and join them: a local network with no outside service', '0')
    .action(async (opts: { dataDir: string, logLevel: string, peers: string }) => {
      if (!isLogLevel(opts.logLevel)) throw new InvalidArgumentError(`--log-level must be one of trace, debug, info, warn, error (got "${opts.logLevel}")`)
      const peers = Number(opts.peers)
      if (!Number.isInteger(peers) || peers < 0 || peers > 64) throw new InvalidArgumentError(`--peers must be a whole number from 0 to 64 (got "${opts.peers}")`)
      const dataDir = resolve(opts.dataDir)
      const devnet = peers === 0 ? undefined : await startPeers(dataDir, peers)
      const modules = devnet === undefined ? undefined : await joinPeers(dataDir, devnet)
      const node = await startNode({ dataDir, config: { logLevel: opts.logLevel, ...(modules === undefined ? {} : { modules }) } })
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
        node.stop().then(async () => { await devnet?.stop() }).then(() => process.exit(0), (err: unknown) => {
          console.error(err)
          process.exit(1)
        })
      }
      process.on('SIGINT', () => { stop('SIGINT') })
      process.on('SIGTERM', () => { stop('SIGTERM') })
      console.log(`logos node running, data directory ${node.dataDir}`)
      if (devnet !== undefined) console.log(`joined ${devnet.nodes.length} local peer nodes (data in ${devnet.baseDir})`)
      console.log(formatModuleTable(node.kernel.list()))
      await printBasecampLink(node.kernel, node.dataDir)
    })
}

/** Peer nodes on loopback, each a node of its own (network module), with data under `<data dir>/peers`. */
async function startPeers (dataDir: string, count: number): Promise<Devnet> {
  console.log(`starting ${count} local peer nodes`)
  return await startDevnet({ nodes: count, baseDir: join(dataDir, 'peers') })
}

/** This node's network settings to join the peers: their first node as bootstrap, the devnet's loopback tuning. */
async function joinPeers (dataDir: string, devnet: Devnet): Promise<Record<string, ModuleSettings>> {
  const own = (await readNodeConfig(dataDir)).modules.network ?? {}
  const first = devnet.peers[0]
  const bootstrap = first === undefined ? [] : first.multiaddrs.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${first.peerId}`)
  return {
    network: {
      ...own,
      config: { ...own.config, bootstrap, discovery: { ...DEVNET_DISCOVERY }, mix: { ...DEVNET_MIX } }
    }
  }
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
