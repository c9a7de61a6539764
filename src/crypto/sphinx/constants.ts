/**
 * Sphinx parameters of the libp2p mix protocol (logos-lips docs/anoncomms/raw/mix.md, section 8.3) and of its
 * LIONESS payload cipher (mix-lioness.md). Every size here is fixed on the wire: changing one changes the anonymity
 * set (mix.md 8.3.4), so they are constants, not options.
 */

/** kappa: the security parameter in bytes (mix.md 8.2: 128-bit security). */
export const KAPPA = 16
/** r: the maximum path length the header can carry (mix.md 8.3.1 recommends 5). */
export const MAX_HOPS = 5
/** t: the per-hop address + delay block is t*kappa bytes (mix.md 8.3.1 recommends 6). */
export const T = 6
/** The shortest path the spec allows (mix.md 8.5.1: at least three hops). */
export const MIN_HOPS = 3

/** alpha: one Curve25519 x-coordinate (mix.md 8.3.1). */
export const ALPHA_LENGTH = 32
/** beta: (r(t+1)+1)kappa = 576 bytes (mix.md 8.3.1). */
export const BETA_LENGTH = (MAX_HOPS * (T + 1) + 1) * KAPPA
/** gamma: a truncated HMAC-SHA256, kappa bytes (mix.md 8.2). */
export const GAMMA_LENGTH = KAPPA
/** The whole header: 624 bytes (mix.md 8.3.1). */
export const HEADER_LENGTH = ALPHA_LENGTH + BETA_LENGTH + GAMMA_LENGTH
/** The whole packet on the wire without a DoS proof: 4608 bytes (mix.md 8.3.2). */
export const PACKET_LENGTH = 4608
/** delta: 3984 bytes (mix.md 8.3.2). */
export const PAYLOAD_LENGTH = PACKET_LENGTH - HEADER_LENGTH
/** The all-zero payload integrity prefix checked at the exit (mix-lioness.md 6.1). */
export const INTEGRITY_PREFIX_LENGTH = KAPPA
/** m, the padded application message: 3968 bytes (mix.md 8.5.2 step 1). */
export const MESSAGE_LENGTH = PAYLOAD_LENGTH - INTEGRITY_PREFIX_LENGTH

/** One hop's routing block: address + delay + next gamma, (t+1)kappa = 112 bytes (mix.md 8.5.2 step 3.c). */
export const ROUTING_BLOCK_LENGTH = (T + 1) * KAPPA
/** The address field: t*kappa - 2 = 94 bytes (mix.md 8.4). */
export const ADDRESS_LENGTH = T * KAPPA - 2
/** The delay field: a big-endian u16 of milliseconds (mix.md 8.4). */
export const DELAY_LENGTH = 2
/** The SURB identifier carried in the exit routing block (mix.md 8.7.2 step 3). */
export const SURB_ID_LENGTH = KAPPA
/** The reply key k~ of a SURB (mix.md 8.7.1). */
export const SURB_KEY_LENGTH = KAPPA
/** A SURB in a payload: hop0 address + header + reply key = 734 bytes (mix.md 8.7.1). */
export const SURB_LENGTH = ADDRESS_LENGTH + HEADER_LENGTH + SURB_KEY_LENGTH
/** The largest mean delay the u16 field can carry (mix.md 8.4). */
export const MAX_DELAY_MS = 0xffff

/** mu: the LIONESS half-block, round-key and digest size (mix-lioness.md 3). */
export const LIONESS_MU = 32
/** LIONESS needs at least two halves of mu bytes (mix-lioness.md 5.2). */
export const LIONESS_MIN_BLOCK = 2 * LIONESS_MU

/**
 * KDF domain-separation labels (mix.md 8.2 and mix-lioness.md 4.3). The KDF is SHA-256(label || seed) with the
 * label's ASCII bytes followed directly by the seed, no separator and no length: the only reading of "dom || seed"
 * that needs no further choice, and the one the nim reference implementation uses.
 */
export const LABEL_AES_KEY = 'aes_key'
export const LABEL_IV = 'iv'
export const LABEL_MAC_KEY = 'mac_key'
export const LABEL_PAYLOAD_KEY = 'payload_enc_key'
export const LABEL_LIONESS = ['lioness_key1', 'lioness_key2', 'lioness_key3', 'lioness_key4'] as const

/** AES-128: the header key and IV are the KDF output truncated to 128 bits (mix.md 8.2). */
export const AES_KEY_LENGTH = 16
export const AES_IV_LENGTH = 16
/**
 * The MAC key is the full 32-byte KDF output. The spec truncates only the AES key and IV to 128 bits (mix.md 8.2,
 * "Header Encryption") and says of the MAC key only "derived using KDF", whose output is 256 bits; the nim code
 * truncates it to 16 bytes too. We follow the text: a 32-byte HMAC-SHA256 key.
 */
export const MAC_KEY_LENGTH = 32
