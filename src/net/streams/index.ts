/** Helpers over libp2p streams shared by the networking services. */
export { streamChunks } from './stream-chunks.ts'
export { drained } from './drained.ts'
export { StreamResetError } from './errors.ts'
