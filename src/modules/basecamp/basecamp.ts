import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { defineModule } from '../../sdk/index.ts'
import { newSecret } from './access.ts'
import { parseConfig } from './config.ts'
import { DEVELOPER_MODULE } from './constants.ts'
import { BasecampNodeUnreachableError } from './errors.ts'
import { removeLinkFiles, writeLinkFiles } from './link.ts'
import type { BasecampEndpoint } from './link.ts'
import { localMethods } from './node-figures.ts'
import type { Upstream } from './relay.ts'
import { BasecampServer } from './server.ts'
import { UiFiles } from './ui-files.ts'

/** Basecamp's version (module.json says the same; the kernel checks they agree). */
export const BASECAMP_VERSION = '0.1.0'

/** The UI's files: TypeScript and CSS served as they are (types stripped), no build step. */
export const UI_DIR = join(import.meta.dirname, 'ui')

/** How long finding the developer interface may take (a kernel call to a running module: far less). */
const ENDPOINT_CALL_TIMEOUT_MS = 5_000

/**
 * Basecamp, the local launcher: a web UI on a loopback port that shows and runs the node's modules, their methods,
 * logs and trace. It is not privileged: it reaches the node through the developer module's JSON-RPC interface, as
 * `logos dev` does (the endpoint from a call to `developer.endpoint`, the token from the developer module's folder),
 * relaying each page's connection so that the page holds only this run's Basecamp secret, never the node's token.
 */
export const basecamp = defineModule({
  name: 'basecamp',
  version: BASECAMP_VERSION,
  async start (ctx) {
    const config = parseConfig(ctx.config)
    const secret = newSecret()
    // Every module's folder is <data dir>/modules/<name> (docs/architecture.md, "Data on disk"); the developer module
    // keeps its token, owner-only, in its own, for the node's local clients. Basecamp is one of them.
    const tokenPath = join(ctx.dataDir, '..', DEVELOPER_MODULE, 'token')
    const upstream = async (): Promise<Upstream> => {
      const endpoint = await ctx.call<{ ws: string }>(DEVELOPER_MODULE, 'endpoint', undefined, { timeout: ENDPOINT_CALL_TIMEOUT_MS })
      let token: string
      try {
        token = (await readFile(tokenPath, 'utf8')).trim()
      } catch (err) {
        throw new BasecampNodeUnreachableError(`no token at ${tokenPath}`, { cause: err })
      }
      return { ws: endpoint.ws, token }
    }
    const session = { module: ctx.name, version: ctx.version, via: DEVELOPER_MODULE }
    const server = new BasecampServer({
      host: config.host,
      port: config.port,
      secret,
      ui: new UiFiles(UI_DIR),
      session,
      relay: { self: ctx.name, upstream, local: localMethods(session), log: ctx.log },
      log: ctx.log
    })
    const bound = await server.listen()
    const endpoint: BasecampEndpoint = { url: bound.url, pid: process.pid, startedAt: Date.now() }
    try {
      await writeLinkFiles(ctx.dataDir, endpoint, secret)
    } catch (err) {
      await server.close()
      throw err
    }
    // The secret never goes to the log (any client of the developer interface can read logs): only the files have it.
    ctx.log.info(`Basecamp at ${bound.url} (the link with this run's secret: \`logos basecamp\`)`)
    return {
      methods: {
        endpoint: {
          handler: () => ({ url: endpoint.url, clients: server.clients }),
          description: 'Where Basecamp answers and how many pages are connected (the secret stays in its file)'
        }
      },
      stop: async () => {
        await server.close()
        await removeLinkFiles(ctx.dataDir, endpoint).catch(() => {})
      }
    }
  }
})
