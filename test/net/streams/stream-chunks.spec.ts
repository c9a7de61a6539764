import type { Stream } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { streamChunks } from '../../../src/net/streams/index.ts'
import { loopbackTcp } from '../loopback.ts'

const PROTOCOL = '/test/chunks/1'

async function node (): Promise<Libp2p> {
  return await createLibp2p({
    ...loopbackTcp()
  })
}

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

async function collect (chunks: AsyncIterable<Uint8Array>): Promise<number[]> {
  const out: number[] = []
  for await (const c of chunks) out.push(...c)
  return out
}

/** Resolves with what the handler read, the handler starting only once the sender has written and closed. */
async function lateReader (server: Libp2p, client: Libp2p, read: (s: Stream) => Promise<number[]>, data: Uint8Array[]): Promise<number[]> {
  const { promise, resolve, reject } = deferred<number[]>()
  const sent = deferred<undefined>()
  await server.handle(PROTOCOL, async (stream) => {
    await sent.promise
    await new Promise(r => setTimeout(r, 50))
    read(stream).then(resolve, reject)
  })
  try {
    const stream = await client.dialProtocol(server.getMultiaddrs(), PROTOCOL)
    for (const d of data) stream.send(d)
    await stream.close()
    sent.resolve(undefined)
    return await Promise.race([promise, new Promise<never>((_r, rej) => setTimeout(() => { rej(new Error('the reader never saw the end')) }, 3000))])
  } finally {
    await server.unhandle(PROTOCOL)
  }
}

describe('streamChunks', () => {
  let server: Libp2p
  let client: Libp2p
  beforeAll(async () => { [server, client] = await Promise.all([node(), node()]) })
  afterAll(async () => { await Promise.all([server.stop(), client.stop()]) })

  it('reads every chunk and the end when the reader starts after the sender closed', async () => {
    expect(await lateReader(server, client, async s => await collect(streamChunks(s)), [Uint8Array.of(1, 2), Uint8Array.of(3)])).toEqual([1, 2, 3])
  })

  it('sees the end of an empty stream closed before the reader started', async () => {
    expect(await lateReader(server, client, async s => await collect(streamChunks(s)), [])).toEqual([])
  })

  it('the stream\'s own iterator is what this replaces: it misses an end that came before it', async () => {
    // If this starts passing, libp2p fixed its iterator and streamChunks can go.
    await expect(lateReader(server, client, async s => await collect(s as AsyncIterable<Uint8Array>), [Uint8Array.of(7)])).rejects.toThrow('never saw the end')
  })

  it('stops with the signal\'s reason', async () => {
    const controller = new AbortController()
    await server.handle(PROTOCOL, async (stream) => {
      setTimeout(() => { controller.abort(new Error('enough')) }, 20)
      await expect(collect(streamChunks(stream, { signal: controller.signal }))).rejects.toThrow('enough')
      stream.abort(new Error('done'))
    })
    const stream = await client.dialProtocol(server.getMultiaddrs(), PROTOCOL)
    stream.send(Uint8Array.of(1))
    await new Promise(r => setTimeout(r, 200))
    expect(controller.signal.aborted).toBe(true)
    await server.unhandle(PROTOCOL)
  })

  it('throws when the remote resets the stream', async () => {
    const { promise, resolve } = deferred<unknown>()
    await server.handle(PROTOCOL, async (stream) => {
      collect(streamChunks(stream)).then(resolve, resolve)
    })
    const stream = await client.dialProtocol(server.getMultiaddrs(), PROTOCOL)
    stream.send(Uint8Array.of(1))
    await new Promise(r => setTimeout(r, 50))
    stream.abort(new Error('reset by the client'))
    expect(await promise).toBeInstanceOf(Error)
    await server.unhandle(PROTOCOL)
  })
})
