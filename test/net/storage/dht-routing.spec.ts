import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { afterAll, describe, expect, it } from 'vitest'
import { cidToString, storage } from '../../../src/net/storage/index.ts'
import type { StorageService } from '../../../src/net/storage/index.ts'
import { tempDir } from '../../helpers/temp-dir.ts'
import { randomData, until } from './helpers.ts'
import { loopbackTcp } from '../loopback.ts'

type DhtNode = Libp2p<{ storage: StorageService, dht: { routingTable: { size: number } } }>

describe('providers announced and found through the Kad-DHT (routing: dht)', () => {
  const nodes: DhtNode[] = []
  const dirs: Array<{ remove: () => Promise<void> }> = []
  afterAll(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    for (const d of dirs) await d.remove()
  })

  const dhtNode = async (): Promise<DhtNode> => {
    const dir = await tempDir('logos-dht-')
    dirs.push(dir)
    const node = await createLibp2p({
      ...loopbackTcp(),
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ protocol: '/logos/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper }),
        storage: storage({ dataDir: dir.path, routing: 'dht' })
      }
    }) as unknown as DhtNode
    nodes.push(node)
    return node
  }

  it('a node that knows only the DHT finds the uploader through its provider record and downloads', async () => {
    const [A, B, C] = [await dhtNode(), await dhtNode(), await dhtNode()]
    // A and C know only B; the DHT is all that links C to A's dataset.
    await A.dial(B.getMultiaddrs())
    await C.dial(B.getMultiaddrs())
    await until(() => A.services.dht.routingTable.size > 0 && B.services.dht.routingTable.size > 1 && C.services.dht.routingTable.size > 0, 20_000, 'DHT routing tables')
    const data = randomData(700_000, 21)
    const { cid } = await A.services.storage.store(data)
    const key = cidToString(cid)
    await until(async () => (await C.services.storage.findProviders(key)).some(p => p.peerId.equals(A.peerId)), 20_000, 'provider record of A')
    await C.services.storage.fetch(key)
    expect(Buffer.from(C.services.storage.read(key, 0, data.length)).equals(Buffer.from(data))).toBe(true)
  }, 60_000)
})
