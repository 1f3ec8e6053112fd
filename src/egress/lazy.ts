import type { EgressClient, EgressClientOptions } from './client.js'

/**
 * An egress client that loads the HTTP stack (undici and the guard) on the first call only: most
 * invocations of `centrali invoke` that fail early, and functions that call nothing, never pay for it.
 */
export interface LazyEgressClient extends EgressClient {
  /** Loads the HTTP stack now, in the background (a server does it once it is ready). */
  warm(): void
}

export function createLazyEgressClient(options: EgressClientOptions): LazyEgressClient {
  let client: Promise<EgressClient> | undefined
  const load = () =>
    (client ??= import('./client.js').then(({ createEgressClient }) => createEgressClient(options)))
  return {
    warm: () => void load().catch(() => undefined),
    request: async (request) => (await load()).request(request),
    close: async () => {
      if (client !== undefined) await (await client).close()
    },
  }
}
