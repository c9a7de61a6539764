import type { Stream } from '@libp2p/interface'
import { raceSignal } from '../../common/index.ts'

/**
 * Resolves once a stream whose `send` returned false may be written again: on 'drain', or on 'close' (then the next
 * write fails with the stream's own error instead of waiting for a drain that never comes).
 */
export async function drained (stream: Stream, signal?: AbortSignal): Promise<void> {
  await raceSignal(new Promise<void>((resolve) => {
    const done = (): void => {
      stream.removeEventListener('drain', done)
      stream.removeEventListener('close', done)
      resolve()
    }
    stream.addEventListener('drain', done)
    stream.addEventListener('close', done)
  }), signal)
}
