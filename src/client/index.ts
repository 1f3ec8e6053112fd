/**
 * `centrali/client`: call a centrali endpoint trigger from a browser or Node (>= 20). No
 * dependencies, nothing but `fetch`. This is the call the platform's docs show:
 *
 *   const centrali = createClient({ url: 'http://127.0.0.1:8787' })
 *   const reply = await centrali.triggers.invokeEndpoint('openai-chat', { payload: { messages } })
 *
 * It resolves to what the function returned, and rejects with a CentraliError carrying the stable
 * `code` of the HTTP contract (DESIGN §6), the HTTP `status` and the `requestId` to look for in logs.
 */

export interface ClientOptions {
  /** The server: `centrali dev` or a `centrali serve` runtime, such as "http://127.0.0.1:8787". */
  url: string
  /** Headers sent with every call. */
  headers?: Record<string, string>
  /** A fetch to use instead of the global one (tests, older runtimes). */
  fetch?: typeof fetch
}

export interface InvokeOptions {
  payload?: unknown
  signal?: AbortSignal
  headers?: Record<string, string>
}

export interface CentraliClient {
  triggers: {
    invokeEndpoint<Result = unknown>(trigger: string, options?: InvokeOptions): Promise<Result>
  }
}

export class CentraliError extends Error {
  readonly code: string
  readonly status: number
  readonly requestId: string | undefined

  constructor(code: string, message: string, status: number, requestId?: string) {
    super(message)
    this.name = 'CentraliError'
    this.code = code
    this.status = status
    this.requestId = requestId
  }
}

export function createClient(options: ClientOptions): CentraliClient {
  const base = options.url.replace(/\/+$/, '')
  const fetchImpl = options.fetch ?? globalThis.fetch
  if (typeof fetchImpl !== 'function') {
    throw new TypeError('centrali/client needs fetch: pass createClient({ url, fetch })')
  }

  async function invokeEndpoint<Result>(trigger: string, invokeOptions: InvokeOptions = {}): Promise<Result> {
    // Header names are case-insensitive: a call's `x-app` replaces the client's `X-App`.
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    for (const given of [options.headers, invokeOptions.headers])
      for (const [name, value] of Object.entries(given ?? {})) headers[name.toLowerCase()] = value
    let response: Response
    try {
      response = await fetchImpl(`${base}/endpoints/${encodeURIComponent(trigger)}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ payload: invokeOptions.payload ?? null }),
        ...(invokeOptions.signal ? { signal: invokeOptions.signal } : {}),
      })
    } catch (error) {
      if (invokeOptions.signal?.aborted) throw error
      throw new CentraliError('NETWORK_ERROR', `Could not reach ${base}: ${(error as Error).message}`, 0)
    }
    const requestId = response.headers.get('x-request-id') ?? undefined
    const text = await response.text()
    let body: unknown
    try {
      body = text === '' ? null : JSON.parse(text)
    } catch {
      throw new CentraliError(
        'INVALID_RESPONSE',
        `The server answered ${response.status} with a body that is not JSON.`,
        response.status,
        requestId,
      )
    }
    if (response.ok) return body as Result
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
    throw new CentraliError(
      typeof error?.code === 'string' ? error.code : 'HTTP_ERROR',
      typeof error?.message === 'string' ? error.message : `The server answered ${response.status}.`,
      response.status,
      requestId,
    )
  }

  return { triggers: { invokeEndpoint } }
}
