import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Kernel } from '../../src/kernel/index.ts'
import { tempDir } from '../helpers/temp-dir.ts'

const sdk = pathToFileURL(join(import.meta.dirname, '../../src/sdk/index.ts')).href

describe('loading modules from folders', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let kernel: Kernel
  beforeEach(async () => {
    dir = await tempDir()
    kernel = new Kernel({ dataDir: join(dir.path, 'data') })
  })
  afterEach(async () => {
    await kernel.shutdown()
    await dir.remove()
  })

  async function folder (name: string, manifest: unknown, code?: string): Promise<string> {
    const d = join(dir.path, name)
    await mkdir(d, { recursive: true })
    await writeFile(join(d, 'module.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest))
    if (code !== undefined) await writeFile(join(d, 'index.ts'), `import { defineModule } from '${sdk}'\n${code}\n`)
    return d
  }

  it('loads module.json and the named export of its entry', async () => {
    const d = await folder('my-store', { name: 'my-store', version: '0.2.0', entry: './index.ts' },
      "export const myStore = defineModule({ start: () => ({ methods: { ok: () => true } }) })")
    const entry = await kernel.load({ dir: d })
    expect(entry).toMatchObject({ name: 'my-store', version: '0.2.0', state: 'resolved', source: d })
    await kernel.start('my-store')
    expect(await kernel.call('my-store', 'ok')).toBe(true)
  })

  it('refuses bad folders with errors that say what is wrong', async () => {
    await expect(kernel.load({ dir: join(dir.path, 'missing') })).rejects.toMatchObject({ code: 'ERR_MODULE_LOAD_FAILED' })
    await expect(kernel.load({ dir: await folder('bad-json', '{ name: ') })).rejects.toMatchObject({ code: 'ERR_BAD_MANIFEST', data: { field: '(manifest)' } })
    await expect(kernel.load({ dir: await folder('no-entry', { name: 'no-entry', version: '1.0.0' }) })).rejects.toMatchObject({ code: 'ERR_BAD_MANIFEST', data: { field: 'entry' } })
    await expect(kernel.load({ dir: await folder('escape', { name: 'escape', version: '1.0.0', entry: '../../etc/passwd' }) })).rejects.toMatchObject({ code: 'ERR_BAD_MANIFEST', data: { field: 'entry' } })
  })

  it('a wrong export name or a definition that disagrees with its manifest fails the start, not the node', async () => {
    await kernel.load({ dir: await folder('wrong-export', { name: 'wrong-export', version: '1.0.0', entry: './index.ts' }, 'export const other = defineModule({ start: () => ({}) })') })
    await expect(kernel.start('wrong-export')).rejects.toMatchObject({ code: 'ERR_MODULE_START_FAILED', cause: { code: 'ERR_BAD_MANIFEST', data: { field: 'export' } } })
    await kernel.load({ dir: await folder('liar', { name: 'liar', version: '1.0.0', entry: './index.ts' }, "export const liar = defineModule({ version: '9.9.9', start: () => ({}) })") })
    await expect(kernel.start('liar')).rejects.toMatchObject({ cause: { code: 'ERR_BAD_MANIFEST', data: { field: 'version' } } })
    await kernel.load({ dir: await folder('syntax', { name: 'syntax', version: '1.0.0', entry: './index.ts' }, 'export const syntax = {{{') })
    await expect(kernel.start('syntax')).rejects.toMatchObject({ cause: { code: 'ERR_MODULE_LOAD_FAILED' } })
    expect(kernel.state('syntax')).toBe('failed')
    expect(kernel.state('directory')).toBe('running')
  })
})
