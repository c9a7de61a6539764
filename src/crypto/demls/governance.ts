import {
  DEFAULT_ANNOUNCE_INTERVAL_MS, DEFAULT_BATCH_WINDOW_MS, DEFAULT_TOLERANCE_MS, DEFAULT_COMMIT_BATCH_MAX,
  DEFAULT_COMMIT_INACTIVITY_MS, DEFAULT_CONSENSUS_TIMEOUT_MS, DEFAULT_FREEZE_MS, DEFAULT_MAX_REELECTION_ATTEMPTS,
  DEFAULT_PEER_SCORE, DEFAULT_PROPOSAL_EXPIRATION_MS, DEFAULT_RECOVERY_INACTIVITY_MS, DEFAULT_REPROPAGATE_MS,
  DEFAULT_SCORE_DELTAS, DEFAULT_SN_MAX, DEFAULT_SN_MIN, DEFAULT_THRESHOLD_PEER_SCORE, DEFAULT_VOTING_DELAY_MS,
  MEMBER_ID_LENGTH, WIRE_VERSION
} from './constants.ts'
import { sha256, utf8 } from './bytes.ts'
import { Reader, Writer, writeList } from './codec.ts'
import { DemlsVersionError, InvalidGroupConfigError } from './errors.ts'

/**
 * The group's governance state, kept in an MLS GroupContext extension (GOVERNANCE_EXTENSION_TYPE): the configuration
 * fixed at creation (DE-MLS: sn_min, sn_max, max_reelection_attempts and the timers are "set during group creation")
 * and the installed steward list. Because the GroupContext feeds the MLS key schedule, every member in an epoch has
 * the same governance state, joiners receive it in their Welcome, and a steward list only changes through a commit.
 */

/** "everyone": every member votes on every proposal; "stewards": DE-MLS "Multi steward with small consensuses". */
export type ConsensusMode = 'everyone' | 'stewards'

export interface GroupTimers {
  votingDelayMs: number
  consensusTimeoutMs: number
  batchWindowMs: number
  commitInactivityMs: number
  freezeMs: number
  recoveryInactivityMs: number
  proposalExpirationMs: number
  repropagateMs: number
  announceIntervalMs: number
  toleranceMs: number
}

export interface ScoreDeltas {
  brokenCommit: number
  brokenProposal: number
  censorship: number
  emergencyYesCreator: number
  emergencyNoCreator: number
  successfulCommit: number
  honestLosingCommit: number
  notSteward: number
}

export interface ScoringConfig {
  defaultScore: number
  threshold: number
  deltas: ScoreDeltas
}

export interface GroupConfig {
  mode: ConsensusMode
  snMin: number
  snMax: number
  maxReelectionAttempts: number
  livenessYes: boolean
  commitBatchMax: number
  timers: GroupTimers
  scoring: ScoringConfig
}

export interface StewardState {
  /** Member ids in commit order. */
  stewards: Uint8Array[]
  /** The first epoch the list governs; steward i commits in epoch startEpoch + i. */
  startEpoch: number
  /** The epoch the election happened in, and its retry round (inputs of the deterministic order). */
  electionEpoch: number
  retryRound: number
}

export interface Governance {
  config: GroupConfig
  stewards: StewardState
}

export type GroupConfigInit = Partial<Omit<GroupConfig, 'timers' | 'scoring'>> & {
  timers?: Partial<GroupTimers>
  scoring?: Partial<Omit<ScoringConfig, 'deltas'>> & { deltas?: Partial<ScoreDeltas> }
}

export function defaultGroupConfig (init: GroupConfigInit = {}): GroupConfig {
  const config: GroupConfig = {
    mode: init.mode ?? 'everyone',
    snMin: init.snMin ?? DEFAULT_SN_MIN,
    snMax: init.snMax ?? DEFAULT_SN_MAX,
    maxReelectionAttempts: init.maxReelectionAttempts ?? DEFAULT_MAX_REELECTION_ATTEMPTS,
    livenessYes: init.livenessYes ?? true,
    commitBatchMax: init.commitBatchMax ?? DEFAULT_COMMIT_BATCH_MAX,
    timers: {
      votingDelayMs: DEFAULT_VOTING_DELAY_MS,
      consensusTimeoutMs: DEFAULT_CONSENSUS_TIMEOUT_MS,
      batchWindowMs: DEFAULT_BATCH_WINDOW_MS,
      commitInactivityMs: DEFAULT_COMMIT_INACTIVITY_MS,
      freezeMs: DEFAULT_FREEZE_MS,
      recoveryInactivityMs: DEFAULT_RECOVERY_INACTIVITY_MS,
      proposalExpirationMs: DEFAULT_PROPOSAL_EXPIRATION_MS,
      repropagateMs: DEFAULT_REPROPAGATE_MS,
      announceIntervalMs: DEFAULT_ANNOUNCE_INTERVAL_MS,
      toleranceMs: DEFAULT_TOLERANCE_MS,
      ...init.timers
    },
    scoring: {
      defaultScore: init.scoring?.defaultScore ?? DEFAULT_PEER_SCORE,
      threshold: init.scoring?.threshold ?? DEFAULT_THRESHOLD_PEER_SCORE,
      deltas: { ...DEFAULT_SCORE_DELTAS, ...init.scoring?.deltas }
    }
  }
  validateGroupConfig(config)
  return config
}

