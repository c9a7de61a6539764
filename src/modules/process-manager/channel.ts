import { writeSync } from 'node:fs'
import type { Socket } from 'node:net'
import { QueueFullError } from '../../sdk/index.ts'
import { Writer } from './codec.ts'
import { MAX_MESSAGE_BYTES, MAX_QUEUED_BYTES } from './constants.ts'
import { PmProtocolError } from './errors.ts'
import { FrameDecoder, decodeMessage, writeFrame } from './framing.ts'
import type { Message } from './framing.ts'

export interface ChannelHandlers {
  onMessage: (message: Message) => void
  /** Once, when the socket ends, fails or carries a bad frame (then `error` says why). */
  onClose: (error?: Error) => void
}

/**
 * Messages over one socket. Messages are encoded straight into one growing buffer as they are sent and leave in one
 * write, flushed from a microtask: everything sent while the current task and its promise reactions run goes
 * together. Under load hundreds of calls and replies share a system call; a lone call is written before the event
 * loop turns, with no added delay.
 */
export class Channel {
  readonly socket: Socket
  private readonly writer = new Writer()
  private readonly maxMessageBytes: number
  private scheduled = false
  private closed = false
  private readonly decoder: FrameDecoder
  private handlers: ChannelHandlers
  private readonly flushNow = (): void => { this.flush() }

  constructor (socket: Socket, handlers: ChannelHandlers, maxMessageBytes = MAX_MESSAGE_BYTES) {
    this.socket = socket
    this.handlers = handlers
    this.maxMessageBytes = maxMessageBytes
    this.decoder = new FrameDecoder(maxMessageBytes)
    socket.setNoDelay?.(true)
    socket.on('data', (chunk: Buffer) => { this.receive(chunk) })
    socket.on('error', (err) => { this.close(err) })
    socket.on('close', () => { this.close() })
    socket.on('end', () => { this.close() })
  }

  get isClosed (): boolean {
    return this.closed
  }

  /** Bytes waiting to leave: queued here and buffered in the socket. */
  get backlog (): number {
    return this.writer.pos + this.socket.writableLength
  }

  /** Hands the channel to a new owner (a spare process adopted by a module). */
  rebind (handlers: ChannelHandlers): void {
    this.handlers = handlers
  }

  /**
   * Queues a message. Throws (before anything is queued) PmNotSerializableError, PmMessageTooLargeError,
   * QueueFullError when the peer does not read what it is sent, or PmProtocolError when the channel is closed.
   */
  send (message: Message): void {
    if (this.closed) throw new PmProtocolError('the channel is closed')
    if (this.writer.pos + this.socket.writableLength > MAX_QUEUED_BYTES) throw new QueueFullError('the bytes waiting for a module process to read them', MAX_QUEUED_BYTES)
    writeFrame(this.writer, message, this.maxMessageBytes)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flushNow)
    }
  }

  /** Writes what is queued now. */
  flush (): void {
    this.scheduled = false
    if (this.writer.pos === 0 || this.closed) return
    this.socket.write(this.writer.take())
  }

  /**
   * Writes what is queued, synchronously, straight to the file descriptor: for a process about to die. Only when the
   * socket has nothing of its own in flight (else the bytes would interleave); returns whether it wrote.
   */
  flushSync (fd: number): boolean {
    if (this.closed || this.writer.pos === 0 || this.socket.writableLength > 0) return false
    const data = this.writer.take()
    let offset = 0
    try {
      while (offset < data.length) offset += writeSync(fd, data, offset)
      return true
    } catch {
      return false
    }
  }

  /** Flushes, then ends the socket; `done` runs once the peer has everything (or the socket failed). */
  end (done?: () => void): void {
    this.flush()
    this.closed = true
    this.socket.end(() => { done?.() })
  }

  destroy (error?: Error): void {
    this.close(error)
  }

  private receive (chunk: Buffer): void {
    if (this.closed) return
    try {
      this.decoder.push(chunk, (buf, start, end) => {
        if (!this.closed) this.handlers.onMessage(decodeMessage(buf, start, end))
      })
    } catch (err) {
      this.close(err instanceof PmProtocolError ? err : new PmProtocolError((err as Error).message))
    }
  }

  private close (error?: Error): void {
    if (this.closed) {
      if (!this.socket.destroyed) this.socket.destroy()
      return
    }
    this.closed = true
    this.writer.pos = 0
    if (!this.socket.destroyed) this.socket.destroy()
    this.handlers.onClose(error)
  }
}
