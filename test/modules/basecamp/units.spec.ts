import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkBrowserAccess, checkSecret, newSecret, presentedSecret } from '../../../src/modules/basecamp/access.ts'
import { parseConfig } from '../../../src/modules/basecamp/config.ts'
import { readLink, removeLinkFiles, writeLinkFiles } from '../../../src/modules/basecamp/link.ts'
import { safeRelativePath, stripTypes, UiFiles } from '../../../src/modules/basecamp/ui-files.ts'
import { UI_DIR } from '../../../src/modules/basecamp/index.ts'
import {
  atLeast, describeRecord, formatBytes, formatDuration, formatNanos, isFailure, paramsTemplate, parseParams
} from '../../../src/modules/basecamp/ui/format.ts'
import { routeOf } from '../../../src/modules/basecamp/ui/routes.ts'

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('Basecamp configuration', () => {
  it('defaults to 127.0.0.1 and any free port, takes loopback hosts and ports, and names a bad field', () => {
    expect(parseConfig({})).toEqual({ host: '127.0.0.1', port: 0 })
    expect(parseConfig({ host: '::1', port: 8123 })).toEqual({ host: '::1', port: 8123 })
    expect(codeOf(() => parseConfig({ host: '0.0.0.0' }))).toBe('ERR_BASECAMP_BAD_CONFIG')
    expect(codeOf(() => parseConfig({ port: 70000 }))).toBe('ERR_BASECAMP_BAD_CONFIG')
    expect(codeOf(() => parseConfig({ port: 1.5 }))).toBe('ERR_BASECAMP_BAD_CONFIG')
    expect(() => parseConfig({ allowedOrigins: [] })).toThrow(/"allowedOrigins" must be absent/)
  })
})

describe('Basecamp access checks', () => {
  it('takes the secret from the Authorization header or the WebSocket query, and compares it exactly', () => {
    const secret = newSecret()
    expect(secret).toMatch(/^[0-9a-f]{64}$/)
    expect(newSecret()).not.toBe(secret)
    expect(presentedSecret(`Bearer ${secret}`, new URL('http://x/rpc'))).toBe(secret)
    expect(presentedSecret(undefined, new URL(`http://x/rpc?secret=${secret}`))).toBe(secret)
    expect(codeOf(() => { checkSecret(undefined, secret) })).toBe('ERR_BASECAMP_SECRET_MISSING')
    expect(codeOf(() => { checkSecret('', secret) })).toBe('ERR_BASECAMP_SECRET_MISSING')
    expect(codeOf(() => { checkSecret(secret.slice(1), secret) })).toBe('ERR_BASECAMP_SECRET_INVALID')
    expect(codeOf(() => { checkSecret(secret.toUpperCase(), secret) })).toBe('ERR_BASECAMP_SECRET_INVALID')
    expect(() => { checkSecret(secret, secret) }).not.toThrow()
  })

  it('lets in only its own loopback origin, and requests without an Origin that name a loopback Host', () => {
    const port = 40123
    for (const host of ['127.0.0.1:40123', 'localhost:40123', '[::1]:40123']) expect(() => { checkBrowserAccess({ host }, port) }).not.toThrow()
    for (const origin of ['http://127.0.0.1:40123', 'http://localhost:40123', 'http://[::1]:40123']) {
      expect(() => { checkBrowserAccess({ host: '127.0.0.1:40123', origin }, port) }).not.toThrow()
    }
    const refused = [
      { host: 'evil.example:40123' }, // DNS rebinding
      { host: '127.0.0.1:40124' },
      { host: '127.0.0.1' },
      {},
      { host: 'user@127.0.0.1:40123' },
      { host: '127.0.0.1:40123', origin: 'http://127.0.0.1:40124' }, // another local page
      { host: '127.0.0.1:40123', origin: 'https://127.0.0.1:40123' },
      { host: '127.0.0.1:40123', origin: 'http://evil.example' },
      { host: '127.0.0.1:40123', origin: 'null' }, // sandboxed frames, file: pages
      { host: '127.0.0.1:40123', origin: 'http://127.0.0.1:40123/path' }
    ]
    for (const headers of refused) expect(codeOf(() => { checkBrowserAccess(headers, port) }), JSON.stringify(headers)).toBe('ERR_BASECAMP_ORIGIN_REFUSED')
  })

  it('refuses every Host that is not a loopback name (property)', () => {
    fc.assert(fc.property(fc.domain(), fc.integer({ min: 1, max: 65535 }), (domain, port) => {
      fc.pre(domain !== 'localhost')
      expect(codeOf(() => { checkBrowserAccess({ host: `${domain}:${port}` }, port) })).toBe('ERR_BASECAMP_ORIGIN_REFUSED')
    }))
  })
})

