import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HIDDEN_DEFAULTS, blindPublicKey, decodeMixAddress, epochOf } from '../../../src/net/mix-hidden/index.ts'
import type { HostedService } from '../../../src/net/mix-hidden/index.ts'
import { startHiddenNet, waitUntil } from './helpers.ts'
import type { HiddenNet, HiddenNode } from './helpers.ts'

const DAY = HIDDEN_DEFAULTS.EPOCH_LENGTH_MS
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/**
 * Every node's clock runs 15 s short of an epoch change (hs 8.3), so the test sees one happen: time enough for S to
 * host (a lost publish is sent again after 5 s) before it.
 */
const offset = (Math.floor(Date.now() / DAY) + 1) * DAY - Date.now() - 15_000
const now = (): number => Date.now() + offset

let net: HiddenNet
let S: HiddenNode
let C: HiddenNode
let service: HostedService

beforeAll(async () => {
  net = await startHiddenNet(7, { hidden: () => ({ now }) })
  S = net.nodes[6] as HiddenNode
  C = net.nodes[0] as HiddenNode
  service = await S.services.hidden.host({ protocol: '/test/epoch/1', handler: () => Uint8Array.of(7) })
}, 60_000)

afterAll(async () => { await net?.stop() })

describe('descriptors across an epoch change (hs 8.3, 8.4)', () => {
  it('before the change: the current epoch\'s descriptor is published (late in an epoch, the previous one\'s has expired)', async () => {
    const before = epochOf(now())
    expect((service.lastPublish ?? []).map(p => p.epoch)).toEqual([before])
    const d = await C.services.hidden.lookup(service.address)
    expect(d.epoch).toBe(before)
    expect(hex(d.outer.signingKey)).toBe(hex(blindPublicKey(decodeMixAddress(service.address), before)))
  })

  it('after it: S republishes under the new blinded key by itself, and a client in the new epoch finds and uses it', async () => {
    const before = epochOf(now())
    await waitUntil(() => epochOf(now()) === before + 1n && (service.lastPublish ?? []).some(p => p.epoch === before + 1n), 35_000)
    // The new epoch's descriptor, and the previous epoch's again (hs 8.3 overlap: clients whose clock lags).
    const published = service.lastPublish ?? []
    expect(published.map(p => p.epoch)).toEqual([before + 1n, before])
    for (const p of published) expect(p.stored).toBe(4)
    const d = await C.services.hidden.lookup(service.address, { fresh: true })
    expect(d.epoch).toBe(before + 1n)
    const newKey = blindPublicKey(decodeMixAddress(service.address), before + 1n)
    expect(hex(d.outer.signingKey)).toBe(hex(newKey))
    expect(hex(newKey)).not.toBe(hex(blindPublicKey(decodeMixAddress(service.address), before)))
    expect(Array.from(await C.services.hidden.request(service.address, '/test/epoch/1', new Uint8Array(0)))).toEqual([7])
  })
})
