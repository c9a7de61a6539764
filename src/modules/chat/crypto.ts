/** What the chat module uses of the De-MLS library: identities, MLS (two-member groups), and the byte codec. */
export {
  Reader, Writer, commitProposals, createKeyPackage, createMlsGroup, decodeKeyPackage, decodeMlsBytes, decodeState,
  decodeWelcome, decryptApplication, defaultGroupConfig, encodeState, encryptApplication, fromHex, generateIdentity,
  identityFromSecret, joinMlsGroup, loadCipherSuite, memberIdOf, membersOf, sha256, signBytes, toHex, verifyBytes
} from '../../crypto/demls/index.ts'
export type { CiphersuiteImpl, ClientState, Identity, OwnKeyPackage } from '../../crypto/demls/index.ts'

export function utf8Bytes (s: string): Uint8Array {
  return new TextEncoder().encode(s)
}
