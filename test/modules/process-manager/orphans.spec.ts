import { spawn } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixture, isAlive, until } from './helpers.ts'

/** Pids of the live children of `pid`, from /proc. */
function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b)
}

describe('child-process host: no orphans', () => {
  it('every module process dies when the node is killed with SIGKILL, a hung one included', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'logos-pm-orphans-'))
    const node = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', fixture('orphan-node.ts'), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let text = ''
        node.stdout?.on('data', (d: Buffer) => {
          text += d.toString()
          if (text.includes('\n')) resolve(text.split('\n')[0] as string)
        })
        node.once('exit', (code) => { reject(new Error(`the node exited early (${String(code)})`)) })
      })
      const started = JSON.parse(line) as { pid: number, modules: number[], spares: number[] }
      const children = childrenOf(started.pid)
      // Everything it started, and nothing else: two modules and a spare.
      expect(children).toEqual([...started.modules, ...started.spares].sort((a, b) => a - b))
      expect(children).toHaveLength(3)
      expect(children.every(isAlive)).toBe(true)

      process.kill(started.pid, 'SIGKILL')
      await until(() => children.every(pid => !isAlive(pid)), 'every module process gone after the node was killed', 10_000)
    } finally {
      node.kill('SIGKILL')
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
