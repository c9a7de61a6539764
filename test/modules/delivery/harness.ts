import { join } from 'node:path'
import { delay } from '../../../src/common/index.ts'
import { startNode } from '../../../src/apps/node/index.ts'
import type { LogosNode } from '../../../src/apps/node/index.ts'
import { WAKU_RLN_IDENTIFIER } from '../../../src/net/delivery/index.ts'
import { testResourcesDir } from '../../crypto/rln/helpers.ts'

/**
 * Real Logos nodes (kernel + network + rln + delivery, and whatever else a test adds) on loopback TCP, the first one
 * the RLN membership registrar, the others following it. Used by the delivery and chat tests and the benchmark.
 */

export interface Recorded { event: string, payload: Record<string, unknown>, at: number }

export class TestNode {
  readonly name: string
  readonly dataDir: string
  node!: LogosNode
  peerId = ''
  multiaddrs: string[] = []
  readonly events: Recorded[] = []

  constructor (name: string, dataDir: string) {
    this.name = name
    this.dataDir = dataDir
  }

  async call<R = Record<string, unknown>> (module: string, method: string, params?: unknown, timeout = 60_000): Promise<R> {
    return await this.node.kernel.call<R>(module, method, params, { timeout })
  }

  /** Events of `module` recorded since start, as `module:event`. */
  of (event: string): Array<Record<string, unknown>> {
    return this.events.filter(e => e.event === event).map(e => e.payload)
  }

  /** Waits until an event matching `match` was recorded; returns it. */
  async waitFor (event: string, match: (p: Record<string, unknown>) => boolean = () => true, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const hit = this.of(event).find(match)
      if (hit !== undefined) return hit
      if (Date.now() > end) throw new Error(`${this.name}: no ${event} within ${timeoutMs} ms (have: ${this.events.map(e => e.event).join(', ')})`)
      await delay(50)
    }
  }

  async stop (): Promise<void> {
    await this.node?.stop()
  }
}

export interface NodeSpec {
  name: string
  baseDir: string
  bootstrap?: string[]
  registrarKey?: string
  registrar?: boolean
  rln?: boolean
  delivery?: Record<string, unknown>
  rlnConfig?: Record<string, unknown>
  network?: Record<string, unknown>
  /** Other modules to run (and their configs). */
  extra?: Record<string, Record<string, unknown>>
  /** Modules whose events are recorded (default delivery). */
  watch?: string[]
}

/** The RLN parameters of the tests: the Waku Network's (600 s epochs, identifier, 50 roots), a small limit. */
export function testRlnConfig (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resources: testResourcesDir(),
    download: false,
    workers: 1,
    lightWorkers: 1,
    precompute: 1,
    epochPeriodSeconds: 600,
    maxEpochGap: 1,
    rootWindow: 50,
    rlnIdentifier: WAKU_RLN_IDENTIFIER,
    userMessageLimit: 20,
    ...overrides
  }
}

export async function startTestNode (spec: NodeSpec, existing?: TestNode): Promise<TestNode> {
  const t = existing ?? new TestNode(spec.name, join(spec.baseDir, spec.name))
  const rln = spec.rln !== false
  const membership = !rln ? { mode: 'off' } : spec.registrar === true ? { mode: 'registrar', snapshotIntervalMs: 1_000 } : spec.registrarKey !== undefined ? { mode: 'follow', registrarKey: spec.registrarKey } : { mode: 'off' }
  const modules: Record<string, { config: Record<string, unknown> }> = {
    network: { config: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: spec.bootstrap ?? [], mix: { enabled: false }, relay: { heartbeatMs: 500 }, ...spec.network } },
    rln: { config: testRlnConfig(spec.rlnConfig) },
    delivery: { config: { rln, membership, healthyPeers: 2, ...spec.delivery } }
  }
  for (const [name, config] of Object.entries(spec.extra ?? {})) modules[name] = { config }
  t.node = await startNode({
    dataDir: t.dataDir,
    only: ['network', 'rln', 'delivery', ...Object.keys(spec.extra ?? {})],
    packages: false,
    startTimeoutMs: 120_000,
    config: { logLevel: (process.env.LOGOS_TEST_LOG_LEVEL ?? 'warn') as 'warn', modules }
  })
  const failed = t.node.results.filter(r => r.state !== 'running')
  if (failed.length > 0) {
    await t.node.stop()
    throw new Error(`${spec.name}: ${failed.map(f => `${f.name} ${f.state}: ${f.error?.message ?? ''} ${JSON.stringify((f.error as { cause?: unknown } | undefined)?.cause ?? '')}`).join('; ')}`)
  }
  for (const module of spec.watch ?? ['delivery']) {
    t.node.kernel.subscribe('test', module, '*', (payload, meta) => { t.events.push({ event: `${meta.source}:${meta.event}`, payload: payload as Record<string, unknown>, at: Date.now() }) })
  }
  const info = await t.call<{ peerId: string, multiaddrs: string[] }>('network', 'info')
  t.peerId = info.peerId
  t.multiaddrs = info.multiaddrs.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${info.peerId}`)
  return t
}

/**
 * `count` nodes: the first is the registrar (when RLN is on), the others bootstrap from it and follow it. Resolves
 * once every node sees the others on the relay and (with RLN) is a member.
 */
export async function startTestNet (count: number, baseDir: string, options: Partial<NodeSpec> & { names?: string[] } = {}): Promise<TestNode[]> {
  const names = options.names ?? Array.from({ length: count }, (_, i) => `node-${i}`)
  const first = await startTestNode({ ...options, name: names[0] as string, baseDir, registrar: options.rln !== false })
  const registrarKey = options.rln === false ? undefined : (await first.call<{ membership: { registrarKey: string } }>('delivery', 'info')).membership.registrarKey
  const rest = await Promise.all(names.slice(1).map(async (name) => await startTestNode({ ...options, name, baseDir, bootstrap: first.multiaddrs, registrarKey })))
  const nodes = [first, ...rest]
  await waitReady(nodes, options.rln !== false)
  return nodes
}

export async function waitReady (nodes: TestNode[], rln: boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const reports = await Promise.all(nodes.map(async n => await n.call<{ relayPeers: number, membership?: { member: boolean, members: number } }>('delivery', 'health')))
    const ok = reports.every(r => r.relayPeers >= nodes.length - 1 && (!rln || (r.membership?.member === true && r.membership.members >= nodes.length)))
    if (ok) return
    if (Date.now() > end) throw new Error(`the test net is not ready: ${JSON.stringify(reports.map(r => ({ relayPeers: r.relayPeers, membership: r.membership })))}`)
    await delay(200)
  }
}

/** Milliseconds left in the current RLN epoch of `periodSeconds`. */
export function msLeftInEpoch (periodSeconds = 600): number {
  const p = periodSeconds * 1000
  return p - (Date.now() % p)
}
