/**
 * Every default of the RLN library, each with the reason for its value.
 * Protocol: RLN v2 (vacp2p/rfc-index vac/raw/rln-v2.md, "RLN-Diff") on zerokit v0.8.0's depth-20 circuit.
 */

/** BN254 scalar field order: every RLN value (secrets, hashes, shares) is an element of this field. */
export const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n

/** Bytes of one serialized field element: zerokit writes 32 little-endian bytes (rln/src/utils.rs fr_to_bytes_le). */
export const FIELD_BYTES = 32

/** Depth of the membership Merkle tree: the ceremony circuit shipped as tree_height_20 (2^20 members). */
export const TREE_DEPTH = 20

/** Bytes of a compressed Groth16 proof as arkworks serializes it (G1 32 + G2 64 + G1 32). */
export const ZK_PROOF_BYTES = 128

/** Zerokit's proof blob: proof<128> | root | external_nullifier | x | y | nullifier (rln/src/protocol.rs). */
export const RLN_PROOF_BYTES = ZK_PROOF_BYTES + 5 * FIELD_BYTES

/** Messages per epoch a member registers for unless told otherwise (Waku and LOGOS-MIXNET both use 100). */
export const DEFAULT_USER_MESSAGE_LIMIT = 100

/**
 * Largest user_message_limit the circuit can range-check: the v2 circuit compares message_id and the limit as
 * 16-bit numbers (LIMIT_BIT_SIZE = 16 in rln-v2.md "ZK Circuits specification").
 */
export const MAX_USER_MESSAGE_LIMIT = 65535

/** Epoch length in seconds (LOGOS-MIXNET profile: 10 s epochs). */
export const DEFAULT_EPOCH_PERIOD_SECONDS = 10

/** Epochs a message may lie before or after ours (LOGOS-MIXNET max_epoch_gap = 3): the bound on clock skew. */
export const DEFAULT_MAX_EPOCH_GAP = 3

/** Recent roots accepted by a verifier (mix-spam-protection-rln.md recommends acceptable_root_window_size = 5). */
export const DEFAULT_ROOT_WINDOW = 5

/**
 * The application's RLN identifier (rln-v1.md "External nullifier"): external_nullifier = Poseidon(epoch,
 * rln_identifier). The mix RLN plugin of logos-co uses the ASCII of "mix-rln-spam-protection/v1" read as a
 * little-endian field element; we use the same so proofs interoperate.
 */
export const DEFAULT_RLN_IDENTIFIER = 'mix-rln-spam-protection/v1'

/** Shares kept per epoch by the nullifier log before it refuses new ones (a memory bound against floods). */
export const DEFAULT_MAX_SHARES_PER_EPOCH = 200_000

/**
 * Precomputed proofs the split prover keeps ready: one covers a message at a time with a millisecond online step;
 * each uses up a message_id of its epoch and is lost if the epoch passes unused, so the stock stays small.
 */
export const DEFAULT_PRECOMPUTE = 1

/**
 * How long before an epoch ends the stock of precomputed proofs starts filling for the next epoch: one to two
 * precomputations on this kind of machine (1.5-2.5 s each), so the first messages of an epoch find one ready.
 */
export const PRECOMPUTE_LEAD_MS = 3_000

/** Jobs waiting for a worker before new ones are refused (a bound so a burst cannot grow memory without end). */
export const DEFAULT_MAX_QUEUE = 256

/**
 * How long a proving thread may take to start (load its modules) before the pool gives up; the keys are loaded after
 * that, in the thread, before its first job.
 */
export const WORKER_START_TIMEOUT_MS = 120_000

/** The release of zerokit whose circuit resources (and wasm, @waku/zerokit-rln-wasm@0.2.1) we use. */
export const ZEROKIT_RELEASE = 'v0.8.0'

/** Where the resources are fetched from when neither a configured folder nor the cache has them. */
export const DEFAULT_RESOURCES_BASE_URL = `https://raw.githubusercontent.com/vacp2p/zerokit/${ZEROKIT_RELEASE}/rln/resources/tree_height_20/`

/** Time allowed for one resource download (the largest is 3.4 MB). */
export const DOWNLOAD_TIMEOUT_MS = 60_000

/** Largest file accepted from a download: the zkey is 3.4 MB, anything far larger is not the file we pinned. */
export const MAX_RESOURCE_BYTES = 16 * 1024 * 1024

/** The environment variable naming a folder of resources, for users and CI. */
export const RESOURCES_ENV = 'LOGOS_RLN_RESOURCES'

/** The environment variable naming the cache folder (defaults to $XDG_CACHE_HOME/logos or ~/.cache/logos). */
export const CACHE_ENV = 'LOGOS_CACHE_DIR'

/** The circuit files this library needs, with the sha256 each must have (zerokit v0.8.0, PSE RLN ceremony). */
export const RESOURCE_FILES = {
  /** circom witness generator of the depth-20 RLN v2 circuit */
  circuit: { name: 'rln.wasm', sha256: 'b4d2d17598d8ca8c7de34f2bdad067e7c0578b9175f7f95f753cbd39f128863f' },
  /** Groth16 proving key (BN254) from the trusted-setup ceremony; the verification key is read from it */
  zkey: { name: 'rln_final.zkey', sha256: 'ae30d3d4b29d9dab8c65ff181644a3eb57c2c0fa9f687ea3baf8c7f711d7946a' }
} as const

/** Also pinned: the witness graph newer zerokit builds use; not needed by this library, checked when present. */
export const GRAPH_FILE = { name: 'graph.bin', sha256: '2e16a7cc2cc4140fbd03179a2d361dfc18ec818217c931e73b45a4be3de45ada' } as const
