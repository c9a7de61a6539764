import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { delay } from '../../common/index.ts'
import type { DiscoveryParams } from '../../net/discovery/index.ts'
import { startNode } from '../node/index.ts'
import type { LogosNode, ModuleSettings } from '../node/index.ts'
import type { LogLevel } from '../../kernel/index.ts'
import { DEVNET_DISCOVERY, DEVNET_MIX, DEVNET_MODULES, READY_PEERS, READY_POLL_MS, READY_TIMEOUT_MS } from './constants.ts'
import { DevnetStartError } from './errors.ts'

export interface DevnetOptions {
  /** How many nodes (at least 1). */
  nodes: number
  /** Where the nodes' data directories go (node-0, node-1, ...); a fresh temporary folder when absent. */
  baseDir?: string
  /** Modules of the distribution each node runs (default ['network']); 'all' runs the whole distribution. */
  modules?: string[] | 'all'
  /** Discovery parameters over DEVNET_DISCOVERY. */
  discovery?: Partial<DiscoveryParams>
  /** Extra network module configuration for every node (e.g. `mix` options). */
  network?: Record<string, unknown>
  /** Configuration of other modules, by name, for every node. */
  moduleConfig?: Record<string, Record<string, unknown>>
  /** Keep the data directories after stop (always kept when `baseDir` was given). */
  keep?: boolean
  logLevel?: LogLevel
  readyTimeoutMs?: number
  signal?: AbortSignal
}

export interface DevnetPeer {
  index: number
  peerId: string
  multiaddrs: string[]
  dataDir: string
}

export interface Devnet {
  nodes: LogosNode[]
  /** Each node's identity and addresses, in the order of `nodes`. */
  peers: DevnetPeer[]
  baseDir: string
  stop: () => Promise<void>
}

interface NetworkInfo {
  peerId: string
  multiaddrs: string[]
}

interface NetworkStatus {
  connections: number
  discoveryPeers: number
}

async function bootNode (index: number, baseDir: string, options: DevnetOptions, bootstrap: string[]): Promise<LogosNode> {
  const dataDir = join(baseDir, `node-${index}`)
  await mkdir(dataDir, { recursive: true })
  const modules: Record<string, ModuleSettings> = {}
  for (const [name, config] of Object.entries(options.moduleConfig ?? {})) modules[name] = { config }
  modules.network = {
    config: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      ...options.network,
      mix: { ...DEVNET_MIX, ...(options.network?.mix as Record<string, unknown> | undefined) },
      bootstrap,
      discovery: { ...DEVNET_DISCOVERY, ...options.discovery }
    }
  }
  const wanted = options.modules ?? DEVNET_MODULES
  const node = await startNode({
    dataDir,
    only: wanted === 'all' ? undefined : [...new Set([...wanted, 'network'])],
    config: { logLevel: options.logLevel ?? 'warn', modules }
  })
  const failed = node.results.find(r => r.name === 'network' && r.state !== 'running')
  if (failed !== undefined || !node.results.some(r => r.name === 'network')) {
    await node.stop()
    throw new DevnetStartError(`devnet node ${index}: the network module did not start${failed?.error === undefined ? '' : `: ${failed.error.message}`}`, { cause: failed?.error })
  }
  return node
}

/**
 * N full nodes on loopback, each a real Logos node (kernel + modules) with its own data directory and ports. The
 * first starts alone; the others start together, bootstrapped from it; startDevnet resolves once every node knows
 * enough discovery peers to advertise and look up.
 */
export async function startDevnet (options: DevnetOptions): Promise<Devnet> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1) throw new DevnetStartError('a devnet needs a positive whole number of nodes')
  const ownDir = options.baseDir === undefined
  const baseDir = options.baseDir ?? await mkdtemp(join(tmpdir(), 'logos-devnet-'))
  const nodes: LogosNode[] = []
  const stop = async (): Promise<void> => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    if (ownDir && options.keep !== true) await rm(baseDir, { recursive: true, force: true })
  }
  try {
    const first = await bootNode(0, baseDir, options, [])
    nodes.push(first)
    const firstInfo = await first.kernel.call('network', 'info') as NetworkInfo
    const bootstrap = firstInfo.multiaddrs.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${firstInfo.peerId}`)
    const rest = await Promise.allSettled(Array.from({ length: options.nodes - 1 }, async (_, i) => await bootNode(i + 1, baseDir, options, bootstrap)))
    for (const r of rest) if (r.status === 'fulfilled') nodes.push(r.value)
    const failure = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failure !== undefined) throw failure.reason

    const wantPeers = Math.min(READY_PEERS, options.nodes - 1)
    const deadline = Date.now() + (options.readyTimeoutMs ?? READY_TIMEOUT_MS)
    for (;;) {
      const statuses = await Promise.all(nodes.map(async n => await n.kernel.call('network', 'status') as NetworkStatus))
      if (statuses.every(s => s.discoveryPeers >= wantPeers)) break
      if (Date.now() > deadline) {
        throw new DevnetStartError(`devnet not connected after ${options.readyTimeoutMs ?? READY_TIMEOUT_MS} ms: discovery peers per node ${statuses.map(s => s.discoveryPeers).join(',')}`)
      }
      await delay(READY_POLL_MS, { signal: options.signal })
    }
    const peers = await Promise.all(nodes.map(async (n, index) => {
      const info = await n.kernel.call('network', 'info') as NetworkInfo
      return { index, peerId: info.peerId, multiaddrs: info.multiaddrs, dataDir: n.dataDir }
    }))
    return { nodes, peers, baseDir, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
