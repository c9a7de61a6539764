import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { testResourcesDir as rlnResourcesDir } from '../../crypto/rln/helpers.ts'
import { runCli, startCli } from '../../helpers/run-cli.ts'
import { tempDir } from '../../helpers/temp-dir.ts'

describe('logos CLI', () => {
  it('`logos start` boots a node, shows the module states and stops cleanly on SIGTERM', async () => {
    const dir = await tempDir()
    const { child, output } = await startCli(['start', '--data-dir', dir.path], /NAME\s+VERSION\s+STATE[\s\S]*directory\s+\S+\s+running/, { timeoutMs: 60_000 })
    expect(output()).toContain(`data directory ${dir.path}`)
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(child.exitCode).toBeNull() // still running until told to stop
    const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(output()).toContain('SIGTERM: stopping')
    await dir.remove()
  })

  it('`logos start --peers 2` (what `npm start` runs) joins local peer nodes and stops them all', async () => {
    const dir = await tempDir()
    const { child, output } = await startCli(['start', '--peers', '2', '--data-dir', dir.path], /Basecamp: http/, { timeoutMs: 120_000 })
    expect(output()).toContain('joined 2 local peer nodes')
    expect(output()).toMatch(/network\s+\S+\s+running/)
    const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    await dir.remove()
  })

  it('`logos rln resources --from DIR` checks the ceremony files and caches them; a wrong folder is refused', async () => {
    const dir = await tempDir()
    const env = { LOGOS_CACHE_DIR: join(dir.path, 'cache'), LOGOS_RLN_RESOURCES: '' }
    const ok = await runCli(['rln', 'resources', '--from', rlnResourcesDir()], { env })
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toContain(`cached in ${join(dir.path, 'cache')}`)
    expect((await stat(join(dir.path, 'cache', 'rln', 'zerokit-v0.8.0', 'tree_height_20', 'rln_final.zkey'))).size).toBeGreaterThan(1_000_000)
    const bad = await runCli(['rln', 'resources', '--from', dir.path], { env: { ...env, LOGOS_CACHE_DIR: join(dir.path, 'empty') } })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('error ERR_RLN_RESOURCES_UNAVAILABLE')
    await dir.remove()
  })

  it('`logos modules` lists the distribution, `--json` as data', async () => {
    const dir = await tempDir()
    const text = await runCli(['modules', '--data-dir', dir.path])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^NAME\s+VERSION\s+SOURCE\s+DESCRIPTION/)
    const json = await runCli(['modules', '--json', '--data-dir', dir.path])
    expect(Array.isArray(JSON.parse(json.stdout))).toBe(true)
    await dir.remove()
  })

  it('a bad config.json stops the start with an error that names the field', async () => {
    const dir = await tempDir()
    const { writeFile } = await import('node:fs/promises')
    await writeFile(`${dir.path}/config.json`, JSON.stringify({ modules: { network: { enabled: 'yes' } } }))
    const result = await runCli(['start', '--data-dir', dir.path])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('error ERR_INVALID_ARGUMENT')
    expect(result.stderr).toContain('"modules.network.enabled" must be a boolean')
    await dir.remove()
  })
})
