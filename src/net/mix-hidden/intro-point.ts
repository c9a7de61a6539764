import { TokenBucket } from '../../common/index.ts'
import type { MixInternalMessage } from '../mix/index.ts'
import { sha256 } from './blinding.ts'
import { toHex } from './bytes.ts'
import { INTRO_BURST, INTRO_RATE_PER_SECOND, INTRO_STATE_TTL_MS, MAX_INTRO_SERVICES, REPLAY_CACHE_SIZE } from './constants.ts'
import type { HiddenContext } from './context.ts'
import {
  HiddenCapacityError, HiddenIntroDuplicateError, HiddenNoIntroSurbError, HiddenRateLimitedError, HiddenReplayError,
  HiddenUnknownIntroError
} from './errors.ts'
import { TagCache } from './limits.ts'
import {
  INTRO_STATUS_OK, MSG, decodeEstablishIntro, decodeIntroSurbs, decodeIntroduce, encodeIntroduce, encodeStatus,
  verifyEstablishIntro, verifyIntroSurbs
} from './messages.ts'

/** The most intro-SURBs an introduction point keeps for one service, whatever surb_max asks. */
const SURB_MAX_CAP = 16

interface Registration {
  surbMax: number
  /** intro-SURBs, newest last (the newest is used first: the likeliest to be alive). */
  surbs: Uint8Array[]
  expiresAt: number
  replay: TagCache
  bucket: TokenBucket
}

/**
 * The introduction point role (hs 7.2, 9.3): a mix node that, as the exit of an EstablishIntro, keeps the service's
 * intro-SURBs under its auth_key and forwards Introduce1 from clients to it as Introduce2 through one of them.
 */
export class IntroPointRole {
  private readonly ctx: HiddenContext
  private readonly registrations = new Map<string, Registration>()
  private readonly capacity: number

  constructor (ctx: HiddenContext, capacity = MAX_INTRO_SERVICES) {
    this.ctx = ctx
    this.capacity = capacity
  }

  get size (): number {
    return this.registrations.size
  }

  /** How many intro-SURBs it holds for an auth_key (tests and stats). */
  surbsFor (authKey: Uint8Array): number {
    return this.registrations.get(toHex(authKey))?.surbs.length ?? 0
  }

  /**
   * hs 7.2: verify sig and auth_mac; refuse an auth_key already served or a full table (a silent drop: the thrown
   * error is only counted); keep the intro-SURBs and answer IntroEstablished { Ok } through the first one.
   */
  async onEstablish (msg: MixInternalMessage): Promise<void> {
    const m = decodeEstablishIntro(msg.data)
    verifyEstablishIntro(m, msg.exitSecret)
    const key = toHex(m.authKey)
    this.sweep()
    if (this.registrations.has(key)) throw new HiddenIntroDuplicateError()
    if (this.registrations.size >= this.capacity) throw new HiddenCapacityError('introduction registrations', this.capacity)
    const [ack, ...rest] = msg.surbs
    const surbMax = Math.min(m.surbMax, SURB_MAX_CAP)
    this.registrations.set(key, {
      surbMax,
      surbs: rest.slice(0, surbMax),
      expiresAt: this.ctx.now() + INTRO_STATE_TTL_MS,
      replay: new TagCache(REPLAY_CACHE_SIZE),
      bucket: new TokenBucket({ perSecond: INTRO_RATE_PER_SECOND, burst: INTRO_BURST }, this.ctx.now())
    })
    this.ctx.count('introRegistrations')
    if (ack !== undefined) await this.ctx.transport.sendViaSurb(ack, encodeStatus(MSG.introEstablished, INTRO_STATUS_OK))
  }

  /** Our refill: more intro-SURBs (or a fresh set) for a registered auth_key, which also renews the registration. */
  async onRefill (msg: MixInternalMessage): Promise<void> {
    const m = decodeIntroSurbs(msg.data)
    verifyIntroSurbs(m, msg.exitSecret)
    const reg = this.live(m.authKey)
    const [ack, ...rest] = msg.surbs
    if (m.replace) reg.surbs = []
    reg.surbs.push(...rest)
    if (reg.surbs.length > reg.surbMax) reg.surbs.splice(0, reg.surbs.length - reg.surbMax)
    reg.expiresAt = this.ctx.now() + INTRO_STATE_TTL_MS
    if (ack !== undefined) await this.ctx.transport.sendViaSurb(ack, encodeStatus(MSG.introEstablished, INTRO_STATUS_OK))
  }

  /**
   * hs 9.3: find the service by auth_key, check the client tag for replays (hs 9.5), limit the rate, forward the
   * Introduce1 unchanged as Introduce2 through an intro-SURB, and acknowledge through the client's SURB.
   */
  async onIntroduce1 (msg: MixInternalMessage): Promise<void> {
    const m = decodeIntroduce(MSG.introduce1, msg.data)
    const reg = this.live(m.authKey)
    const tag = sha256(m.clientKey)
    if (reg.replay.has(tag)) throw new HiddenReplayError('introduction point')
    reg.replay.add(tag)
    if (!reg.bucket.take(this.ctx.now())) throw new HiddenRateLimitedError('introduction point')
    const surb = reg.surbs.pop()
    if (surb === undefined) throw new HiddenNoIntroSurbError()
    await this.ctx.transport.sendViaSurb(surb, encodeIntroduce(MSG.introduce2, m))
    this.ctx.count('introductionsForwarded')
    const ack = msg.surbs[0]
    if (ack !== undefined) await this.ctx.transport.sendViaSurb(ack, encodeStatus(MSG.introduceAck, INTRO_STATUS_OK))
  }

  sweep (): void {
    const now = this.ctx.now()
    for (const [k, r] of this.registrations) if (r.expiresAt <= now) this.registrations.delete(k)
  }

  private live (authKey: Uint8Array): Registration {
    const key = toHex(authKey)
    const reg = this.registrations.get(key)
    if (reg === undefined) throw new HiddenUnknownIntroError()
    if (reg.expiresAt <= this.ctx.now()) {
      this.registrations.delete(key)
      throw new HiddenUnknownIntroError({ data: { reason: 'expired' } })
    }
    return reg
  }
}