describe('Basecamp link files', () => {
  it('writes the secret and endpoint owner-only, reads the link back, and removes only its own files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'basecamp-link-'))
    const secret = newSecret()
    const endpoint = { url: 'http://127.0.0.1:41000/', pid: process.pid, startedAt: 1 }
    await writeLinkFiles(dir, endpoint, secret)
    expect((await stat(join(dir, 'secret'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'endpoint'))).mode & 0o777).toBe(0o600)
    expect(await readLink(dir)).toEqual({ link: `http://127.0.0.1:41000/#secret=${secret}`, endpoint })
    // Another run took the folder over: its files stay.
    await removeLinkFiles(dir, { ...endpoint, url: 'http://127.0.0.1:42000/' })
    expect((await readLink(dir)).link).toContain(secret)
    await removeLinkFiles(dir, endpoint)
    await expect(readLink(dir)).rejects.toMatchObject({ code: 'ERR_BASECAMP_NOT_RUNNING' })
    // Files left by a node that was killed name a process that is gone.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid as number
    await writeLinkFiles(dir, { ...endpoint, pid: gone }, secret)
    await expect(readLink(dir)).rejects.toMatchObject({ code: 'ERR_BASECAMP_NOT_RUNNING', message: expect.stringContaining('no Basecamp runs') })
    await rm(dir, { recursive: true, force: true })
  })
})

describe('Basecamp UI files', () => {
  it('maps only plain paths inside the folder (property: nothing escapes it)', () => {
    expect(safeRelativePath('/')).toBe('index.html')
    expect(safeRelativePath('/views/logs.ts')).toBe(join('views', 'logs.ts'))
    for (const bad of ['/../secret', '/views/../../x', '/%2e%2e/x', '/.hidden', '/a//b', '/a\\b', '/%00', '/%E0%A4%A', 'relative', '/C:/x']) expect(safeRelativePath(bad), bad).toBeUndefined()
    const root = '/srv/ui'
    fc.assert(fc.property(fc.array(fc.oneof(fc.constantFrom('..', '.', '%2e%2e', '%2F', '..%2f', '%5c', 'a', 'b.ts', ''), fc.string()), { maxLength: 6 }), (segments) => {
      const rel = safeRelativePath('/' + segments.join('/'))
      if (rel === undefined) return
      const full = resolve(root, rel)
      expect(full.startsWith(root + '/')).toBe(true)
    }))
  })

  it('serves the UI with its types stripped, never its tsconfig or a file outside through a symlink', async () => {
    const files = new UiFiles(UI_DIR)
    const main = await files.get('/main.ts')
    expect(main?.type).toBe('text/javascript; charset=utf-8')
    const source = await readFile(join(UI_DIR, 'main.ts'), 'utf8')
    expect(main?.body.toString()).toBe(stripTypes(source))
    expect(main?.body.toString()).not.toMatch(/: (string|void|HTMLElement)\b/)
    expect((await files.get('/'))?.type).toBe('text/html; charset=utf-8')
    expect(await files.get('/tsconfig.json')).toBeUndefined()
    expect(await files.get('/nope.ts')).toBeUndefined()
    expect(await files.get('/views')).toBeUndefined()

    const dir = await mkdtemp(join(tmpdir(), 'basecamp-ui-'))
    await mkdir(join(dir, 'ui'))
    await writeFile(join(dir, 'outside.css'), 'body{}')
    await writeFile(join(dir, 'ui', 'a.css'), 'a{}')
    await symlink(join(dir, 'outside.css'), join(dir, 'ui', 'link.css'))
    const own = new UiFiles(join(dir, 'ui'))
    expect((await own.get('/a.css'))?.body.toString()).toBe('a{}')
    expect(await own.get('/link.css')).toBeUndefined()
    // A change on disk is served at the next request (the cache is keyed by size and mtime).
    await new Promise(resolve => setTimeout(resolve, 20))
    await writeFile(join(dir, 'ui', 'a.css'), 'a{color:red}')
    expect((await own.get('/a.css'))?.body.toString()).toBe('a{color:red}')
    await rm(dir, { recursive: true, force: true })
  })

  it('strips types without a warning on the node\'s terminal', () => {
    const warnings: string[] = []
    const onWarning = (w: Error): void => { warnings.push(w.message) }
    process.on('warning', onWarning)
    expect(stripTypes('const a: number = 1\nexport function f (b: string): void {}\n')).toBe('const a         = 1\nexport function f (b        )       {}\n')
    process.off('warning', onWarning)
    expect(warnings.filter(w => w.includes('stripTypeScriptTypes'))).toEqual([])
  })
})

