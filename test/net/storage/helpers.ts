import { identify } from '@libp2p/identify'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import type { PeerId } from '@libp2p/interface'
import { cidToString, storage } from '../../../src/net/storage/index.ts'
import type { Provider, ProviderRouting, StorageService, StorageServiceInit } from '../../../src/net/storage/index.ts'
import { loopbackTcp } from '../loopback.ts'

export type StorageNode = Libp2p<{ storage: StorageService, identify: unknown }>

/** A provider table shared by the nodes of a test: what a DHT or discovery would answer, without either. */
export function staticRouting (): { routing: (self: () => PeerId, addrs: () => ReturnType<Libp2p['getMultiaddrs']>) => ProviderRouting, table: Map<string, Map<string, () => Provider>>, forget: (peer: string) => void } {
  // Addresses are read at lookup time: a node announces its datasets as it starts, before it listens.
  const table = new Map<string, Map<string, () => Provider>>()
  return {
    table,
    forget: (peer) => { for (const m of table.values()) m.delete(peer) },
    routing: (self, addrs) => ({
      provide: async (cid) => {
        const key = cidToString(cid)
        const m = table.get(key) ?? new Map<string, () => Provider>()
        m.set(self().toString(), () => ({ peerId: self(), multiaddrs: addrs() }))
        table.set(key, m)
      },
      unprovide: (cid) => { table.get(cidToString(cid))?.delete(self().toString()) },
      findProviders: async (cid) => [...(table.get(cidToString(cid))?.values() ?? [])].map(p => p())
    })
  }
}

/** A js-libp2p node on 127.0.0.1 TCP with the storage service (store in `dataDir`). */
export async function storageNode (dataDir: string, init: StorageServiceInit & { shared?: ReturnType<typeof staticRouting> } = {}): Promise<StorageNode> {
  const routing = init.shared?.routing(() => node.peerId, () => node.getMultiaddrs())
  const node = await createLibp2p({
    // Started below, once `node` is set: the service announces its datasets as it starts.
    start: false,
    ...loopbackTcp(),
    services: {
      identify: identify(),
      storage: storage({ dataDir, routing, ...init })
    }
  }) as unknown as StorageNode
  await node.start()
  return node
}

export function randomData (n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export async function until (check: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
