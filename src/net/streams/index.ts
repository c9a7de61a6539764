/** Helpers over libp2p streams shared by the networking services. */
export { streamChunks } from './stream-chunks.ts'
export { StreamResetError } from './errors.ts'
