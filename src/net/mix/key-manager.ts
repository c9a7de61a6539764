import { basePointMul, generateMixKeyPair, importScalar } from '../../crypto/sphinx/index.ts'
import type { ProcessingKey } from '../../crypto/sphinx/index.ts'
import { ReplayCache } from './replay-cache.ts'

interface MixKey extends ProcessingKey {
  publicKey: Uint8Array
  replay: ReplayCache
  createdAt: number
}

export interface KeyManagerInit {
  privateKey?: Uint8Array
  replayCacheSize: number
  graceMs: number
  /** Called (once per key) when the current key's replay table fills up and the key must rotate. */
  onExhausted: () => void
}

/**
 * This node's X25519 mix key and its replay table, plus the previous key during its grace period after a rotation
 * (packets and SURBs built with the old key are still in flight). A packet is tried with the current key, then
 * the previous one (see processPacket).
 */
export class KeyManager {
  private current: MixKey
  private previous?: { key: MixKey, retireAt: number }
  private readonly init: KeyManagerInit
  rotations = 0

  constructor (init: KeyManagerInit) {
    this.init = init
    this.current = this.makeKey(init.privateKey)
  }

  get publicKey (): Uint8Array {
    return this.current.publicKey
  }

  /** The keys packets are processed with now, current first. */
  processingKeys (now = Date.now()): ProcessingKey[] {
    if (this.previous !== undefined && (this.previous.retireAt <= now || this.previous.key.replay.full)) this.previous = undefined
    return this.previous === undefined ? [this.current] : [this.current, this.previous.key]
  }

  /** A fresh key; the old one keeps working for the grace period. */
  rotate (privateKey?: Uint8Array, now = Date.now()): Uint8Array {
    this.previous = { key: this.current, retireAt: now + this.init.graceMs }
    this.current = this.makeKey(privateKey)
    this.rotations++
    return this.current.publicKey
  }

  replayTableSize (): number {
    return this.current.replay.size + (this.previous?.key.replay.size ?? 0)
  }

  private makeKey (privateKey?: Uint8Array): MixKey {
    const pair = privateKey === undefined ? generateMixKeyPair() : { privateKey, publicKey: basePointMul(privateKey) }
    let signalled = false
    const replay = new ReplayCache(this.init.replayCacheSize, () => {
      if (signalled || replay !== this.current?.replay) return
      signalled = true
      this.init.onExhausted()
    })
    return { privateKey: importScalar(pair.privateKey), publicKey: pair.publicKey, replay, createdAt: Date.now() }
  }
}
