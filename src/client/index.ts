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

/** Header names and values as `fetch` takes them: a plain object, a `Headers`, or [name, value] pairs. */
export type ClientHeaders = Record<string, string> | Headers | Iterable<readonly [string, string]>

export interface ClientOptions {
  /**
   * The server: `centrali dev` or a `centrali serve` runtime, such as "http://127.0.0.1:8787", with
   * a path when a proxy serves it under one ("https://example.com/centrali"); in a browser, a path
   * alone is the page's own server.
   */
  url: string
  /** Headers sent with every call. */
  headers?: ClientHeaders
  /** A fetch to use instead of the global one (tests, older runtimes). */
  fetch?: typeof fetch
}

export interface InvokeOptions {
  payload?: unknown
  signal?: AbortSignal
  /** Headers for this call, over the client's (names compared case-insensitively). */
  headers?: ClientHeaders
}

export interface CentraliClient {
  triggers: {
    invokeEndpoint<Result = unknown>(trigger: string, options?: InvokeOptions): Promise<Result>
  }
}

export class CentraliError extends Error {
  /**
   * The server's code (`TRIGGER_NOT_FOUND`, `FUNCTION_ERROR`, `FUNCTION_TIMEOUT`, …), or one of the
   * client's own: `NETWORK_ERROR` (no answer, or one cut short), `HTTP_ERROR` (an error answer
   * without centrali's code, such as a proxy's HTML 502), `INVALID_RESPONSE` (a 2xx that is not JSON).
   */
  readonly code: string
  /** The HTTP status; 0 when no answer came (or nothing was sent). */
  readonly status: number
  /** The answer's `x-request-id`, as dev prints it; undefined when it had none. */
  readonly requestId: string | undefined

  constructor(
    code: string,
    message: string,
    status: number,
    requestId?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'CentraliError'
    this.code = code
    this.status = status
    this.requestId = requestId
  }
}

export function createClient(options: ClientOptions): CentraliClient {
  const base = serverBase(options.url)
  const fetchImpl = options.fetch ?? globalThis.fetch
  if (typeof fetchImpl !== 'function') {
    throw new TypeError('centrali/client needs fetch: pass createClient({ url, fetch })')
  }

  async function invokeEndpoint<Result>(trigger: string, invokeOptions: InvokeOptions = {}): Promise<Result> {
    // A URL resolves these segments away (%2e too): the call, headers and all, would reach another
    // path of the server. No trigger can have such a name.
    if (trigger === '' || trigger === '.' || trigger === '..') {
      throw new CentraliError(
        'TRIGGER_NOT_FOUND',
        `There is no trigger named ${JSON.stringify(trigger)}: nothing was sent.`,
        0,
      )
    }
    // Header names are case-insensitive: a call's `x-app` replaces the client's `X-App`.
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    for (const given of [options.headers, invokeOptions.headers])
      for (const [name, value] of headerEntries(given)) headers[name.toLowerCase()] = value
    // What no request can carry is the caller's mistake, found before anything is sent, not a
    // network failure: a header value with a line break, a payload JSON cannot hold (a BigInt, a cycle).
    if (typeof Headers === 'function') new Headers(headers)
    let body: string
    try {
      body = JSON.stringify({ payload: invokeOptions.payload ?? null })
    } catch (error) {
      throw new TypeError(`centrali/client: the payload cannot be sent as JSON: ${messageOf(error)}`, {
        cause: error,
      })
    }

    let response: Response
    try {
      response = await fetchImpl(`${base}/endpoints/${encodeURIComponent(trigger)}`, {
        method: 'POST',
        headers,
        body,
        ...(invokeOptions.signal ? { signal: invokeOptions.signal } : {}),
      })
    } catch (error) {
      if (invokeOptions.signal?.aborted) throw error
      throw new CentraliError(
        'NETWORK_ERROR',
        `Could not reach ${base}: ${messageOf(error)}${corsNote(base)}`,
        0,
        undefined,
        { cause: error },
      )
    }
    const { status } = response
    const requestId = response.headers.get('x-request-id') ?? undefined
    let text: string
    try {
      text = await response.text()
    } catch (error) {
      if (invokeOptions.signal?.aborted) throw error
      throw new CentraliError(
        'NETWORK_ERROR',
        `The answer from ${base} was cut short: ${messageOf(error)}`,
        status,
        requestId,
        { cause: error },
      )
    }
    let parsed: { ok: true; value: unknown } | { ok: false }
    try {
      parsed = { ok: true, value: text === '' ? null : JSON.parse(text) }
    } catch {
      parsed = { ok: false }
    }
    const answered = `The server answered ${status}${response.statusText ? ` ${response.statusText}` : ''}`
    if (response.ok) {
      if (parsed.ok) return parsed.value as Result
      throw new CentraliError(
        'INVALID_RESPONSE',
        `${answered} with a body that is not JSON (${contentTypeOf(response)}).`,
        status,
        requestId,
      )
    }
    const error = parsed.ok
      ? (parsed.value as { error?: { code?: unknown; message?: unknown } } | null)?.error
      : undefined
    if (typeof error?.code === 'string') {
      throw new CentraliError(
        error.code,
        typeof error.message === 'string' ? error.message : `${answered}.`,
        status,
        requestId,
      )
    }
    // Not centrali's error: what answered may be a proxy or gateway in front of it.
    throw new CentraliError(
      'HTTP_ERROR',
      parsed.ok
        ? typeof error?.message === 'string'
          ? error.message
          : `${answered} without an error code.`
        : `${answered} with a body that is not JSON (${contentTypeOf(response)}): a proxy in front of centrali may have answered.`,
      status,
      requestId,
    )
  }

  return { triggers: { invokeEndpoint } }
}

