import { randomBytes, randomInt } from 'node:crypto'
import type { Logger, PeerId } from '@libp2p/interface'
import { TimeoutError, combineSignals, raceSignal } from '../../common/index.ts'
import type { AbortOptions } from '../../common/index.ts'
import type { MixInternalMessage, MixNodeInfo } from '../mix/index.ts'
import { Reader, Writer, toHex } from './bytes.ts'
import { HIDDEN_SERVICES_CODEC, HSDIR_REPLICAS } from './constants.ts'
import { compareDistance, ringPosition } from './directory.ts'
import type { DescriptorStore } from './directory.ts'
import { HiddenMalformedError } from './errors.ts'
import type { HiddenMixTransport } from './transport.ts'

/** What the service, client and relay roles of one node share. */
export interface HiddenContext {
  transport: HiddenMixTransport
  self: PeerId
  now: () => number
  epochLengthMs: number
  /** How long a publish or fetch waits for a directory's answer. */
  directoryTimeoutMs: number
  entropy: (epoch: bigint) => Uint8Array
  store: DescriptorStore
  log: Logger
  /** Counts and reports a dropped message or a failed step (never thrown across the mix service). */
  reject: (err: unknown) => void
  /** Counters the stats report. */
  count: (name: string, n?: number) => void
  /** Handles a reserved-codec message addressed to this very node (a client whose introduction point is itself). */
  deliverLocal: (msg: MixInternalMessage) => Promise<void>
}

/** A directory responsible for a key: a mix node, or this node itself. */
export type DirectoryNode = { self: true } | { self: false, node: MixNodeInfo }

/** The HSDIR_REPLICAS nodes (known mix nodes and this one) closest to `discKey` on the ring (see directory.ts). */
export function responsibleDirectories (ctx: HiddenContext, discKey: Uint8Array, replicas = HSDIR_REPLICAS): DirectoryNode[] {
  const ring: Array<{ pos: Uint8Array, dir: DirectoryNode }> = [{ pos: ringPosition(ctx.self.toMultihash().bytes), dir: { self: true } }]
  const seen = new Set<string>([ctx.self.toString()])
  for (const node of ctx.transport.knownNodes()) {
    const id = node.peerId.toString()
    if (seen.has(id)) continue
    seen.add(id)
    ring.push({ pos: ringPosition(node.peerId.toMultihash().bytes), dir: { self: false, node } })
  }
  ring.sort((a, b) => compareDistance(a.pos, b.pos, discKey))
  return ring.slice(0, replicas).map(r => r.dir)
}

/** Known mix nodes other than this one. */
export function otherNodes (ctx: HiddenContext): MixNodeInfo[] {
  return ctx.transport.knownNodes().filter(n => !n.peerId.equals(ctx.self))
}

export interface ExchangeOptions extends AbortOptions {
  timeoutMs: number
  /** SURBs for the answer (default 1). */
  surbs?: number
}

/**
 * Sends one message on the reserved codec to `node` with SURBs and resolves to the first answer through them
 * (m, zero-padded), or throws TimeoutError. The SURBs are dropped afterwards.
 */
export async function exchange (ctx: HiddenContext, node: MixNodeInfo, data: Uint8Array | ((exitSecret: Uint8Array) => Uint8Array), options: ExchangeOptions): Promise<Uint8Array> {
  const group = `hs-x-${toHex(randomBytes(8))}`
  let resolve: (m: Uint8Array) => void = () => {}
  const answer = new Promise<Uint8Array>((res) => { resolve = res })
  try {
    const surbs = ctx.transport.createSurbs(options.surbs ?? 1, { group, ttlMs: options.timeoutMs + 5_000, exclude: [node.peerId], onReply: (m) => { resolve(m) } })
    await ctx.transport.sendToExit(node, HIDDEN_SERVICES_CODEC, data, { surbs, signal: options.signal })
    return await raceSignal(answer, combineSignals([options.signal], options.timeoutMs)).catch((err: unknown) => {
      if (err instanceof TimeoutError) throw new TimeoutError(`no answer from ${node.peerId.toString()} within ${options.timeoutMs} ms`, { cause: err })
      throw err
    })
  } finally {
    ctx.transport.dropSurbs(group)
  }
}

/**
 * Requests and responses inside a session (our application framing over hs 10; decision):
 *   request  = protocol (u8 length, UTF-8) | payload
 *   response = status (u8: 0 ok, 1 no handler for the protocol, 2 handler failed, 3 handler timed out) | payload
 */
export const RESPONSE_STATUS = { ok: 0, noHandler: 1, failed: 2, timeout: 3 } as const
export const RESPONSE_STATUS_NAMES: Record<number, string> = { 0: 'ok', 1: 'no handler for the protocol', 2: 'handler failed', 3: 'handler timed out' }

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

export function encodeRequest (protocol: string, payload: Uint8Array): Uint8Array {
  return new Writer().var8(utf8.encode(protocol)).bytes(payload).finish()
}

export function decodeRequest (data: Uint8Array): { protocol: string, payload: Uint8Array } {
  const r = new Reader(data)
  let protocol: string
  try {
    protocol = utf8Strict.decode(r.var8())
  } catch (err) {
    if (err instanceof HiddenMalformedError) throw err
    throw new HiddenMalformedError('protocol is not UTF-8', { cause: err })
  }
  return { protocol, payload: r.rest() }
}

export function encodeResponse (status: number, payload: Uint8Array): Uint8Array {
  return new Writer().u8(status).bytes(payload).finish()
}

export function decodeResponse (data: Uint8Array): { status: number, payload: Uint8Array } {
  const r = new Reader(data)
  return { status: r.u8(), payload: r.rest() }
}

/** A uniformly shuffled copy (Fisher-Yates with the OS CSPRNG). */
export function shuffle<T> (items: readonly T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    const t = out[i] as T
    out[i] = out[j] as T
    out[j] = t
  }
  return out
}