describe('Basecamp UI helpers', () => {
  it('formats sizes, durations and call times', () => {
    expect(formatBytes(undefined)).toBe('—')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(200 * 1024 * 1024)).toBe('200 MiB')
    expect(formatDuration(850)).toBe('850 ms')
    expect(formatDuration(12_300)).toBe('12.3 s')
    expect(formatDuration(245_000)).toBe('4 m 05 s')
    expect(formatDuration(3 * 3600_000 + 120_000)).toBe('3 h 02 m')
    expect(formatNanos(42_000)).toBe('42 µs')
    expect(formatNanos(3_210_000)).toBe('3.21 ms')
  })

  it('makes a params template from a method\'s schema, and parses what a user typed', () => {
    expect(paramsTemplate(undefined)).toBe('')
    expect(JSON.parse(paramsTemplate({ type: 'object', properties: { name: { type: 'string' }, limit: { type: 'integer' } }, required: ['name'] }))).toEqual({ name: '' })
    expect(JSON.parse(paramsTemplate({ type: 'object', properties: { level: { enum: ['warn', 'error'] }, n: { type: 'number', default: 3 } }, required: ['level', 'n'] }))).toEqual({ level: 'warn', n: 3 })
    expect(parseParams('  ')).toEqual({ ok: true, value: undefined })
    expect(parseParams('{"by": 2}')).toEqual({ ok: true, value: { by: 2 } })
    expect(parseParams('{by: 2}').ok).toBe(false)
  })

  it('describes trace records and tells failures apart', () => {
    const call = { type: 'call' as const, id: 2, parentId: 1, depth: 1, caller: 'alpha', target: 'beta', method: 'relay', at: 0, durationNs: 1_500_000, ok: false, error: { code: 'ERR_X', message: 'no' } }
    expect(describeRecord(call)).toBe('alpha → beta.relay  1.50 ms  ERR_X: no')
    expect(isFailure(call)).toBe(true)
    expect(isFailure({ ...call, ok: true })).toBe(false)
    expect(isFailure({ type: 'lifecycle', module: 'a', from: 'running', to: 'failed', at: 0 })).toBe(true)
    expect(isFailure({ type: 'supervision', module: 'a', action: 'restarted', at: 0, detail: {} })).toBe(false)
    expect(describeRecord({ type: 'event', source: 'counter', event: 'incremented', at: 0, subscribers: 1 })).toBe('counter emitted incremented (1 subscriber)')
    expect(atLeast('warn', 'info')).toBe(true)
    expect(atLeast('debug', 'info')).toBe(false)
  })

  it('reads only known routes from the URL fragment', () => {
    expect(routeOf('#/modules')).toBe('modules')
    expect(routeOf('#/module/process-manager')).toBe('module/process-manager')
    expect(routeOf('#secret=abc')).toBeUndefined()
    expect(routeOf('#/module/<img>')).toBeUndefined()
    expect(routeOf('#/settings')).toBeUndefined()
  })
})