/**
 * The server's URL without a trailing slash. Refused now rather than at each call: a URL fetch
 * cannot call, one with a user name or password (fetch refuses those, and the message would repeat
 * them), or one with a query or fragment (the endpoint's path goes after the URL's).
 */
function serverBase(url: string): string {
  let parsed: URL
  try {
    // In a browser, a path alone is the page's own server ('' its root, as it was before URLs were checked).
    parsed = new URL(url === '' ? '/' : url, pageUrl())
  } catch {
    throw new TypeError(
      `centrali/client: url ${JSON.stringify(url)} is not a URL, such as "http://127.0.0.1:8787"`,
    )
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(
      `centrali/client: url must be an http: or https: URL, such as "http://127.0.0.1:8787" (got ${parsed.protocol})`,
    )
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError(
      'centrali/client: url must not carry a user name or password; send credentials in headers (such as authorization)',
    )
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new TypeError(
      'centrali/client: url must have no query or fragment: the endpoint path is added after it',
    )
  }
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`
}

/**
 * In a browser, a call to another origin whose answer CORS refused fails exactly as one that found no
 * server ("Failed to fetch"): the page's code cannot tell them apart, so the message names both.
 */
function corsNote(base: string): string {
  const page = pageUrl()
  if (page === undefined) return ''
  const origin = new URL(page).origin
  // An opaque origin ("null": a file: page) cannot be listed usefully.
  if (origin === 'null' || origin === new URL(base).origin) return ''
  return `. A browser reports a call to another origin that CORS refused the same way: the trigger's cors.origins in centrali.json must list ${origin} (centrali dev says why it refused)`
}

/** The page's URL in a browser; undefined elsewhere (Deno throws when it has no --location). */
function pageUrl(): string | undefined {
  try {
    return (globalThis as { location?: { href?: string } }).location?.href
  } catch {
    return undefined
  }
}

function headerEntries(given: ClientHeaders | undefined): Iterable<readonly [string, string]> {
  if (given === undefined) return []
  // A Headers, a Map or an array of pairs: what fetch takes besides a plain object.
  if (Symbol.iterator in given) return given as Iterable<readonly [string, string]>
  return Object.entries(given)
}

function contentTypeOf(response: Response): string {
  return response.headers.get('content-type') ?? 'no content-type'
}

/** An error's message, with its cause's (Node's fetch says only "fetch failed", its cause why). */
function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message
}
