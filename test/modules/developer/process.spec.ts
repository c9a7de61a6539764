import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURES, ROOT, rpc, rpcError, waitUntil } from './harness.ts'

/**
 * End to end against a node in a process of its own: hot reload of a module made of several files (which needs
 * native ES modules: the test runner's own module loader is not the node's), and the `logos dev` CLI.
 */
const NODE = join(ROOT, 'node_modules/.bin/node')
const CLI = join(ROOT, 'src/apps/cli/logos.ts')

let work: string
let dataDir: string
let moduleDir: string
let child: ChildProcess
let node: { url: string, token: string }

/** The manifest last: a watcher that reloads between two writes sees the new version only with every file written. */
async function writeShapes (formula: string, version: string): Promise<void> {
  await writeFile(join(moduleDir, 'index.ts'), [
    'import { area } from \'./lib/area.ts\'',
    'import { unit } from \'./lib/unit.ts\'',
    'export const shapes = { start: (ctx) => ({ methods: { area: (p) => ({ area: area(p.r), unit, version: ctx.version }) } }) }',
    ''
  ].join('\n'))
  await writeFile(join(moduleDir, 'lib/area.ts'), `export function area (r) { return ${formula} }\n`)
  await writeFile(join(moduleDir, 'module.json'), JSON.stringify({ name: 'shapes', version, entry: './index.ts' }))
}

async function cli (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  const proc = spawn(NODE, [CLI, 'dev', ...args], { cwd: ROOT, env: { ...process.env, LOGOS_DATA_DIR: dataDir } })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number>((resolve) => { proc.on('close', (c) => { resolve(c ?? -1) }) })
  return { code, stdout, stderr }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'logos-dev-process-'))
  dataDir = join(work, 'data')
  moduleDir = join(work, 'shapes')
  await mkdir(join(moduleDir, 'lib'), { recursive: true })
  await writeFile(join(moduleDir, 'lib/unit.ts'), 'export const unit = \'m2\'\n')
  await writeShapes('3 * r * r', '1.0.0')
  child = spawn(NODE, [join(FIXTURES, 'run-node.ts'), dataDir, moduleDir, join(FIXTURES, 'modules/gamma')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { process.stderr.write(c) })
  await waitUntil(() => out.includes('"ready":true'), 30_000)
  const ready = JSON.parse(out.split('\n').find(l => l.includes('"ready"')) as string) as { results: Array<{ state: string }> }
  expect(ready.results.every(r => r.state === 'running')).toBe(true)
  const folder = join(dataDir, 'modules', 'developer')
  node = { url: (JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { url: string }).url, token: (await readFile(join(folder, 'token'), 'utf8')).trim() }
})

afterAll(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
  }
  await rm(work, { recursive: true, force: true })
})

describe('hot reload of a module made of several files, in a node process', () => {
  it('picks up a change to a file the entry imports', async () => {
    expect(await rpc(node, 'modules.call', { module: 'shapes', method: 'area', params: { r: 2 } })).toEqual({ area: 12, unit: 'm2', version: '1.0.0' })
    await writeShapes('Math.round(Math.PI * r * r * 100) / 100', '1.1.0')
    expect(await rpc(node, 'modules.reload', { name: 'shapes' })).toMatchObject({ ok: true, previousVersion: '1.0.0', version: '1.1.0' })
    expect(await rpc(node, 'modules.call', { module: 'shapes', method: 'area', params: { r: 2 } })).toEqual({ area: 12.57, unit: 'm2', version: '1.1.0' })
  })

  it('rolls back to the previous code of every file when an imported file breaks', async () => {
    await writeFile(join(moduleDir, 'lib/area.ts'), 'export function area () { return 0 }\nthrow new Error(\'area.ts is broken\')\n')
    await writeFile(join(moduleDir, 'lib/unit.ts'), 'export const unit = \'ft2\'\n')
    const error = await rpcError(node, 'modules.reload', { name: 'shapes' })
    expect(error.data).toMatchObject({ code: 'ERR_RELOAD_FAILED', data: { rolledBack: true } })
    expect(JSON.stringify(error.data)).toContain('area.ts is broken')
    // The running code is the previous generation of both files: not the broken area.ts, not the new unit.ts.
    expect(await rpc(node, 'modules.call', { module: 'shapes', method: 'area', params: { r: 2 } })).toEqual({ area: 12.57, unit: 'm2', version: '1.1.0' })
  })

  it('reloads on save when the folder is watched', async () => {
    await rpc(node, 'modules.watch', { name: 'shapes', debounceMs: 100 })
    await writeShapes('r * r', '2.0.0')
    await waitUntil(async () => ((await rpc<{ version: string }>(node, 'modules.call', { module: 'shapes', method: 'area', params: { r: 3 } })).version === '2.0.0'), 15_000, 50)
    expect(await rpc(node, 'modules.call', { module: 'shapes', method: 'area', params: { r: 3 } })).toEqual({ area: 9, unit: 'ft2', version: '2.0.0' })
    await rpc(node, 'modules.unwatch', { name: 'shapes' })
  })
})

