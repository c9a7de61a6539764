import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initRepository, packModule, publishPackage } from '../../../src/modules/package-manager/index.ts'
import type { PublishResult, RepositoryInit, SignOptions } from '../../../src/modules/package-manager/index.ts'

export const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../../fixtures/package-manager')

export async function tempDir (prefix = 'logos-pkg-test-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

/** A deterministic pseudo-random byte string (xorshift32), so tests need no committed blobs. */
export function pseudoRandom (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** Text-like deterministic content (source code compresses, random bytes do not; chunking does not care). */
export function pseudoText (length: number, seed = 1): string {
  const bytes = pseudoRandom(length, seed)
  const alphabet = 'abcdefghijklmnopqrstuvwxyz     \n(){};=.,ABCDEFGHIJ0123456789'
  let s = ''
  for (const b of bytes) s += alphabet[b % alphabet.length]
  return s
}

/** Writes a module folder whose code answers `hello` with its name and version. */
export async function writeModule (root: string, name: string, version: string, options: { dependencies?: Record<string, string>, extraFiles?: Record<string, string | Uint8Array>, description?: string } = {}): Promise<string> {
  const dir = join(root, `${name}-${version}`)
  await mkdir(dir, { recursive: true })
  const manifest: Record<string, unknown> = { name, version, entry: './index.js', dependencies: options.dependencies ?? {} }
  if (options.description !== undefined) manifest.description = options.description
  await writeFile(join(dir, 'module.json'), JSON.stringify(manifest, null, 2))
  const exportName = name.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
  await writeFile(join(dir, 'index.js'), `export const ${exportName} = { start () { return { methods: { hello: () => '${name} ${version}' } } } }\n`)
  for (const [path, content] of Object.entries(options.extraFiles ?? {})) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), content)
  }
  return dir
}

/** Copies a fixture module folder into `root` (so tests can add files to it). */
export async function copyFixture (name: string, root: string): Promise<string> {
  const dir = join(root, name)
  await cp(join(FIXTURES, name), dir, { recursive: true })
  return dir
}

export interface TestRepository {
  dir: string
  keys: string
  root: Uint8Array
  publish: (moduleDir: string, options?: SignOptions) => Promise<PublishResult>
}

export async function makeRepository (base: string, init: RepositoryInit = {}): Promise<TestRepository> {
  const dir = join(base, 'repo')
  const keys = join(base, 'repo.keys')
  await initRepository(dir, keys, init)
  return {
    dir,
    keys,
    root: new Uint8Array(await readFile(join(dir, 'root.json'))),
    publish: async (moduleDir, options) => await publishPackage(dir, keys, await packModule(moduleDir), options)
  }
}

export type Interceptor = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>

export interface StaticServer {
  url: string
  /** Requests seen: path and Range header. */
  requests: Array<{ path: string, range?: string }>
  /** When set, may answer a request itself (return true) instead of the file server. */
  intercept: Interceptor | undefined
  /** Bytes per second the file server sends at (0: unlimited). */
  throttle: number
  close: () => Promise<void>
}

/** A static file server on 127.0.0.1 (port 0) with Range support, as any web server would serve a repository. */
export async function serveFolder (root: string): Promise<StaticServer> {
  const state: StaticServer = { url: '', requests: [], intercept: undefined, throttle: 0, close: async () => {} }
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '')
      state.requests.push({ path, range: req.headers.range })
      if (state.intercept !== undefined && await state.intercept(req, res, path)) return
      const file = normalize(join(root, path))
      if (!file.startsWith(root)) { res.writeHead(403).end(); return }
      let data: Buffer
      try {
        data = await readFile(file)
      } catch {
        res.writeHead(404).end()
        return
      }
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
      let start = 0
      if (m !== null && Number(m[1]) < data.length) {
        start = Number(m[1])
        res.writeHead(206, { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'content-length': data.length - start })
      } else {
        res.writeHead(200, { 'content-length': data.length })
      }
      const body = data.subarray(start)
      if (state.throttle <= 0) { res.end(body); return }
      const step = Math.max(1, Math.floor(state.throttle / 20))
      for (let i = 0; i < body.length; i += step) {
        if (res.destroyed) return
        res.write(body.subarray(i, i + step))
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      res.end()
    })().catch(() => { res.destroy() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  state.close = async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
  return state
}

export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/**
 * Starts a process (test/fixtures/package-manager/lock-racer.ts) and resolves once it printed the line `ready`;
 * `lines` collects everything it prints.
 */
export async function startLockRacer (args: string[], ready: string): Promise<{ child: ChildProcess, lines: string[] }> {
  const child = spawn(process.execPath, [join(FIXTURES, 'lock-racer.ts'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  const lines: string[] = []
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString() })
  await new Promise<void>((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(() => { reject(new Error(`lock racer not ready; stderr: ${stderr}`)) }, 60_000)
    child.stdout?.on('data', (b: Buffer) => {
      buffer += b.toString()
      const parts = buffer.split('\n')
      buffer = parts.pop() ?? ''
      lines.push(...parts)
      if (parts.includes(ready)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (!lines.includes(ready)) reject(new Error(`lock racer exited (${code}); stderr: ${stderr}`))
    })
  })
  return { child, lines }
}

/** Kills a child process with SIGKILL and waits until it is gone. */
export async function killHard (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}
