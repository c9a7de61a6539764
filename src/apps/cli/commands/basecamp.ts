import type { Command } from 'commander'
import { readBasecampLink } from '../../../modules/basecamp/index.ts'
import { defaultDataDir } from '../../node/index.ts'

/** `logos basecamp`: prints the link of a running node's Basecamp (with this run's secret), as `logos start` did. */
export function registerBasecamp (program: Command): void {
  program
    .command('basecamp')
    .description('print the link to the running node\'s Basecamp (the local web UI), secret included')
    .option('--data-dir <dir>', 'the running node\'s data directory', defaultDataDir())
    .option('--json', 'print { link, url, pid, startedAt }')
    .action(async (opts: { dataDir: string, json?: boolean }) => {
      const { link, endpoint } = await readBasecampLink(opts.dataDir)
      console.log(opts.json === true ? JSON.stringify({ link, ...endpoint }) : link)
    })
}
