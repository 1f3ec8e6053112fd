import { randomUUID } from 'node:crypto'
import {
  createServer,
  maxHeaderSize,
  STATUS_CODES,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { InvocationReport } from '../sandbox/engine.js'
import type { ExecutionParams } from '../sandbox/protocol.js'
import { IdTable } from '../shared/id-table.js'
import { crossSiteRefusal, decideCors, preflightOf, type CorsPolicy, type CorsRefusal } from './cors.js'

/**
 * The HTTP contract of DESIGN §6, shared by `dev` and `serve`: `POST /endpoints/<trigger>` with
 * `{ "payload": … }`, JSON errors with stable codes, CORS from the trigger on every response,
 * `GET /healthz`, and an `x-request-id` on everything. It knows no mode: the caller says how to
 * find a trigger and how to run it.
 */
export interface EndpointRoute {
  cors?: CorsPolicy
  /** Extra response headers (dev marks a stale build with one). */
  headers?: Record<string, string>
  invoke(executionParams: ExecutionParams): Promise<InvocationReport>
}

export interface RequestEvent {
  requestId: string
  method: string
  path: string
  trigger?: string
  status: number
  durationMs: number
  report?: InvocationReport
  /** Why a browser will refuse the answer to a cross-origin request. */
  corsRefused?: CorsRefusal
  /** The refused request's Origin, with `corsRefused`. */
  origin?: string
  /**
   * Why the server answered an error without running a function: an unknown trigger, a bad body, a
   * wrong method. An invocation's own error is in `report`.
   */
  refusal?: ErrorBody
}

export interface EndpointServerOptions {
  host: string
  port: number
  route(trigger: string): EndpointRoute | undefined
  /**
   * CORS for a trigger that does not exist (see `policyForUnknownTrigger`), so that a browser is
   * shown the 404 and its code; without it such a request gets no CORS headers.
   */
  unknownTriggerCors?: (origin: string | undefined) => CorsPolicy | undefined
  /** Trigger names for the 404 message; omit to not list them (a production server). */
  knownTriggers?: () => string[]
  maxBodyBytes?: number
  /** How long a request may take to arrive whole, headers and body (default 60 s; serve takes uploads). */
  requestTimeoutMs?: number
  /** How long a client may take to send a request's headers (default 10 s). */
  headersTimeoutMs?: number
  /** How long an idle keep-alive connection stays open (default 5 s). */
  keepAliveTimeoutMs?: number
  onRequest?: (event: RequestEvent) => void
  /**
   * Paths other than `/endpoints/<trigger>` (`serve` mounts its deploy API, `/healthz` and `/metrics`
   * here). Tried first; resolves true when it answered, false to leave the path to this server.
   * The response already carries its `x-request-id`.
   */
  fallback?: (request: IncomingMessage, response: ServerResponse) => boolean | Promise<boolean>
}

export interface EndpointServer {
  url: string
  port: number
  inFlight(): number
  /**
   * Stops accepting and lets running requests finish for up to `graceMs`. Then `endRunning` ends what
   * still runs (the sandbox settles each invocation with an error, answered as any other), those
   * answers get a moment to be written, a request with no answer coming gets 503 SHUTTING_DOWN, and
   * every socket is closed. Takes at most `graceMs` and about a second more.
   */
  close(graceMs?: number, endRunning?: () => Promise<void>): Promise<void>
}

export const MAX_BODY_BYTES = 1024 * 1024
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000
/** Where a response keeps its id in the table of those running. */
const RESPONSE_ID = Symbol('centrali.responseId')
type RunningResponse = ServerResponse & { [RESPONSE_ID]?: number }
/** After the grace: how long the answers of the invocations it ended get to be written. */
const ANSWER_AFTER_GRACE_MS = 1_000
/** How long the shutdown's own 503s get to be written before the sockets close. */
const FLUSH_MS = 250

export interface ErrorBody {
  code: string
  message: string
}

export async function startEndpointServer(options: EndpointServerOptions): Promise<EndpointServer> {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES
  /**
   * Responses not yet closed (requests in flight), by an id each carries. An IdTable, not a Set: a
   * long-lived Set with an add and a delete per request keeps what it held alive through young
   * collections, as a Map does (see IdTable).
   */
  const running = new IdTable<ServerResponse>()
  let nextResponseId = 1
  let drained: (() => void) | undefined
  /** Set when close() begins: answers from then on close their connection (see close). */
  let closing = false
  /**
   * Connections whose answer said `connection: close` while the request's body was still coming (see
   * lingerThenEnd): what follows that body on them is read only to be dropped, never run.
   */
  const endingConnections = new WeakSet<Duplex>()
  const allAnswered = () =>
    running.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (drained = resolve))

  // One listener for every response, not a closure per request.
  function onResponseClose(this: RunningResponse) {
    running.delete(this[RESPONSE_ID]!)
    if (running.size === 0) drained?.()
  }
  // Node enforces the header and request timeouts by sweeping the connections at this interval;
  // at its default (30 s) a slow client could hold a connection for 40 s instead of 10.
  // Node's own Host check answers a bare 400: `handle` makes it, in the contract's shape.
  const serverOptions = { connectionsCheckingInterval: 1_000, requireHostHeader: false }
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    // Sent after a body that was let in only to be dropped: RFC 9112 §9.6, no request after a
    // `close` is processed. It is neither run nor answered, and the connection closes after that body.
    if (endingConnections.has(request.socket)) return
    const id = nextResponseId++
    ;(response as RunningResponse)[RESPONSE_ID] = id
    running.set(id, response)
    response.on('close', onResponseClose)
    handle(request, response).catch((error: unknown) => {
      // A bug in the server itself: answer, never hang the client.
      if (!response.headersSent)
        sendJson(response, 500, { error: { code: 'INTERNAL_ERROR', message: String(error) } })
    })
  }
  const server = createServer(serverOptions, onRequest)
  // Node would send `100 Continue` at once, inviting a body it may then refuse (413, 404, 405): it
  // goes out when the body is read (readBody). Until then the answer closes the connection, since
  // the client may never send the body the parser would wait for.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const keepAlive = response.shouldKeepAlive
    response.shouldKeepAlive = false
    bodyInvitations.set(request, () => {
      response.writeContinue()
      response.shouldKeepAlive = keepAlive && !closing
    })
    onRequest(request, response)
  })
  // Any other expectation: Node's bare 417, in the contract's shape.
  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    response.setHeader('x-request-id', randomUUID())
    response.setHeader('connection', 'close')
    sendJson(
      response,
      417,
      errorBody('EXPECTATION_FAILED', 'The only Expect this server meets is 100-continue.'),
    )
  })
  // Slow clients: a request must send its headers and its body in bounded time.
  server.headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS
  server.requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS
  server.on('clientError', (error: ClientError, socket: Duplex) =>
    answerClientError(error, socket, server.headersTimeout, server.requestTimeout),
  )

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = Date.now()
    const requestId = randomUUID()
    response.setHeader('x-request-id', requestId)
    if (closing) response.shouldKeepAlive = false
    const { pathname, query } = parseTarget(request.url ?? '/')
    const method = request.method ?? 'GET'
    const event: RequestEvent = { requestId, method, path: pathname, status: 0, durationMs: 0 }
    const finishWithText = (status: number, json: string, unreadBody?: IncomingMessage) => {
      sendJsonText(response, status, json, unreadBody)
      event.status = status
      event.durationMs = Date.now() - started
      options.onRequest?.(event)
    }
    const finish = (status: number, body: unknown) => finishWithText(status, JSON.stringify(body))
    const refuse = (status: number, code: string, message: string) => {
      event.refusal = { code, message }
      // Answered before a body it declares was read: the rest may never come whole, and Node would
      // then answer the same request again (408) once its time is up. The connection ends instead,
      // once what the client is still sending has been let in (see lingerThenEnd); a client waiting
      // for `100 Continue` sends nothing more.
      const unread = !request.complete && declaresBody(request)
      if (unread) {
        response.setHeader('connection', 'close')
        endingConnections.add(request.socket)
      }
      finishWithText(
        status,
        JSON.stringify(errorBody(code, message)),
        unread && !bodyInvitations.has(request) ? request : undefined,
      )
    }

    // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused.
    if (request.headers.host === undefined && request.httpVersion === '1.1') {
      response.setHeader('connection', 'close')
      return refuse(400, 'BAD_REQUEST', 'An HTTP/1.1 request must carry a Host header.')
    }

    const match = /^\/endpoints\/([^/]+)\/?$/.exec(pathname)
    if (
      !match &&
      options.fallback &&
      readsTheSame(request.url ?? '/', pathname) &&
      (await options.fallback(request, response))
    )
      return

    if (pathname === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') {
        response.setHeader('allow', 'GET, HEAD')
        return refuse(405, 'METHOD_NOT_ALLOWED', 'Use GET /healthz.')
      }
      return finish(200, { ok: true })
    }
    if (!match) {
      return refuse(404, 'NOT_FOUND', `No route for ${pathname}; endpoints are POST /endpoints/<trigger>.`)
    }
    const trigger = safeDecode(match[1]!)
    event.trigger = trigger
    const route = trigger === undefined ? undefined : options.route(trigger)

    const origin = headerValue(request.headers.origin)
    const corsPolicy = route === undefined ? options.unknownTriggerCors?.(origin) : route.cors
    const preflight = preflightOf(method, (name) => headerValue(request.headers[name]))
    const cors = decideCors(corsPolicy, origin, preflight)
    if (cors.allowed !== undefined)
      for (const [name, value] of Object.entries(cors.headers)) response.setHeader(name, value)
    // Where a refused browser request came from; read only then (every request passes here).
    const fetchSite = cors.allowed === false ? headerValue(request.headers['sec-fetch-site']) : undefined
    // A page that has the endpoint at its own origin (behind its dev server's proxy, as Vite's
    // `server.proxy` puts it) needs no CORS, and its browser refuses nothing: nothing to say.
    if (cors.allowed === false && route && fetchSite !== 'same-origin') {
      event.corsRefused = cors.refusal
      event.origin = origin
    }
    for (const [name, value] of Object.entries(route?.headers ?? {})) response.setHeader(name, value)

    // A preflight for a trigger that does not exist is answered too when its origin is allowed:
    // the browser then sends the request itself and shows the page the 404 below.
    if (method === 'OPTIONS' && (route !== undefined || cors.allowed === true)) {
      response.statusCode = 204
      response.end()
      event.status = 204
      event.durationMs = Date.now() - started
      options.onRequest?.(event)
      return
    }
    if (route === undefined || trigger === undefined) {
      const known = options.knownTriggers?.()
      const list =
        known === undefined
          ? ''
          : known.length === 0
            ? ' The project has no triggers.'
            : ` Known triggers: ${known.join(', ')}.`
      return refuse(404, 'TRIGGER_NOT_FOUND', `There is no trigger named "${trigger ?? match[1]}".${list}`)
    }
    if (method !== 'POST') {
      response.setHeader('allow', 'POST, OPTIONS')
      return refuse(
        405,
        'METHOD_NOT_ALLOWED',
        `Use POST /endpoints/${trigger} with a JSON body { "payload": … }.`,
      )
    }

    const crossSite = crossSiteRefusal(cors, fetchSite, trigger)
    if (crossSite) return refuse(403, crossSite.code, crossSite.message)

    const body = await readBody(request, maxBodyBytes)
    // Answered meanwhile by the shutdown (503 SHUTTING_DOWN): not to be run.
    if (response.headersSent) return
    if (body === 'too-large') {
      // Refused at the limit: the rest is dropped unread, and the connection closed after the answer.
      return refuse(413, 'PAYLOAD_TOO_LARGE', `The request body is over ${maxBodyBytes} bytes (1 MiB).`)
    }
    let parsed: unknown
    try {
      parsed = body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as unknown)
    } catch (error) {
      return refuse(400, 'BAD_JSON', `The request body is not JSON: ${(error as Error).message}.`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return refuse(400, 'BAD_REQUEST', 'The request body must be a JSON object: { "payload": … }.')
    }

    const report = await route.invoke({
      payload: (parsed as { payload?: unknown }).payload ?? null,
      method,
      path: pathname,
      query,
      headers: forwardableHeaders(request),
      requestId,
    })
    event.report = report
    if (report.ok) return finishWithText(200, report.resultJson ?? 'null')
    return finish(report.error!.status, errorBody(report.error!.code, report.error!.message))
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host

  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    inFlight: () => running.size,
    close: async (graceMs = 5000, endRunning?: () => Promise<void>) => {
      closing = true
      // Answers from now on close their connection: a client is not to send another request on it.
      for (const response of running.values()) if (!response.headersSent) response.shouldKeepAlive = false
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      await within(allAnswered(), graceMs)
      // Closing the sockets now would leave the callers an empty reply: what still runs is ended
      // first, and its error answer (503 POOL_CLOSED from the sandbox) goes out.
      if (running.size > 0 && endRunning) {
        const ended = endRunning().catch(() => undefined)
        await within(Promise.all([ended, allAnswered()]), ANSWER_AFTER_GRACE_MS)
      }
      // What has no answer coming (a body still arriving, a fallback's work) is told so.
      for (const response of running.values()) {
        if (response.headersSent) continue
        // The rest of its body is not read: it is not to run once answered.
        response.req.pause()
        sendJson(
          response,
          503,
          errorBody(
            'SHUTTING_DOWN',
            'The server is shutting down and this request had not finished; send it again.',
          ),
        )
      }
      await within(allAnswered(), FLUSH_MS)
      server.closeAllConnections()
      await closed
    },
  }
}

