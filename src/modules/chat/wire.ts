import { Reader, Writer, memberIdOf, signBytes, toHex, utf8Bytes, verifyBytes } from './crypto.ts'
import { CHAT_APPLICATION, CHAT_VERSION } from './constants.ts'

/**
 * The chat wire format (ours; libchat's chat_proto is protobuf and not yet stable). Integers big-endian, `bytes` a
 * varint length then the bytes, every frame starting with the version byte 1.
 *
 * Topics: a node's inbox is `/logos-chat/1/{address}/proto` (the digest's inbox topic), its intro (key package)
 * `/logos-chat/1/{address}-intro/proto`, a 1:1 conversation `/logos-chat/1/{conversation id}/proto`.
 *
 * | where | frame |
 * | --- | --- |
 * | intro topic | the MLS KeyPackage (MLSMessage) of the address's identity: self-signed, its credential is the address |
 * | inbox, type 1 | welcome: `bytes conversation_id (16), bytes welcome (MLSMessage)` — a 1:1 conversation made for you |
 * | inbox, type 2 | group invite: `bytes group_id, string name, 32B inviter key, u64 at_ms, 64B signature` |
 * | 1:1 topic | an MLS PrivateMessage (MLSMessage) whose content is a content frame |
 * | group (demls) | a content frame, sent with the demls module |
 *
 * Content frames: type 1 text `u64 sent_at_ms, 16B message id (the sender's, random: the same id on every node), string text`; type 2 hello `32B chat key, 64B signature` (binds the
 * sender's De-MLS member id to its chat address in one group; signature over "logos-chat/hello/v1" || group id ||
 * De-MLS member id). The invite signature is over "logos-chat/invite/v1" || group id || name || recipient address ||
 * at_ms. Addresses are the hex of SHA-256(Ed25519 chat key)[0..20] (the De-MLS member id of the chat identity).
 */

export const WIRE_VERSION = 1
export const ADDRESS_PATTERN = /^[0-9a-f]{40}$/

export function inboxTopic (address: string): string {
  return `/${CHAT_APPLICATION}/${CHAT_VERSION}/${address}/proto`
}

export function introTopic (address: string): string {
  return `/${CHAT_APPLICATION}/${CHAT_VERSION}/${address}-intro/proto`
}

export function conversationTopic (conversationId: string): string {
  return `/${CHAT_APPLICATION}/${CHAT_VERSION}/${conversationId}/proto`
}

export function addressOf (publicKey: Uint8Array): string {
  return toHex(memberIdOf(publicKey))
}

export type InboxFrame =
  | { type: 'welcome', conversationId: string, welcome: Uint8Array }
  | { type: 'invite', groupId: string, name: string, inviterKey: Uint8Array, atMs: number, signature: Uint8Array }

export type ContentFrame =
  | { type: 'text', sentAtMs: number, messageId: string, text: string }
  | { type: 'hello', chatKey: Uint8Array, signature: Uint8Array }

export function encodeWelcomeFrame (conversationId: string, welcome: Uint8Array): Uint8Array {
  return new Writer().u8(WIRE_VERSION).u8(1).bytes(Buffer.from(conversationId, 'hex')).bytes(welcome).finish()
}

function inviteSigned (groupId: string, name: string, recipient: string, atMs: number): Uint8Array {
  return new Writer().string('logos-chat/invite/v1').string(groupId).string(name).string(recipient).u64(atMs).finish()
}

export function encodeInviteFrame (groupId: string, name: string, recipient: string, secretKey: Uint8Array, publicKey: Uint8Array, atMs = Date.now()): Uint8Array {
  const signature = signBytes(secretKey, inviteSigned(groupId, name, recipient, atMs))
  return new Writer().u8(WIRE_VERSION).u8(2).string(groupId).string(name).raw(publicKey).u64(atMs).raw(signature).finish()
}

/** Checks an invite's signature for this recipient; returns the inviter's address or undefined when it does not hold. */
export function verifyInvite (f: Extract<InboxFrame, { type: 'invite' }>, recipient: string): string | undefined {
  return verifyBytes(f.inviterKey, inviteSigned(f.groupId, f.name, recipient, f.atMs), f.signature) ? addressOf(f.inviterKey) : undefined
}

export function decodeInboxFrame (bytes: Uint8Array): InboxFrame {
  const r = new Reader(bytes)
  if (r.u8('version') !== WIRE_VERSION) throw new RangeError('unknown chat wire version')
  const type = r.u8('type')
  if (type === 1) {
    const id = r.bytes('conversation id', 16)
    if (id.length !== 16) throw new RangeError('a conversation id is 16 bytes')
    const welcome = r.bytes('welcome')
    r.end()
    return { type: 'welcome', conversationId: toHex(id), welcome }
  }
  if (type === 2) {
    const groupId = r.string('group id', 64)
    const name = r.string('name', 1024)
    const inviterKey = r.raw(32, 'inviter key')
    const atMs = r.u64n('at')
    const signature = r.raw(64, 'signature')
    r.end()
    return { type: 'invite', groupId, name, inviterKey, atMs, signature }
  }
  throw new RangeError(`unknown inbox frame type ${type}`)
}

export function encodeText (text: string, sentAtMs: number, messageId: string): Uint8Array {
  return new Writer().u8(WIRE_VERSION).u8(1).u64(sentAtMs).raw(Buffer.from(messageId, 'hex')).bytes(utf8Bytes(text)).finish()
}

function helloSigned (groupId: string, demlsMemberId: string): Uint8Array {
  return new Writer().string('logos-chat/hello/v1').string(groupId).bytes(Buffer.from(demlsMemberId, 'hex')).finish()
}

export function encodeHello (groupId: string, demlsMemberId: string, secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return new Writer().u8(WIRE_VERSION).u8(2).raw(publicKey).raw(signBytes(secretKey, helloSigned(groupId, demlsMemberId))).finish()
}

/** The chat address a hello binds to `demlsMemberId` in `groupId`, or undefined when its signature does not hold. */
export function verifyHello (f: Extract<ContentFrame, { type: 'hello' }>, groupId: string, demlsMemberId: string): string | undefined {
  return verifyBytes(f.chatKey, helloSigned(groupId, demlsMemberId), f.signature) ? addressOf(f.chatKey) : undefined
}

export function decodeContent (bytes: Uint8Array): ContentFrame {
  const r = new Reader(bytes)
  if (r.u8('version') !== WIRE_VERSION) throw new RangeError('unknown chat wire version')
  const type = r.u8('type')
  if (type === 1) {
    const sentAtMs = r.u64n('sent at')
    const messageId = toHex(r.raw(16, 'message id'))
    const text = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes('text'))
    r.end()
    return { type: 'text', sentAtMs, messageId, text }
  }
  if (type === 2) {
    const chatKey = r.raw(32, 'chat key')
    const signature = r.raw(64, 'signature')
    r.end()
    return { type: 'hello', chatKey, signature }
  }
  throw new RangeError(`unknown content frame type ${type}`)
}
