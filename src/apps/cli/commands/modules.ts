import type { Command } from 'commander'
import { readModuleFolder } from '../../../kernel/index.ts'
import { installedModuleDirs } from '../../../modules/package-manager/index.ts'
import { defaultDataDir, findModuleFolders } from '../../node/index.ts'

export function registerModules (program: Command): void {
  program
    .command('modules')
    .description('list the modules this node would load (built in and installed)')
    .option('--data-dir <dir>', 'the node\'s data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action(async (opts: { dataDir: string, json?: boolean }) => {
      const rows: Array<{ name: string, version: string, description: string, source: string }> = []
      for (const dir of await findModuleFolders()) {
        const { manifest } = await readModuleFolder(dir)
        rows.push({ name: manifest.name, version: manifest.version, description: manifest.description ?? '', source: 'built-in' })
      }
      for (const dir of await installedModuleDirs(opts.dataDir)) {
        const { manifest } = await readModuleFolder(dir)
        rows.push({ name: manifest.name, version: manifest.version, description: manifest.description ?? '', source: 'installed' })
      }
      if (opts.json === true) {
        console.log(JSON.stringify(rows, null, 2))
        return
      }
      const width = Math.max(4, ...rows.map(r => r.name.length))
      console.log(`${'NAME'.padEnd(width)}  VERSION  SOURCE     DESCRIPTION`)
      for (const r of rows) console.log(`${r.name.padEnd(width)}  ${r.version.padEnd(7)}  ${r.source.padEnd(9)}  ${r.description}`)
    })
}
