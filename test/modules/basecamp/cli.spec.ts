import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/run-cli.ts'
import { fixedPort, startNodeProcess } from './harness.ts'

async function probe (base: string, secret: string): Promise<number> {
  return (await fetch(new URL('session', base), { method: 'POST', headers: { authorization: `Bearer ${secret}` } })).status
}

describe('logos start and Basecamp', () => {
  it('prints the Basecamp link with a secret that only this run has; `logos basecamp` prints it again', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'logos-basecamp-cli-'))
    const port = await fixedPort()
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ modules: { basecamp: { config: { port } } } }))
    const first = await startNodeProcess(dataDir)
    try {
      expect(first.link.base).toBe(`http://127.0.0.1:${port}/`)
      expect(first.output()).toMatch(/basecamp\s+0\.1\.0\s+running/)
      expect(await probe(first.link.base, first.link.secret)).toBe(200)
      // The secret never reaches the log (which any client of the developer interface can read).
      expect(first.output().split('\n').filter(l => l.includes(first.link.secret))).toEqual([`Basecamp: ${first.link.link}`])
      const again = await runCli(['basecamp', '--data-dir', dataDir])
      expect(again.code).toBe(0)
      expect(again.stdout.trim()).toBe(first.link.link)
      const json = JSON.parse((await runCli(['basecamp', '--data-dir', dataDir, '--json'])).stdout) as Record<string, unknown>
      expect(json).toMatchObject({ link: first.link.link, url: first.link.base, pid: first.child.pid })
    } finally {
      await first.stop()
    }
    // Stopped: its files are gone, and the command says so.
    expect(await readdir(join(dataDir, 'modules', 'basecamp'))).toEqual([])
    const gone = await runCli(['basecamp', '--data-dir', dataDir])
    expect(gone.code).toBe(1)
    expect(gone.stderr).toMatch(/^error ERR_BASECAMP_NOT_RUNNING: /)
    // The next run, on the same port, has a new secret: the old link no longer opens it.
    const second = await startNodeProcess(dataDir)
    try {
      expect(second.link.base).toBe(first.link.base)
      expect(second.link.secret).not.toBe(first.link.secret)
      expect(await probe(second.link.base, first.link.secret)).toBe(401)
      expect(await probe(second.link.base, second.link.secret)).toBe(200)
    } finally {
      await second.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