/** An error of Node's HTTP parser (`HPE_*`, with its `reason`), or its request timeout. */
type ClientError = Error & { code?: string; reason?: unknown }

/**
 * Node's record of the response being written on a socket: its own `clientError` handler reads it
 * to not write a second answer into one already begun.
 */
type HttpSocket = Duplex & { _httpMessage?: ServerResponse | null }

/**
 * What Node's HTTP layer refuses on its own (malformed framing, headers or a body too slow, headers
 * too large), answered in the contract's shape instead of Node's bare status line. There is no
 * response object here, so the answer is written to the socket itself, with the cautions of Node's
 * own handler: a reset or unwritable socket is only destroyed, and so is one whose response has
 * begun (a second answer would corrupt it).
 */
function answerClientError(
  error: ClientError,
  socket: HttpSocket,
  headersTimeoutMs: number,
  requestTimeoutMs: number,
): void {
  if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
    socket.destroy()
    return
  }
  const [status, code, message] = describeClientError(error, headersTimeoutMs, requestTimeoutMs)
  const body = JSON.stringify(errorBody(code, message))
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    `x-request-id: ${randomUUID()}`,
    'connection: close',
  ]
  // Destroyed once written: the parser cannot go on after its error, and a stalled client must not
  // keep the connection.
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy())
}

