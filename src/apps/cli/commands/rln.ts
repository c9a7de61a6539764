import { join } from 'node:path'
import type { Command } from 'commander'
import { writeFileAtomic } from '../../../common/index.ts'
import { defaultCacheDir, resolveResources } from '../../../crypto/rln/index.ts'

/** `logos rln resources`: puts the RLN ceremony files, checked against their pinned sha256, into the node's cache. */
export function registerRln (program: Command): void {
  const rln = program.command('rln').description('RLN rate limiting')
  rln
    .command('resources')
    .description('check the RLN circuit files (rln.wasm, rln_final.zkey) and put them in the cache the rln module reads')
    .option('--from <dir>', 'a folder holding the zerokit v0.8.0 tree_height_20 files (else: download them)')
    .action(async (opts: { from?: string }) => {
      const found = await resolveResources(opts.from === undefined ? {} : { path: opts.from, download: false })
      const cacheDir = defaultCacheDir()
      if (found.dir !== cacheDir) {
        await writeFileAtomic(join(cacheDir, 'rln.wasm'), found.circuit)
        await writeFileAtomic(join(cacheDir, 'rln_final.zkey'), found.zkey)
      }
      console.log(`RLN circuit files verified (sha256 pinned) and cached in ${cacheDir}`)
    })
}
