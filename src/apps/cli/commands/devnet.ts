import type { Command } from 'commander'
import { startDevnet } from '../../devnet/index.ts'

export function registerDevnet (program: Command): void {
  program
    .command('devnet')
    .description('run N full nodes on loopback that find each other through capability discovery')
    .option('--nodes <n>', 'how many nodes', '5')
    .option('--base-dir <dir>', 'where the nodes keep their data (default: a temporary folder, removed on exit)')
    .option('--modules <names>', 'comma-separated modules each node runs, or "all"', 'network')
    .option('--keep', 'keep the data directories on exit')
    .option('--log-level <level>', 'trace, debug, info, warn or error', 'warn')
    .action(async (opts: { nodes: string, baseDir?: string, modules: string, keep?: boolean, logLevel: string }) => {
      const started = Date.now()
      const devnet = await startDevnet({
        nodes: Number(opts.nodes),
        baseDir: opts.baseDir,
        modules: opts.modules === 'all' ? 'all' : opts.modules.split(',').map(s => s.trim()).filter(Boolean),
        keep: opts.keep === true,
        logLevel: opts.logLevel as 'warn'
      })
      console.log(`devnet of ${devnet.nodes.length} nodes ready in ${Date.now() - started} ms, data in ${devnet.baseDir}`)
      for (const p of devnet.peers) console.log(`${String(p.index).padStart(3)}  ${p.peerId}  ${p.multiaddrs[0] ?? ''}`)
      console.log('Ctrl-C stops it.')
      let stopping = false
      const stop = (): void => {
        if (stopping) return
        stopping = true
        devnet.stop().then(() => process.exit(0), (err: unknown) => {
          console.error(err)
          process.exit(1)
        })
      }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
}
