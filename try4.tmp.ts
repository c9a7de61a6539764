import { startTestNode, stopAll, waitUntil } from './test/net/discovery/helpers.ts'
const COMMON = ['/logos/test/chat/1.0.0', '/logos/test/store/1.0.0']
const EXTRA = ['/logos/test/relay/1.0.0', '/logos/test/filter/1.0.0', '/logos/test/push/1.0.0']
const t0 = Date.now()
const first = await startTestNode()
const rest = await Promise.all(Array.from({ length: 19 }, () => startTestNode()))
const nodes = [first, ...rest]
await Promise.all(rest.map(n => n.libp2p.dial(first.addr)))
await waitUntil(() => nodes.every(n => (n.discovery.node?.mainTable.size ?? 0) >= 4), 30000)
console.log('tables', Date.now() - t0, nodes.map(n => n.discovery.node?.mainTable.size).join(','))
await Promise.all(nodes.map(async (n, i) => { for (const c of COMMON) await n.discovery.advertise(c); await n.discovery.advertise(EXTRA[i % 3]!) }))
await nodes[7]!.discovery.advertise('/rare/1')
await waitUntil(() => (nodes[7]!.discovery.node?.advertiser?.state().find(s => s.protocol === '/rare/1')?.registeredAt.length ?? 0) >= 4, 30000)
console.log('registered', Date.now() - t0, nodes[7]!.discovery.node?.advertiser?.state().map(s => s.protocol + ':' + s.registeredAt.length + '/' + s.ongoing).join(' '))
const res = await Promise.all(nodes.map(async (n, i) => { const s = Date.now(); const r = await n.discovery.findProviders('/rare/1'); return `${i}:${r.length}:${Date.now()-s}` }))
console.log(res.join(' '), Date.now() - t0)
console.log('tables', nodes.map(n => n.discovery.node?.mainTable.size).join(','))
await stopAll(nodes)
