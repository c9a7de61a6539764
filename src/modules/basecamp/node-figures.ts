import { memoryUsage, cpuUsage, pid, uptime } from 'node:process'
import { RelayMethodNotFound } from './relay.ts'
import type { Relay } from './relay.ts'

/** What `basecamp.node` answers: the figures of the process Basecamp runs in (the node's, on the in-process host). */
export interface NodeFigures {
  pid: number
  /** CPU time over wall time since this connection last asked (the first time: since the process started), % of one core. */
  cpuPercent: number
  rssBytes: number
  heapUsedBytes: number
  uptimeMs: number
  at: number
}

interface CpuBaseline {
  cpuMicros: number
  atMs: number
}

/** The node's figures for one page connection; each call measures CPU since that connection's previous call. */
export function nodeFigures (relay: Relay): NodeFigures {
  const usage = cpuUsage()
  const cpuMicros = usage.user + usage.system
  const atMs = performance.now()
  const last = relay.state.cpu as CpuBaseline | undefined
  relay.state.cpu = { cpuMicros, atMs } satisfies CpuBaseline
  const cpuPercent = last === undefined
    ? cpuMicros / 1000 / (uptime() * 1000) * 100
    : (cpuMicros - last.cpuMicros) / 1000 / Math.max(1, atMs - last.atMs) * 100
  const memory = memoryUsage()
  return { pid, cpuPercent: Math.round(cpuPercent * 10) / 10, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, uptimeMs: Math.round(uptime() * 1000), at: Date.now() }
}

/** The `basecamp.*` methods the relay answers itself. */
export function localMethods (session: Record<string, unknown>): (method: string, params: unknown, relay: Relay) => unknown {
  return (method, _params, relay) => {
    switch (method) {
      case 'basecamp.session': return { ...session, pid }
      case 'basecamp.node': return nodeFigures(relay)
      default: throw new RelayMethodNotFound(method)
    }
  }
}