function describeClientError(
  error: ClientError,
  headersTimeoutMs: number,
  requestTimeoutMs: number,
): [status: number, code: string, message: string] {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [
        408,
        'REQUEST_TIMEOUT',
        `The request did not arrive in time: its headers must arrive within ${seconds(headersTimeoutMs)} and the whole request within ${seconds(requestTimeoutMs)}.`,
      ]
    case 'HPE_HEADER_OVERFLOW':
      return [
        431,
        'HEADERS_TOO_LARGE',
        `The request line and headers are over ${maxHeaderSize / 1024} KiB; send data in the body.`,
      ]
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'PAYLOAD_TOO_LARGE', 'The chunk extensions of the request body are too large.']
    default: {
      const reason = typeof error.reason === 'string' ? `: ${error.reason}` : ''
      return [400, 'BAD_REQUEST', `The request is not valid HTTP/1.1${reason}.`]
    }
  }
}

function seconds(ms: number): string {
  return `${ms / 1000} s`
}

/** Resolves when `done` does, or after `ms`, whichever comes first. */
async function within(done: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}

function declaresBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function errorBody(code: string, message: string): { error: ErrorBody } {
  return { error: { code, message } }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  sendJsonText(response, status, JSON.stringify(body))
}

/** `unreadBody`: the request whose body is still coming, to let in and drop before the end (see lingerThenEnd). */
function sendJsonText(
  response: ServerResponse,
  status: number,
  text: string,
  unreadBody?: IncomingMessage,
): void {
  response.statusCode = status
  response.setHeader('content-type', 'application/json; charset=utf-8')
  response.setHeader('content-length', Buffer.byteLength(text))
  response.setHeader('cache-control', 'no-store')
  if (unreadBody === undefined) return void response.end(text)
  // Whole as far as the client can tell (its length is said); ended once the body is in.
  response.write(text)
  lingerThenEnd(unreadBody, response)
}

