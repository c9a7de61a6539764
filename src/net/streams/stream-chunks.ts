import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { AbortOptions } from '../../common/index.ts'
import { StreamResetError } from './errors.ts'

/**
 * The chunks a libp2p stream receives until its remote end closes for writing.
 *
 * Use this instead of `for await (const chunk of stream)`: the stream's own iterator ends on the 'remoteCloseWrite'
 * and 'close' events only, so a reader that attaches after the remote has already written and closed (a short
 * request to a handler that starts on a busy event loop) gets the data but never the end, and waits until some
 * timeout. Here the stream's state is read after the listeners are attached, so an end that came first is seen.
 * The data buffered before the first listener is dispatched when the 'message' listener is added.
 */
export async function * streamChunks (stream: Stream, options: AbortOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const queue: Uint8Array[] = []
  let ended = false
  let failure: unknown
  let wake: (() => void) | undefined
  const notify = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  const onMessage = (evt: StreamMessageEvent): void => {
    queue.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray())
    notify()
  }
  const onEnd = (): void => {
    ended = true
    notify()
  }
  const onClose = (evt: StreamCloseEvent): void => {
    if (evt.error !== undefined) failure = evt.error
    ended = true
    notify()
  }
  const signal = options.signal
  const onAbort = (): void => {
    failure = signal?.reason
    notify()
  }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('remoteCloseWrite', onEnd)
  stream.addEventListener('end', onEnd)
  stream.addEventListener('close', onClose)
  signal?.addEventListener('abort', onAbort)
  try {
    if (signal?.aborted === true) throw signal.reason
    for (;;) {
      const chunk = queue.shift()
      if (chunk !== undefined) {
        yield chunk
        continue
      }
      if (failure !== undefined) throw failure
      if (stream.status === 'aborted' || stream.status === 'reset') throw new StreamResetError(stream.status)
      if (ended || stream.readableEnded || stream.status === 'closed' || (stream.remoteWriteStatus !== 'writable' && stream.readBufferLength === 0)) return
      await new Promise<void>(resolve => { wake = resolve })
    }
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('remoteCloseWrite', onEnd)
    stream.removeEventListener('end', onEnd)
    stream.removeEventListener('close', onClose)
    signal?.removeEventListener('abort', onAbort)
  }
}
