import type { ChildProcess } from 'node:child_process'
import { cp, mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { acquireLock, lockHolder, readLock } from '../../../src/modules/package-manager/index.ts'
import { killHard, removeDir, startLockRacer, tempDir } from './helpers.ts'

describe('the installation lock', () => {
  let base: string
  const children: ChildProcess[] = []
  beforeEach(async () => { base = await tempDir() })
  afterEach(async () => {
    for (const c of children) await killHard(c)
    children.length = 0
    await removeDir(base)
  })

  it('two processes racing for a lock left by a killed one: exactly one takes it over, every time', async () => {
    // A real installer dies holding the lock (kill -9): that lock, as it is on disk, is the stale lock of every round.
    const template = join(base, 'template')
    const holder = await startLockRacer(['hold', template], 'HELD')
    children.push(holder.child)
    await killHard(holder.child)
    const rounds = 24
    for (let i = 0; i < rounds; i++) await cp(template, join(base, `r${i}`), { recursive: true })

    const racers = await Promise.all([0, 1].map(async () => await startLockRacer(['race', base, String(rounds)], 'READY')))
    children.push(...racers.map(r => r.child))
    const done = racers.map(async r => await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => { if (r.lines.includes('DONE')) { clearInterval(timer); resolve() } }, 50)
      r.child.once('exit', (code) => { clearInterval(timer); reject(new Error(`racer exited (${code}) before the end`)) })
    }))
    // Both leave the gate at the same instant each round, well after both are ready.
    const start = Date.now() + 500
    for (const r of racers) r.child.stdin?.end(`${start} 150\n`)
    await Promise.all(done)

    const outcome = (r: { lines: string[] }, i: number): string => r.lines.find(l => l.startsWith(`${i} `))?.slice(String(i).length + 1) ?? 'missing'
    const wrong: string[] = []
    for (let i = 0; i < rounds; i++) {
      const [a, b] = racers.map(r => outcome(r, i)) as [string, string]
      const pids = racers.map(r => r.child.pid ?? 0)
      // One takes the stale lock over; the other is refused, naming the winner as the holder.
      const fine = (a === 'ok' && b === `locked ${pids[0] ?? 0}`) || (b === 'ok' && a === `locked ${pids[1] ?? 0}`)
      if (!fine) wrong.push(`round ${i}: ${a} / ${b}`)
    }
    expect(wrong).toEqual([])
  }, 120_000)

  it('is not taken twice by one process, is free once released, and keeps one generation on disk', async () => {
    const release = await acquireLock(base)
    await expect(acquireLock(base)).rejects.toMatchObject({ code: 'ERR_PKG_LOCKED', data: { pid: process.pid } })
    expect(await lockHolder(base)).toBeUndefined()
    await release()
    expect(await readLock(base)).toMatchObject({ pid: process.pid, released: true })
    const again = await acquireLock(base)
    expect(await readdir(join(base, 'locks'))).toEqual(['0000000000000002'])
    await again()
  })

  it('treats a record with this process\'s pid but not its acquisition as stale (an earlier process with the same pid)', async () => {
    // After a restart in a container, a node often gets the pid its killed predecessor had.
    await mkdir(join(base, 'locks'))
    await writeFile(join(base, 'locks', '0000000000000007'), JSON.stringify({ pid: process.pid, at: 0, nonce: 'earlier' }))
    const release = await acquireLock(base)
    expect(await readLock(base)).toMatchObject({ pid: process.pid })
    expect(await readdir(join(base, 'locks'))).toEqual(['0000000000000008'])
    await release()
  })
})