describe('logos dev (the CLI) against a running node', () => {
  it('modules: a table with host, pid, uptime, restarts, CPU and memory columns', async () => {
    const { code, stdout } = await cli('modules', '--data-dir', dataDir)
    expect(code).toBe(0)
    const lines = stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+VERSION\s+STATE\s+HOST\s+PID\s+UPTIME\s+RESTARTS\s+CPU\s+MEM\s+CALLS\s+ERRORS/)
    const shapes = lines.find(l => l.startsWith('shapes'))
    expect(shapes).toMatch(new RegExp(`^shapes\\s+2\\.0\\.0\\s+running\\s+in-process\\s+${child.pid ?? 0}\\s+\\d+s\\s+0\\s+-\\s+-\\s+\\d+\\s+\\d+`))
    const json = JSON.parse((await cli('modules', '--json')).stdout) as Array<{ name: string }>
    expect(json.map(r => r.name)).toEqual(['developer', 'directory', 'gamma', 'shapes'])
  })

  it('describe, call and logs', async () => {
    const described = await cli('describe', 'gamma')
    expect(described.code).toBe(0)
    expect(described.stdout).toMatch(/^gamma 1\.0\.0 {2}running on in-process/)
    expect(described.stdout).toMatch(/methods:\n {2}leaf\n {2}fail\n {2}bug\n {2}bytes/)
    const called = await cli('call', 'gamma', 'leaf', '{"value":21}')
    expect(called).toMatchObject({ code: 0, stdout: '42\n' })
    const bytes = await cli('call', 'gamma', 'bytes', JSON.stringify({ $bytes: Buffer.from('abc').toString('base64') }))
    expect(JSON.parse(bytes.stdout)).toEqual({ $bytes: Buffer.from('cba').toString('base64') })
    const failed = await cli('call', 'gamma', 'fail')
    expect(failed.code).toBe(1)
    expect(failed.stderr).toContain('error ERR_INVALID_ARGUMENT: gamma refuses')
    const logs = await cli('logs', 'developer', '-n', '200')
    expect(logs.stdout).toMatch(/info {2}\[developer\] developer interface at http:\/\/127\.0\.0\.1:\d+\/rpc/)
    expect(logs.stdout).toMatch(/error \[developer\] reload of shapes failed; the previous code runs again/)
    const level = await cli('logs', 'gamma', '--set-level', 'debug', '-n', '1')
    expect(level.stderr).toContain('gamma: log level info -> debug')
    expect(await rpc(node, 'logs.level', { module: 'gamma' })).toEqual({ module: 'gamma', level: 'debug' })
  })

  it('trace prints the calls it sees, then stops after --count', async () => {
    let exited = false
    const tracing = cli('trace', '--types', 'call', '--modules', 'gamma', '--count', '2').finally(() => { exited = true })
    // Calls until the CLI has printed its two records and exited (it subscribes once it has started).
    const end = Date.now() + 45_000
    while (!exited && Date.now() < end) {
      await rpc(node, 'modules.call', { module: 'gamma', method: 'leaf', params: { value: 1 } })
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const { code, stdout } = await tracing
    expect(code).toBe(0)
    const lines = stdout.trim().split('\n')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toMatch(/call {2}#\d+ external -> gamma\.leaf {2}\d+\.\d{3} ms {2}ok$/)
  })

  it('reload reports the new version, or the rollback', async () => {
    await writeShapes('2 * r', '3.0.0')
    const ok = await cli('reload', 'shapes')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/^reloaded shapes 2\.0\.0 -> 3\.0\.0 in \d+ ms/)
    await writeFile(join(moduleDir, 'index.ts'), 'export const shapes = { start () { throw new Error(\'nope\') } }\n')
    const broken = await cli('reload', 'shapes')
    expect(broken.code).toBe(1)
    expect(broken.stderr).toContain('error ERR_RELOAD_FAILED')
    expect(broken.stderr).toContain('the previous code runs again')
    expect((await rpc<{ version: string }>(node, 'modules.call', { module: 'shapes', method: 'area', params: { r: 1 } })).version).toBe('3.0.0')
  })

  it('says so when no node runs at the data directory, or the token is wrong', async () => {
    const none = await cli('modules', '--data-dir', join(work, 'nowhere'))
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('error ERR_DEV_NODE_UNREACHABLE')
    const wrong = await cli('modules', '--data-dir', dataDir, '--token', 'nope')
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain('error ERR_DEV_TOKEN_INVALID')
  })
})

describe('stopping the node', () => {
  it('removes the endpoint file and keeps the token for the next start', async () => {
    const endpoint = join(dataDir, 'modules', 'developer', 'endpoint')
    expect(existsSync(endpoint)).toBe(true)
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
    expect(child.exitCode).toBe(0)
    expect(existsSync(endpoint)).toBe(false)
    expect((await readFile(join(dataDir, 'modules', 'developer', 'token'), 'utf8')).trim()).toBe(node.token)
  })
})
