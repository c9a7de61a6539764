import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DemlsClient, DemlsStoreError, ManualClock, MemoryStore, SqliteStore, toHex, topicsFor } from '../../../src/crypto/demls/index.ts'
import type { DemlsStore } from '../../../src/crypto/demls/index.ts'

const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

async function tmp (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'demls-store-'))
  dirs.push(d)
  return d
}

describe('De-MLS stores', () => {
  for (const [name, make] of [['memory', async () => new MemoryStore()], ['sqlite', async () => new SqliteStore(join(await tmp(), 'a', 'b.db'))]] as Array<[string, () => Promise<DemlsStore>]>) {
    it(`${name}: keeps meta, group records and joins, and overwrites in place`, async () => {
      const s = await make()
      expect(s.getMeta('x')).toBeUndefined()
      s.setMeta('x', Uint8Array.of(1))
      s.setMeta('x', Uint8Array.of(2))
      expect(s.getMeta('x')).toEqual(Uint8Array.of(2))
      s.saveGroup('aa', 1, Uint8Array.of(1, 1))
      s.saveGroup('aa', 2, Uint8Array.of(2, 2))
      s.saveGroup('bb', 1, Uint8Array.of(3))
      expect(s.loadGroups()).toEqual([{ groupIdHex: 'aa', record: Uint8Array.of(2, 2) }, { groupIdHex: 'bb', record: Uint8Array.of(3) }])
      s.deleteGroup('aa')
      expect(s.loadGroups().map(g => g.groupIdHex)).toEqual(['bb'])
      s.saveJoin('cc', Uint8Array.of(9))
      expect(s.loadJoins()).toEqual([{ groupIdHex: 'cc', record: Uint8Array.of(9) }])
      s.deleteJoin('cc')
      expect(s.loadJoins()).toEqual([])
      s.close()
    })
  }

  it('sqlite: survives reopening; a file that is not a database fails with a typed error', async () => {
    const dir = await tmp()
    const path = join(dir, 'c.db')
    const a = new SqliteStore(path)
    a.saveGroup('dd', 7, Uint8Array.of(7))
    a.close()
    const b = new SqliteStore(path)
    expect(b.loadGroups()).toEqual([{ groupIdHex: 'dd', record: Uint8Array.of(7) }])
    b.close()
    const bad = join(dir, 'bad.db')
    await writeFile(bad, 'this is not sqlite'.repeat(100))
    expect(() => new SqliteStore(bad)).toThrow(DemlsStoreError)
  })

  it('a client keeps its identity, groups and pending joins across restarts', async () => {
    const store = new SqliteStore(join(await tmp(), 'client.db'))
    const clock = new ManualClock()
    const a = await DemlsClient.open({ store, clock })
    const id = toHex(a.memberId)
    await a.createGroup('kept', { timers: { commitInactivityMs: 1000 } })
    void a.join('pending').catch(() => {})
    const invitation = await a.keyPackage('invited')
    await new Promise(resolve => setTimeout(resolve, 50))
    a.stop()
    const b = await DemlsClient.open({ store, clock })
    // The invitation is kept, and stays unannounced; the join keeps announcing its key package.
    expect(await b.keyPackage('invited')).toEqual(invitation)
    const announced = new Set<string>()
    b.on('outbound', ({ topic }) => announced.add(topic))
    await clock.advance(20_000)
    expect([...announced]).toEqual([topicsFor(new TextEncoder().encode('pending')).welcome])
    expect(b.topics()).toContain(topicsFor(new TextEncoder().encode('invited')).welcome)
    expect(toHex(b.memberId)).toBe(id)
    expect(b.group('kept')?.epoch).toBe(0)
    expect(b.group('kept')?.config.timers.commitInactivityMs).toBe(1000)
    expect(b.topics()).toContain(topicsFor(new TextEncoder().encode('pending')).welcome)
    b.cancelJoin('pending')
    expect(b.topics()).not.toContain(topicsFor(new TextEncoder().encode('pending')).welcome)
    // Input that is not De-MLS, or on a topic that does not match its group, is ignored.
    await b.handle('/demls/1/00/app', Uint8Array.of(1, 2, 3))
    await b.handle('/other', new Uint8Array(0))
    b.stop()
    store.close()
  })

  it('join() honours its abort signal', async () => {
    const a = await DemlsClient.open({ clock: new ManualClock() })
    const ac = new AbortController()
    const p = a.join('never', { signal: ac.signal })
    ac.abort()
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    await expect(a.createGroup('x'.repeat(65))).rejects.toThrow(RangeError)
    await a.createGroup('dup')
    await expect(a.createGroup('dup')).rejects.toMatchObject({ code: 'ERR_MLS_GROUP_EXISTS' })
    // The last member leaving just closes its group.
    const solo = a.group('dup')
    await solo?.leave()
    expect(solo?.closed).toBe(true)
    expect(a.group('dup')).toBeUndefined()
    a.stop()
  })
})
