import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { writeFileAtomic } from '../../common/index.ts'
import { PEER_KEY_FILE } from './constants.ts'
import { PeerKeyError } from './errors.ts'

/**
 * The node's libp2p identity, kept in its data directory: read when present, else an Ed25519 key is made and
 * written atomically with mode 0600, so a node keeps its peer id across restarts.
 */
export async function loadOrCreatePeerKey (dataDir: string): Promise<{ key: PrivateKey, created: boolean }> {
  const path = join(dataDir, PEER_KEY_FILE)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    const key = await generateKeyPair('Ed25519')
    await writeFileAtomic(path, privateKeyToProtobuf(key), { mode: 0o600 })
    return { key, created: true }
  }
  try {
    return { key: privateKeyFromProtobuf(bytes), created: false }
  } catch (err) {
    throw new PeerKeyError(`${path} is not a libp2p private key`, { cause: err })
  }
}