export function validateGroupConfig (c: GroupConfig): void {
  const fail = (m: string): never => { throw new InvalidGroupConfigError(m) }
  if (c.mode !== 'everyone' && c.mode !== 'stewards') fail(`unknown consensus mode ${String(c.mode)}`)
  if (!Number.isInteger(c.snMin) || c.snMin < 1) fail('sn_min must be at least 1')
  if (!Number.isInteger(c.snMax) || c.snMax < c.snMin || c.snMax > 255) fail('sn_max must be in [sn_min, 255]')
  if (!Number.isInteger(c.maxReelectionAttempts) || c.maxReelectionAttempts < 0 || c.maxReelectionAttempts > 255) fail('max_reelection_attempts must be in [0, 255]')
  if (!Number.isInteger(c.commitBatchMax) || c.commitBatchMax < 1 || c.commitBatchMax > 1000) fail('commit batch max must be in [1, 1000]')
  for (const [k, v] of Object.entries(c.timers)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail(`timer ${k} must be an integer number of ms`)
  }
  if (c.timers.consensusTimeoutMs <= 0 || c.timers.freezeMs <= 0 || c.timers.commitInactivityMs <= 0 || c.timers.recoveryInactivityMs <= 0) {
    fail('consensus timeout, freeze, commit and recovery inactivity must be positive')
  }
  if (c.timers.proposalExpirationMs < c.timers.consensusTimeoutMs) fail('proposal expiration must be at least the consensus timeout')
  for (const [k, v] of Object.entries({ defaultScore: c.scoring.defaultScore, threshold: c.scoring.threshold, ...c.scoring.deltas })) {
    if (!Number.isSafeInteger(v) || Math.abs(v) > 1_000_000) fail(`score ${k} out of range`)
  }
  if (c.scoring.threshold >= c.scoring.defaultScore) fail('the removal threshold must be below the default score')
}

const TIMER_KEYS: Array<keyof GroupTimers> = [
  'votingDelayMs', 'consensusTimeoutMs', 'batchWindowMs', 'commitInactivityMs', 'freezeMs', 'recoveryInactivityMs',
  'proposalExpirationMs', 'repropagateMs', 'announceIntervalMs', 'toleranceMs'
]
const DELTA_KEYS: Array<keyof ScoreDeltas> = [
  'brokenCommit', 'brokenProposal', 'censorship', 'emergencyYesCreator', 'emergencyNoCreator', 'successfulCommit',
  'honestLosingCommit', 'notSteward'
]

function writeSigned (w: Writer, v: number): void {
  w.u64(BigInt.asUintN(64, BigInt(v)))
}

function readSigned (r: Reader, what: string): number {
  return Number(BigInt.asIntN(64, r.u64(what)))
}

export function encodeGovernance (g: Governance): Uint8Array {
  const w = new Writer(256)
  const c = g.config
  w.u8(WIRE_VERSION).u8(c.mode === 'everyone' ? 0 : 1).u8(c.snMin).u8(c.snMax).u8(c.maxReelectionAttempts)
  w.bool(c.livenessYes).u16(c.commitBatchMax)
  for (const k of TIMER_KEYS) w.u32(c.timers[k])
  writeSigned(w, c.scoring.defaultScore)
  writeSigned(w, c.scoring.threshold)
  for (const k of DELTA_KEYS) writeSigned(w, c.scoring.deltas[k])
  const s = g.stewards
  w.u64(s.startEpoch).u64(s.electionEpoch).u32(s.retryRound)
  writeList(w, s.stewards, (w, id) => w.raw(id))
  return w.finish()
}

export function decodeGovernance (bytes: Uint8Array): Governance {
  const r = new Reader(bytes)
  const v = r.u8('version')
  if (v !== WIRE_VERSION) throw new DemlsVersionError(`unsupported governance version ${v}`)
  const modeCode = r.u8('mode')
  const snMin = r.u8('sn_min')
  const snMax = r.u8('sn_max')
  const maxReelectionAttempts = r.u8('max reelection')
  const livenessYes = r.bool('liveness')
  const commitBatchMax = r.u16('batch max')
  const timers = {} as GroupTimers
  for (const k of TIMER_KEYS) timers[k] = r.u32(k)
  const defaultScore = readSigned(r, 'default score')
  const threshold = readSigned(r, 'threshold')
  const deltas = {} as ScoreDeltas
  for (const k of DELTA_KEYS) deltas[k] = readSigned(r, k)
  const startEpoch = r.u64n('start epoch')
  const electionEpoch = r.u64n('election epoch')
  const retryRound = r.u32('retry round')
  const stewards = r.list(r => r.raw(MEMBER_ID_LENGTH, 'steward'), 'stewards', 255)
  r.end('governance')
  const config: GroupConfig = {
    mode: modeCode === 0 ? 'everyone' : 'stewards',
    snMin,
    snMax,
    maxReelectionAttempts,
    livenessYes,
    commitBatchMax,
    timers,
    scoring: { defaultScore, threshold, deltas }
  }
  if (modeCode > 1) throw new InvalidGroupConfigError(`unknown consensus mode ${modeCode}`)
  validateGroupConfig(config)
  return { config, stewards: { stewards, startEpoch, electionEpoch, retryRound } }
}

/** SHA-256 over a domain tag and the encoded governance: what each commit's authenticated data carries. */
export function governanceDigest (g: Governance): Uint8Array {
  return sha256(utf8('demls/governance/v1'), encodeGovernance(g))
}
