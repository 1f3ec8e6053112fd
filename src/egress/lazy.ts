import type { EgressClient, EgressClientOptions } from './client.js'

/**
 * An egress client that loads the HTTP stack (undici and the guard) on the first call only: most
 * invocations of `centrali invoke` that fail early, and functions that call nothing, never pay for it.
 */
export function createLazyEgressClient(options: EgressClientOptions): EgressClient {
  let client: Promise<EgressClient> | undefined
  const load = () =>
    (client ??= import('./client.js').then(({ createEgressClient }) => createEgressClient(options)))
  return {
    request: async (request) => (await load()).request(request),
    close: async () => {
      if (client !== undefined) await (await client).close()
    },
  }
}
