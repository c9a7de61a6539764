import { basePointMul, generateMixKeyPair, importScalar } from '../../crypto/sphinx/index.ts'
import type { ProcessingKey } from '../../crypto/sphinx/index.ts'
import { MAX_RETIRING_KEYS, REPLAY_ROTATE_FRACTION } from './constants.ts'
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
  /** The share of a table's capacity at which its key rotates (default REPLAY_ROTATE_FRACTION). */
  rotateFraction?: number
  /** Called (once per key) when the current key's replay table reaches its rotation threshold. */
  onExhausted: () => void
}

/**
 * This node's X25519 mix key and its replay table, plus the keys retired in the last grace period (packets and
 * SURBs built with them are still in flight). A packet is tried with the current key, then the retiring ones,
 * newest first (see processPacket).
 *
 * Rotation for a filling table happens early, at `rotateFraction` of its capacity, so a retired key keeps the rest
 * of its table for the packets still in flight under it: its grace period is honoured whatever forced the rotation.
 * That room suffices when it is at least what the node can process during a grace period: every processed packet
 * takes a slot of the epoch budget first (mixnet.ts), so at most R x (grace / P + 1) tags arrive in that time; with
 * the defaults, 20 % of 1 M tags against 2400 x 31. Past its capacity a table refuses new tags (a typed drop) but
 * its key stays until its grace ends; a key is never dropped early because its table is full.
 */
export class KeyManager {
  private current: MixKey
  /** Retired keys still in their grace period, newest first (at most MAX_RETIRING_KEYS). */
  private retiring: Array<{ key: MixKey, retireAt: number }> = []
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
    if (this.retiring.length > 0 && this.retiring.some(r => r.retireAt <= now)) this.retiring = this.retiring.filter(r => r.retireAt > now)
    if (this.retiring.length === 0) return [this.current]
    return [this.current, ...this.retiring.map(r => r.key)]
  }

  /**
   * A fresh key; the old one keeps working for the grace period. Rotations closer together than the grace period
   * keep at most MAX_RETIRING_KEYS old keys (the oldest goes first).
   */
  rotate (privateKey?: Uint8Array, now = Date.now()): Uint8Array {
    this.retiring.unshift({ key: this.current, retireAt: now + this.init.graceMs })
    if (this.retiring.length > MAX_RETIRING_KEYS) this.retiring.length = MAX_RETIRING_KEYS
    this.current = this.makeKey(privateKey)
    this.rotations++
    return this.current.publicKey
  }

  replayTableSize (): number {
    return this.current.replay.size + this.retiring.reduce((n, r) => n + r.key.replay.size, 0)
  }

  private makeKey (privateKey?: Uint8Array): MixKey {
    const pair = privateKey === undefined ? generateMixKeyPair() : { privateKey, publicKey: basePointMul(privateKey) }
    const capacity = this.init.replayCacheSize
    const fraction = this.init.rotateFraction ?? REPLAY_ROTATE_FRACTION
    const replay: ReplayCache = new ReplayCache(capacity, {
      rotateAt: Math.max(1, Math.floor(capacity * fraction)),
      onRotate: () => {
        // Only the current key rotates; a retiring key filling its room is no reason to retire the new one.
        if (replay === this.current?.replay) this.init.onExhausted()
      }
    })
    return { privateKey: importScalar(pair.privateKey), publicKey: pair.publicKey, replay, createdAt: Date.now() }
  }
}
