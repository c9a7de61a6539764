import { createHash } from 'node:crypto'
import { InvalidArgumentError } from '../../common/index.ts'
import { CHUNK_AVG_BYTES, CHUNK_MAX_BYTES, CHUNK_MIN_BYTES, CHUNKER_ALGORITHM } from './constants.ts'

/**
 * Content-defined chunking after FastCDC (Xia et al., USENIX ATC 2016): a gear rolling hash
 * (`h = (h << 1) + GEAR[byte]`), cut-point skipping (no cut before `min`), and normalised chunking level 2 (a mask
 * with two more bits than log2(avg) before the average size, two fewer after it), which narrows the spread of chunk
 * sizes around the average. Because cuts depend only on the last ~32 bytes, an edit moves the boundaries of the
 * chunk it falls in and at most the next one; every other chunk keeps its bytes and so its hash.
 *
 * Choices where the paper leaves room (they are part of the format, named by CHUNKER_ALGORITHM):
 * - the hash is 32 bits (JavaScript's fast integer width); bit k depends on the last k + 1 bytes, so the masks use the
 *   top bits, which see the whole 32-byte window;
 * - GEAR[i] is the first 4 bytes (big-endian) of SHA-256("logos-fastcdc-gear/" + i), so any implementation can
 *   rebuild the table.
 */
export interface ChunkerParams {
  algorithm: string
  min: number
  avg: number
  max: number
}

export const DEFAULT_CHUNKER: Readonly<ChunkerParams> = Object.freeze({
  algorithm: CHUNKER_ALGORITHM,
  min: CHUNK_MIN_BYTES,
  avg: CHUNK_AVG_BYTES,
  max: CHUNK_MAX_BYTES
})

const GEAR = new Int32Array(256)
for (let i = 0; i < 256; i++) {
  GEAR[i] = createHash('sha256').update(`logos-fastcdc-gear/${i}`).digest().readInt32BE(0)
}

/** The top `bits` bits of a 32-bit word. */
function topMask (bits: number): number {
  return bits <= 0 ? 0 : (~0 << (32 - bits)) | 0
}

/** Checks the bounds: powers of two are not required, but min < avg < max and all within reason. */
export function validateChunkerParams (params: ChunkerParams): void {
  const { min, avg, max } = params
  if (params.algorithm !== CHUNKER_ALGORITHM) throw new InvalidArgumentError(`unknown chunker ${params.algorithm}`)
  for (const [k, v] of Object.entries({ min, avg, max })) {
    if (!Number.isInteger(v) || v < 64 || v > 64 * 1024 * 1024) throw new InvalidArgumentError(`chunker ${k} must be an integer in [64, 64 MiB], got ${v}`)
  }
  if (!(min < avg && avg < max)) throw new InvalidArgumentError(`chunker bounds must satisfy min < avg < max, got ${min}/${avg}/${max}`)
}

/** A chunker: `cut(data, start)` gives the length of the chunk that starts at `start`. */
export class Chunker {
  readonly params: Readonly<ChunkerParams>
  private readonly maskS: number
  private readonly maskL: number

  constructor (params: ChunkerParams = DEFAULT_CHUNKER) {
    validateChunkerParams(params)
    this.params = Object.freeze({ ...params })
    const bits = Math.round(Math.log2(params.avg))
    this.maskS = topMask(bits + 2)
    this.maskL = topMask(bits - 2)
  }

  /** Length of the chunk of `data` that starts at `start` (the rest of `data` when shorter than `min`). */
  cut (data: Uint8Array, start: number): number {
    const n = data.length - start
    const { min, avg, max } = this.params
    if (n <= min) return n
    const limit = Math.min(n, max)
    const normal = Math.min(avg, limit)
    const maskS = this.maskS
    const maskL = this.maskL
    let h = 0
    let i = min
    for (; i < normal; i++) {
      h = ((h << 1) + (GEAR[data[start + i] as number] as number)) | 0
      if ((h & maskS) === 0) return i + 1
    }
    for (; i < limit; i++) {
      h = ((h << 1) + (GEAR[data[start + i] as number] as number)) | 0
      if ((h & maskL) === 0) return i + 1
    }
    return limit
  }

  /** The chunk boundaries of `data`: lengths that add up to data.length (none for empty data). */
  split (data: Uint8Array): number[] {
    const sizes: number[] = []
    let start = 0
    while (start < data.length) {
      const len = this.cut(data, start)
      sizes.push(len)
      start += len
    }
    return sizes
  }
}
