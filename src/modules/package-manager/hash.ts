import { createHash } from 'node:crypto'

/** SHA-256 of bytes, lowercase hex: the name of every chunk and the hash of every file. */
export function sha256Hex (data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex')
}

/** A lowercase hex SHA-256 digest. */
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/

export function isSha256Hex (value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX_PATTERN.test(value)
}