/** How long, and how much of, a refused request's body is let in and dropped (see lingerThenEnd). */
const LINGER_MS = 3_000
const LINGER_IDLE_MS = 1_000
const LINGER_MAX_BYTES = 64 * 1024 * 1024

/**
 * Ends a response sent before its request's body was read, once that body is in. A socket closed
 * with data still arriving is reset, and a client still sending when its answer came (fetch is one)
 * may then report the reset (ECONNRESET) and never the answer: 413 PAYLOAD_TOO_LARGE for a 50 MiB
 * body came back as a network error in one fetch of five. So the rest is read and dropped, never
 * kept, and the connection closes cleanly after it; a body that stalls, runs past the time, or past
 * the bytes is cut off then. Node's request timeout meanwhile finds the response begun, so no 408
 * follows the answer (answerClientError).
 */
function lingerThenEnd(request: IncomingMessage, response: ServerResponse): void {
  let dropped = 0
  const done = () => {
    clearTimeout(deadline)
    clearTimeout(idle)
    request.off('data', onData)
    request.off('end', onEnd)
    response.off('close', done)
  }
  const cut = () => {
    done()
    request.socket.destroy()
  }
  const onData = (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > LINGER_MAX_BYTES) return cut()
    idle.refresh()
  }
  const onEnd = () => {
    done()
    response.end()
  }
  const deadline = setTimeout(cut, LINGER_MS)
  const idle = setTimeout(cut, LINGER_IDLE_MS)
  request.on('data', onData)
  request.on('end', onEnd)
  response.on('close', done)
  request.resume()
}

