/**
 * The provider side of the storage benchmark, on its own thread (the other core): a js-libp2p node with the storage
 * service that stores N MiB (timed: the upload figure), a libp2p protocol that streams N MiB raw (noise + yamux,
 * no storage), and a plain TCP server that sends N MiB to whoever connects (the baseline).
 */
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { cidToString, storage } from '../src/net/storage/index.ts'
import type { StorageService } from '../src/net/storage/index.ts'

const { mib, runs } = workerData as { mib: number, runs: number }
const bytes = mib * 1024 * 1024
const dir = mkdtempSync(join(tmpdir(), 'logos-bench-provider-'))
const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { storage: storage({ dataDir: dir, routing: { provide: async () => {}, unprovide: () => {}, findProviders: async () => [] } }) }
})
const service = node.services.storage as StorageService
const data = randomBytes(bytes)
const uploadSeconds: number[] = []
let cid
for (let i = 0; i < runs; i++) {
  // The same bytes under another filename: another dataset, the same work (chunk, hash, tree, proofs, writes).
  const t0 = performance.now()
  cid = (await service.store(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { filename: `run-${i}` })).cid
  uploadSeconds.push((performance.now() - t0) / 1000)
}

const chunk = randomBytes(64 * 1024)
await node.handle('/bench/raw/1.0.0', async (stream) => {
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
})

const server = createServer((socket) => {
  let sent = 0
  const pump = (): void => {
    while (sent < bytes) {
      sent += chunk.length
      if (!socket.write(chunk)) {
        socket.once('drain', pump)
        return
      }
    }
    socket.end()
  }
  pump()
})
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as { port: number }).port

parentPort?.postMessage({ cid: cidToString(cid as NonNullable<typeof cid>), addrs: node.getMultiaddrs().map(String), peerId: node.peerId.toString(), uploadSeconds, tcpPort: port })
parentPort?.on('message', (m: string) => {
  if (m !== 'stop') return
  server.close()
  void Promise.resolve(node.stop()).then(() => {
    rmSync(dir, { recursive: true, force: true })
    parentPort?.postMessage('stopped')
  })
})
