/**
 * Writes the Sphinx test vectors in this folder: `node test/crypto/sphinx/vectors/generate.ts`.
 *
 * Every input (mix keys, peer keys, the ephemeral scalars, SURB ids and keys, message ids, data) comes from
 * SHA-256("logos-mix-vectors" || label || counter), so the files are reproducible, and vectors.spec.ts recomputes
 * every output from the inputs written in the files.
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { computeVectors } from './compute.ts'

export function deterministic (label: string, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let counter = 0, o = 0; o < length; counter++) {
    const block = createHash('sha256').update('logos-mix-vectors').update(label).update(String(counter)).digest()
    out.set(block.subarray(0, Math.min(32, length - o)), o)
    o += 32
  }
  return out
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function nodeInputs (prefix: string, n: number): Array<{ peerSeed: string, mixPrivateKey: string, multiaddr: string }> {
  return Array.from({ length: n }, (_, i) => ({
    peerSeed: hex(deterministic(`${prefix}-peer-${i}`, 32)),
    mixPrivateKey: hex(deterministic(`${prefix}-mix-${i}`, 32)),
    multiaddr: `/ip4/10.0.0.${i + 1}/tcp/${4001 + i}`
  }))
}

export function vectorInputs (): Record<string, unknown> {
  return {
    kdf: ['aes_key', 'iv', 'mac_key', 'payload_enc_key', 'lioness_key1', 'lioness_key2', 'lioness_key3', 'lioness_key4']
      .map(label => ({ label, seed: hex(deterministic(`kdf-${label}`, 32)) })),
    lioness: [
      { seed: hex(deterministic('lioness-seed-0', 32)), plaintext: hex(deterministic('lioness-pt-0', 64)) },
      { seed: hex(deterministic('lioness-seed-1', 16)), plaintext: hex(deterministic('lioness-pt-1', 3984)) }
    ],
    packets: [3, 5].map(L => ({
      hops: nodeInputs(`packet${L}`, L),
      delays: Array.from({ length: L - 1 }, (_, i) => 100 + 17 * i),
      destination: { peerSeed: hex(deterministic(`packet${L}-dest`, 32)), multiaddr: '/ip4/192.168.7.9/tcp/30303' },
      ephemeral: hex(deterministic(`packet${L}-x`, 32)),
      message: { codec: '/vac/waku/lightpush/3.0.0', messageId: hex(deterministic(`packet${L}-mid`, 8)), data: hex(deterministic(`packet${L}-data`, 517)) }
    })),
    surb: {
      creator: nodeInputs('surb-creator', 1)[0],
      returnHops: nodeInputs('surb-return', 2),
      delays: [50, 75],
      id: hex(deterministic('surb-id', 16)),
      replyKey: hex(deterministic('surb-key', 16)),
      ephemeral: hex(deterministic('surb-x', 32)),
      reply: { status: 0, data: hex(deterministic('surb-reply', 300)) }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url))
  const inputs = vectorInputs()
  const vectors = await computeVectors(inputs)
  for (const [name, value] of Object.entries(vectors)) {
    await writeFile(join(here, `${name}.json`), JSON.stringify(value, null, 2) + '\n')
  }
}
