import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHAIN, rpc, rpcError, startDevNode } from './harness.ts'
import type { NodeUnderTest } from './harness.ts'

interface Recent {
  module: string
  calls: number
  failed: number
  recentCalls: Array<{ method: string, ok: boolean, id: number }>
  recentErrors: Array<{ type: string, method?: string, error?: { code: string } }>
}

let node: NodeUnderTest

beforeAll(async () => {
  node = await startDevNode({ modules: CHAIN.map(dir => ({ dir })) })
})
afterAll(async () => {
  await node.stop()
})

describe('recent calls and errors', () => {
  it('keeps each module\'s newest calls and errors in bounded rings, with totals', async () => {
    for (let i = 0; i < 130; i++) await node.kernel.call('gamma', 'leaf', { value: i })
    await expect(node.kernel.call('gamma', 'fail')).rejects.toThrow()
    await expect(node.kernel.call('gamma', 'bug')).rejects.toThrow()
    const recent = await rpc<Recent>(node, 'modules.recent', { name: 'gamma' })
    expect(recent).toMatchObject({ module: 'gamma', calls: 132, failed: 2 })
    expect(recent.recentCalls).toHaveLength(100)
    expect(recent.recentCalls.at(-1)).toMatchObject({ method: 'bug', ok: false })
    const ids = recent.recentCalls.map(c => c.id)
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(recent.recentErrors.map(e => [e.method, e.error?.code])).toEqual([['fail', 'ERR_INVALID_ARGUMENT'], ['bug', 'ERR_UNEXPECTED']])
    const few = await rpc<Recent>(node, 'modules.recent', { name: 'gamma', limit: 3 })
    expect(few.recentCalls.map(c => c.method)).toEqual(['leaf', 'fail', 'bug'])
    const rows = await rpc<Array<{ name: string, calls: number, failed: number }>>(node, 'modules.list')
    expect(rows.find(r => r.name === 'gamma')).toMatchObject({ calls: 132, failed: 2 })
    expect((await rpcError(node, 'modules.recent', { name: 'nobody' })).data?.code).toBe('ERR_MODULE_NOT_FOUND')
  })

  it('records a module that fails to start among its errors, and forgets a module when it is unloaded', async () => {
    const { defineModule } = await import('../../../src/sdk/index.ts')
    let fail = false
    await node.kernel.load(defineModule({ name: 'moody', version: '1.0.0', start: () => { if (fail) throw new Error('not today'); return { methods: { ping: () => 'pong' } } } }))
    await node.kernel.start('moody')
    await node.kernel.call('moody', 'ping')
    await node.kernel.stop('moody')
    fail = true
    await expect(node.kernel.start('moody')).rejects.toThrow()
    const recent = await rpc<Recent & { recentErrors: Array<{ type: string, to?: string }> }>(node, 'modules.recent', { name: 'moody' })
    expect(recent.calls).toBe(1)
    expect(recent.recentErrors).toMatchObject([{ type: 'lifecycle', to: 'failed' }])
    await node.kernel.unload('moody')
    fail = false
    await node.kernel.load(defineModule({ name: 'moody', version: '1.0.0', start: () => ({}) }))
    expect(await rpc<Recent>(node, 'modules.recent', { name: 'moody' })).toMatchObject({ calls: 0, recentCalls: [], recentErrors: [] })
    await node.kernel.unload('moody')
  })

  it('are fed from the trace only while the developer module runs', async () => {
    await node.kernel.stop('developer')
    expect(node.kernel.trace.active).toBe(false)
    for (let i = 0; i < 5; i++) await node.kernel.call('beta', 'relay', { value: i })
    await node.kernel.start('developer')
    const folder = join(node.dataDir, 'modules', 'developer')
    const url = (JSON.parse(await readFile(join(folder, 'endpoint'), 'utf8')) as { url: string }).url
    const restarted = { url, token: node.token }
    // A new start: a new port, the same token, and activity from now on only.
    expect(await rpc<Recent>(restarted, 'modules.recent', { name: 'beta' })).toMatchObject({ calls: 0 })
    await node.kernel.call('beta', 'relay', { value: 1 })
    expect(await rpc<Recent>(restarted, 'modules.recent', { name: 'beta' })).toMatchObject({ calls: 1 })
  })
})
