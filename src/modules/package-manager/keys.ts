import { canonicalize } from '@tufjs/canonical-json'
import { Key, Signature } from '@tufjs/models'
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { mkdir, readFile, readdir, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../common/index.ts'
import { RepositoryConfigError } from './errors.ts'
import { sha256Hex } from './hash.ts'

/** The four top-level TUF roles (TUF spec section 2.1). */
export const TUF_ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const
export type TufRole = typeof TUF_ROLES[number]

/** An Ed25519 signing key of a repository role. */
export interface SigningKey {
  role: TufRole
  /** TUF key object (keytype/scheme "ed25519", public key as hex). */
  key: Key
  privateKey: KeyObject
}

/** The TUF key object of an Ed25519 public key; its key ID is the SHA-256 of its canonical JSON (TUF 4.2). */
export function tufKey (publicKey: KeyObject): Key {
  const jwk = publicKey.export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new RepositoryConfigError('repository keys must be Ed25519')
  const hex = Buffer.from(jwk.x, 'base64url').toString('hex')
  const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: hex } }
  return new Key({ keyID: sha256Hex(canonicalize(body)), keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: hex } })
}

export function generateSigningKey (role: TufRole): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { role, key: tufKey(publicKey), privateKey }
}

/** The signer `Metadata.sign` takes: an Ed25519 signature over the canonical bytes of `signed`. */
export function signer (key: SigningKey): (data: Buffer) => Signature {
  return (data) => new Signature({ keyID: key.key.keyID, sig: sign(null, data, key.privateKey).toString('hex') })
}

/** Writes keys as `<role>-<n>.pem` (PKCS#8, mode 0600) in a folder kept apart from the published repository. */
export async function saveKeys (dir: string, keys: SigningKey[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const counters = new Map<string, number>()
  for (const k of keys) {
    const n = counters.get(k.role) ?? 0
    counters.set(k.role, n + 1)
    const pem = k.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
    await writeFileAtomic(join(dir, `${k.role}-${n}.pem`), pem, { mode: 0o600 })
  }
}

/** Reads every `<role>-<n>.pem` of a key folder. */
export async function loadKeys (dir: string): Promise<SigningKey[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    throw new RepositoryConfigError(`cannot read the key folder ${dir}: ${(err as Error).message}`, { cause: err })
  }
  const out: SigningKey[] = []
  for (const name of names.sort()) {
    const m = /^(root|targets|snapshot|timestamp)-\d+\.pem$/.exec(name)
    if (m === null) continue
    const privateKey = createPrivateKey(await readFile(join(dir, name), 'utf8'))
    out.push({ role: m[1] as TufRole, key: tufKey(createPublicKey(privateKey)), privateKey })
  }
  return out
}

/**
 * Moves a role's keys out of use: `<role>-<n>.pem` becomes `retired-<role>-<keyid prefix>.pem`, which loadKeys
 * ignores (kept, not deleted, so an operator can still audit or recover them).
 */
export async function retireKeys (dir: string, role: TufRole): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!new RegExp(`^${role}-\\d+\\.pem$`).test(name)) continue
    const key = tufKey(createPublicKey(createPrivateKey(await readFile(join(dir, name), 'utf8'))))
    await rename(join(dir, name), join(dir, `retired-${role}-${key.keyID.slice(0, 16)}.pem`))
  }
}