/** Requests sent with `Expect: 100-continue`, until their body is invited (see `checkContinue`). */
const bodyInvitations = new WeakMap<IncomingMessage, () => void>()

/**
 * A request's body, refused as soon as it passes `maxBytes` (declared or read), never buffered whole.
 * A client waiting for `100 Continue` is sent it here, once the body is wanted.
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large'> {
  const declared = Number(request.headers['content-length'])
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve('too-large')
  const invite = bodyInvitations.get(request)
  if (invite !== undefined) {
    bodyInvitations.delete(request)
    invite()
  }
  // Plain listeners rather than `for await`: an async iterator costs more than a small body.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const stop = () => {
      request.off('data', onData)
      request.off('end', onEnd)
      request.off('error', onError)
      request.off('close', onClose)
    }
    const onData = (chunk: Buffer) => {
      total += chunk.length
      if (total > maxBytes) {
        stop()
        request.pause()
        resolve('too-large')
      } else chunks.push(chunk)
    }
    const onEnd = () => {
      stop()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total))
    }
    const onError = (error: Error) => {
      stop()
      reject(error)
    }
    const onClose = () => onError(new Error('the request was closed before its body arrived'))
    request.on('data', onData)
    request.on('end', onEnd)
    request.on('error', onError)
    request.on('close', onClose)
  })
}

/**
 * The path and query of a request target, the path exactly as sent: never resolved against a base
 * URL, which reads `//host/…` (and `/\host/…`) as a host and removes dot segments, so that
 * `//x/healthz` would answer as `/healthz`. The target's forms (RFC 9112 §3.2):
 * - origin-form, `/path?query`: what clients send. An endpoint path of name characters (nearly
 *   every request) is taken whole, with no parsing at all.
 * - absolute-form, `http://host/path?query`, which clients send to proxies and servers must accept:
 *   its path is routed and its host ignored, as this server answers for one host whatever its name.
 * - asterisk-form, `*` (`OPTIONS *`): kept as the path `*`, which no route matches, so a 404; there
 *   are no server-wide options to announce.
 */
function parseTarget(target: string): { pathname: string; query: Record<string, string> } {
  if (/^\/endpoints\/[a-z0-9_-]+\/?$/.test(target)) return { pathname: target, query: {} }
  const authority = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i.exec(target)
  const rest = authority ? target.slice(authority[0].length) : target
  const pathEnd = rest.search(/[?#]/)
  const pathname = (pathEnd === -1 ? rest : rest.slice(0, pathEnd)) || '/'
  if (pathEnd === -1 || rest[pathEnd] === '#') return { pathname, query: {} }
  const queryEnd = rest.indexOf('#', pathEnd)
  const queryText = rest.slice(pathEnd + 1, queryEnd === -1 ? undefined : queryEnd)
  return { pathname, query: Object.fromEntries(new URLSearchParams(queryText)) }
}

/**
 * Whether URL parsing, which the fallbacks use (the dev console, serve's API), makes of `target` the
 * path this server routes. One that does not (`//x/healthz`, `/a/../healthz`) is never handed to them:
 * they would answer a path other than the one that was sent.
 */
function readsTheSame(target: string, pathname: string): boolean {
  try {
    return new URL(target, 'http://localhost').pathname === pathname
  } catch {
    return false
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/** The request's headers as the function sees them (lowercase names, repeated values joined). */
function forwardableHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  const given = request.headers
  // for…in over Node's own header object (no inherited keys): no array of entries per request.
  for (const name in given) {
    const value = given[name]
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return headers
}
