import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { computeVectors } from './vectors/compute.ts'
import { refKdf, refLionessEncrypt, refProcess } from './reference.ts'

/* eslint-disable @typescript-eslint/no-explicit-any -- the vector files are plain JSON */
async function load (name: string): Promise<any> {
  return JSON.parse(await readFile(new URL(`./vectors/${name}.json`, import.meta.url), 'utf8'))
}

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('published test vectors (test/crypto/sphinx/vectors/*.json)', () => {
  it('every output is recomputed exactly from the inputs in the files', async () => {
    const files = { kdf: await load('kdf'), lioness: await load('lioness'), packets: await load('packets'), surb: await load('surb') }
    const inputs = {
      kdf: files.kdf.cases.map((c: any) => ({ label: c.label, seed: c.seed })),
      lioness: files.lioness.cases.map((c: any) => ({ seed: c.seed, plaintext: c.plaintext })),
      packets: files.packets.cases.map((c: any) => c.input),
      surb: files.surb.input
    }
    const again = await computeVectors(inputs)
    for (const name of Object.keys(files) as Array<keyof typeof files>) expect(again[name], name).toEqual(files[name])
  })

  it('the files agree with a literal pure-JS implementation of the formulas', async () => {
    for (const c of (await load('kdf')).cases) expect(hex(refKdf(c.label, unhex(c.seed)))).toBe(c.output)
    for (const c of (await load('lioness')).cases) expect(hex(refLionessEncrypt(unhex(c.seed), unhex(c.plaintext)))).toBe(c.ciphertext)
    for (const c of (await load('packets')).cases) {
      let packet = unhex(c.packet)
      c.input.hops.forEach((h: any, i: number) => {
        const r = refProcess(packet, unhex(h.mixPrivateKey))
        const expected = c.hops[i]
        expect(r.type).toBe(expected.type)
        if (r.type === 'forward') {
          expect(hex(r.packet)).toBe(expected.packet)
          expect(r.delay).toBe(c.input.delays[i])
          packet = r.packet
        } else {
          expect(hex(r.payload.subarray(16))).toBe(expected.message)
          expect(hex(r.payload.subarray(16))).toBe(c.derived.message)
        }
      })
    }
  })

  it('the SURB vector ends with the creator reading the reply', async () => {
    const surb = await load('surb')
    expect(surb.hops.map((h: any) => h.type)).toEqual(['forward', 'forward', 'reply'])
    expect(surb.recoveredMessage).toBe(surb.derived.replyMessage)
    expect(unhex(surb.surb).length).toBe(734)
  })
})
/* eslint-enable @typescript-eslint/no-explicit-any */
