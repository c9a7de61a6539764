import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  RESOURCE_FILES, RlnResourceChecksumError, RlnResourcesUnavailableError, resolveResources
} from '../../../src/crypto/rln/index.ts'
import { testResourcesDir } from './helpers.ts'

const shared = testResourcesDir()
let dir: string
let tamper = false
let requests = 0
const server = createServer((req, res) => {
  requests++
  const name = (req.url ?? '').split('/').pop() ?? ''
  const known = Object.values(RESOURCE_FILES).some(f => f.name === name)
  if (!known) { res.writeHead(404).end(); return }
  void readFile(join(shared, name)).then((bytes) => {
    if (tamper) bytes[100] = (bytes[100] as number) ^ 1
    res.writeHead(200, { 'content-length': String(bytes.length) }).end(bytes)
  })
})
let baseUrl: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'logos-rln-res-'))
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rln/`
})
afterAll(async () => {
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  await rm(dir, { recursive: true, force: true })
})

describe('RLN resources', () => {
  it('uses a configured folder whose files have the pinned sha256', async () => {
    const r = await resolveResources({ path: shared, cacheDir: join(dir, 'unused'), download: false })
    expect(r.source).toBe('path')
    expect(r.zkey.length).toBe(3429990)
  })

  it('refuses a file that does not have its pinned sha256', async () => {
    const bad = join(dir, 'bad')
    await mkdir(bad)
    await copyFile(join(shared, 'rln.wasm'), join(bad, 'rln.wasm'))
    const zkey = await readFile(join(shared, 'rln_final.zkey'))
    zkey[10] = (zkey[10] as number) ^ 0xff
    await writeFile(join(bad, 'rln_final.zkey'), zkey)
    await expect(resolveResources({ path: bad, cacheDir: join(dir, 'unused'), download: false })).rejects.toThrow(RlnResourceChecksumError)
  })

  it('says what to do when no folder, cache or download has them', async () => {
    const err = await resolveResources({ path: join(dir, 'nothing'), cacheDir: join(dir, 'empty-cache'), download: false }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RlnResourcesUnavailableError)
    expect((err as Error).message).toContain('LOGOS_RLN_RESOURCES')
    expect((err as Error).message).toContain(RESOURCE_FILES.zkey.sha256)
  })

  it('downloads into the cache, checking the sha256, then serves from the cache', async () => {
    const cacheDir = join(dir, 'cache')
    tamper = true
    await expect(resolveResources({ path: join(dir, 'nothing'), cacheDir, baseUrl })).rejects.toThrow(RlnResourceChecksumError)
    tamper = false
    const first = await resolveResources({ path: join(dir, 'nothing'), cacheDir, baseUrl })
    expect(first.source).toBe('download')
    const before = requests
    const second = await resolveResources({ path: join(dir, 'nothing'), cacheDir, baseUrl })
    expect(second.source).toBe('cache')
    expect(requests).toBe(before)
    expect(Buffer.from(second.circuit).equals(Buffer.from(first.circuit))).toBe(true)
    // A damaged cache file is dropped and fetched again.
    await writeFile(join(cacheDir, 'rln.wasm'), 'damaged')
    const third = await resolveResources({ path: join(dir, 'nothing'), cacheDir, baseUrl })
    expect(third.source).toBe('download')
  })

  it('reports an unreachable download source as unavailable, not as a crash', async () => {
    const err = await resolveResources({ path: join(dir, 'nothing'), cacheDir: join(dir, 'c2'), baseUrl: 'http://127.0.0.1:1/rln/' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RlnResourcesUnavailableError)
    expect((err as Error).message).toContain('download')
  })
})
