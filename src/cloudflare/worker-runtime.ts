/**
 * The Cloudflare Workers side of a `cloudflare` deploy target: the HTTP contract of DESIGN §6 and
 * the function contract of DESIGN §2 on the Workers runtime. `centrali deploy` bundles this file
 * with a generated entry that holds the manifest and one factory per function (src/deploy/cloudflare.ts).
 *
 * Pure ECMAScript and web APIs only (no Node built-ins): it runs in workerd. What it shares with
 * `dev` and `serve` is imported, not copied: CORS decisions, allowlist matching, status codes and
 * the factory's parameter order.
 *
 * Each request calls the function's factory with that request's globals, so the bundle's top-level
 * code runs again (fresh module state) with its own `executionParams`, `triggerParams` and `api`.
 */
import { isBlockingCode, responseTooLargeDetails, timeoutDetails } from '../egress/errors.js'
import { entryMatches, type DomainEntry } from '../egress/domain-match.js'
import { BODY_HEADERS, CROSS_ORIGIN_SAFE_HEADERS } from '../egress/redirect-headers.js'
import {
  contractApi,
  type ApiResponse,
  copyHeaders,
  describeThrown,
  encodeBody,
  freezeData,
  NO_RUN_MESSAGE,
  parseResponseText,
  resultJson,
  toLogValue,
} from '../sandbox/api-values.js'
import { callFactory, type Factory } from '../sandbox/factory.js'
import { statusForCode } from '../sandbox/status.js'
import {
  crossSiteRefusal,
  decideCors,
  policyForUnknownTrigger,
  preflightOf,
  type CorsPolicy,
} from '../server/cors.js'
import { shorten } from '../shared/shorten.js'

export type WorkerParamValue = string | number | boolean | null | { secret: string }

export interface WorkerTrigger {
  function: string
  params: Record<string, WorkerParamValue>
  timeoutMs: number
  cors?: CorsPolicy
}

/** What the generated entry hands the runtime: the deployable part of centrali.json, pre-parsed. */
export interface WorkerManifest {
  triggers: Record<string, WorkerTrigger>
  /** The allowlist, already normalised by the CLI (the schema validated every entry). */
  domains: DomainEntry[]
}

export interface WorkerApp {
  manifest: WorkerManifest
  factories: Record<string, Factory>
}

/** Worker bindings: secrets arrive as string bindings named like the secret. */
export type WorkerEnv = Record<string, unknown>

/** The same limits as the local sandbox (DESIGN §2). */
export const LIMITS = {
  maxBodyBytes: 1024 * 1024,
  maxResponseBytes: 10 * 1024 * 1024,
  maxCalls: 50,
  maxRedirects: 5,
  maxLogRecords: 1000,
} as const

const REFUSED_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])
const METHOD_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** Secrets shorter than this are not redacted: "abc" would shred ordinary text. */
const MIN_REDACTED_LENGTH = 6

/** The error an `api` call rejects with for a blocked call, a limit or an ended invocation. */
export class CodedError extends Error {
  readonly code: string
  readonly host: string | undefined
  constructor(code: string, message: string, host?: string) {
    super(message)
    this.name = isBlockingCode(code) ? 'EgressBlockedError' : 'CentraliError'
    this.code = code
    this.host = host
  }
}

/** A non-2xx answer to `api.httpGet` and friends (DESIGN §2). */
export class HttpError extends Error {
  readonly status: number
  readonly statusText: string
  readonly headers: Record<string, string>
  readonly body: unknown
  constructor(message: string, response: ApiResponse) {
    super(message)
    this.name = 'HttpError'
    this.status = response.status
    this.statusText = response.statusText
    this.headers = response.headers
    this.body = response.body
  }
}

interface Invocation {
  trigger: string
  requestId: string
  deadline: number
  done: boolean
  timers: Set<ReturnType<typeof setTimeout>>
  aborts: Set<AbortController>
  callCount: number
  logCount: number
  /** Secret values handed to this invocation, for redaction of what leaves it. */
  secrets: Map<string, string>
}

export function createWorker(app: WorkerApp): {
  fetch(request: Request, env: WorkerEnv): Promise<Response>
} {
  allowlist = app.manifest.domains
  return { fetch: (request, env) => handle(app, request, env) }
}

async function handle(app: WorkerApp, request: Request, env: WorkerEnv): Promise<Response> {
  const requestId = crypto.randomUUID()
  const headers = new Headers({ 'x-request-id': requestId })
  const json = (status: number, body: unknown) => {
    headers.set('content-type', 'application/json; charset=utf-8')
    headers.set('cache-control', 'no-store')
    return new Response(JSON.stringify(body), { status, headers })
  }
  const url = new URL(request.url)
  const method = request.method

  if (url.pathname === '/healthz') {
    if (method !== 'GET' && method !== 'HEAD') {
      headers.set('allow', 'GET, HEAD')
      return json(405, errorBody('METHOD_NOT_ALLOWED', 'Use GET /healthz.'))
    }
    return json(200, { ok: true })
  }
  const match = /^\/endpoints\/([^/]+)\/?$/.exec(url.pathname)
  if (!match) {
    return json(
      404,
      errorBody('NOT_FOUND', `No route for ${url.pathname}; endpoints are POST /endpoints/<trigger>.`),
    )
  }
  const trigger = safeDecode(match[1]!)
  const route =
    trigger !== undefined && Object.hasOwn(app.manifest.triggers, trigger)
      ? app.manifest.triggers[trigger]
      : undefined

  const origin = request.headers.get('origin') ?? undefined
  // A trigger that does not exist answers the origins some trigger allows, as on dev and serve: a
  // page with a typo in a name then reads TRIGGER_NOT_FOUND rather than a bare CORS error.
  const corsPolicy =
    route === undefined
      ? policyForUnknownTrigger(
          Object.values(app.manifest.triggers).map((known) => known.cors),
          origin,
        )
      : route.cors
  const preflight = preflightOf(method, (name) => request.headers.get(name) ?? undefined)
  const cors = decideCors(corsPolicy, origin, preflight)
  if (cors.allowed !== undefined)
    for (const [name, value] of Object.entries(cors.headers)) headers.set(name, value)

  // A preflight for a trigger that does not exist is answered too when its origin is allowed: the
  // browser then sends the request itself and shows the page the 404 below.
  if (method === 'OPTIONS' && (route !== undefined || cors.allowed === true))
    return new Response(null, { status: 204, headers })
  // A production endpoint does not list its triggers.
  if (route === undefined || trigger === undefined) {
    return json(404, errorBody('TRIGGER_NOT_FOUND', `There is no trigger named "${trigger ?? match[1]}".`))
  }
  if (method !== 'POST') {
    headers.set('allow', 'POST, OPTIONS')
    return json(
      405,
      errorBody('METHOD_NOT_ALLOWED', `Use POST /endpoints/${trigger} with a JSON body { "payload": … }.`),
    )
  }

  const crossSite = crossSiteRefusal(cors, request.headers.get('sec-fetch-site') ?? undefined, trigger)
  if (crossSite) return json(403, { error: crossSite })

  const body = await readLimited(
    request.body,
    Number(request.headers.get('content-length')),
    LIMITS.maxBodyBytes,
  )
  if (body === 'too-large') {
    headers.set('connection', 'close')
    return json(
      413,
      errorBody('PAYLOAD_TOO_LARGE', `The request body is over ${LIMITS.maxBodyBytes} bytes (1 MiB).`),
    )
  }
  let parsed: unknown
  try {
    // The byte order mark kept, as dev and serve keep it: a body that starts with one is not JSON there.
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(body)
    parsed = text.length === 0 ? {} : (JSON.parse(text) as unknown)
  } catch (error) {
    return json(400, errorBody('BAD_JSON', `The request body is not JSON: ${(error as Error).message}.`))
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return json(400, errorBody('BAD_REQUEST', 'The request body must be a JSON object: { "payload": … }.'))
  }

  const params = resolveParams(trigger, route, env)
  if ('error' in params) return json(500, { error: params.error })

  const executionParams = {
    payload: (parsed as { payload?: unknown }).payload ?? null,
    method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: Object.fromEntries(request.headers),
    requestId,
  }
  const outcome = await invoke(app, trigger, route, executionParams, params.values, params.secrets)
  if (outcome.ok) {
    headers.set('content-type', 'application/json; charset=utf-8')
    headers.set('cache-control', 'no-store')
    return new Response(outcome.json, { status: 200, headers })
  }
  return json(statusForCode(outcome.code), errorBody(outcome.code, outcome.message))
}

function resolveParams(
  trigger: string,
  route: WorkerTrigger,
  env: WorkerEnv,
):
  | { values: Record<string, string | number | boolean | null>; secrets: Map<string, string> }
  | { error: { code: string; message: string } } {
  const values: Record<string, string | number | boolean | null> = {}
  const secrets = new Map<string, string>()
  for (const [param, value] of Object.entries(route.params)) {
    if (typeof value !== 'object' || value === null) {
      values[param] = value
      continue
    }
    const secret = env[value.secret]
    if (typeof secret !== 'string') {
      return {
        error: {
          code: 'SECRET_MISSING',
          message: `Trigger ${trigger} needs the secret ${value.secret} (param "${param}"), which is not set on this Worker.`,
        },
      }
    }
    values[param] = secret
    secrets.set(value.secret, secret)
  }
  return { values, secrets }
}

type Outcome = { ok: true; json: string } | { ok: false; code: string; message: string }

async function invoke(
  app: WorkerApp,
  trigger: string,
  route: WorkerTrigger,
  executionParams: Record<string, unknown>,
  triggerParams: Record<string, unknown>,
  secrets: Map<string, string>,
): Promise<Outcome> {
  const invocation: Invocation = {
    trigger,
    requestId: String(executionParams.requestId),
    deadline: Date.now() + route.timeoutMs,
    done: false,
    timers: new Set(),
    aborts: new Set(),
    callCount: 0,
    logCount: 0,
    secrets,
  }
  let timeout: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<Outcome>((resolve) => {
    timeout = setTimeout(
      () =>
        resolve({
          ok: false,
          code: 'FUNCTION_TIMEOUT',
          message: `The function did not finish within its timeout of ${route.timeoutMs} ms (raise "timeoutMs" on the trigger, at most 300000).`,
        }),
      route.timeoutMs,
    )
  })
  try {
    const outcome = await Promise.race([
      run(app, route, invocation, executionParams, triggerParams),
      timedOut,
    ])
    return redactOutcome(outcome, secrets)
  } finally {
    clearTimeout(timeout)
    end(invocation)
  }
}

async function run(
  app: WorkerApp,
  route: WorkerTrigger,
  invocation: Invocation,
  executionParams: Record<string, unknown>,
  triggerParams: Record<string, unknown>,
): Promise<Outcome> {
  try {
    const factory = Object.hasOwn(app.factories, route.function) ? app.factories[route.function] : undefined
    if (factory === undefined)
      throw new CodedError('INTERNAL_ERROR', `function ${route.function} is not in this Worker`)
    const timers = makeTimers(invocation)
    const frozenExecutionParams = freezeData(executionParams)
    const frozenTriggerParams = freezeData(triggerParams)
    const api = makeApi(invocation)
    // The function's own globalThis: the contract's globals, nothing of the Worker's.
    const functionGlobal: Record<string, unknown> = {
      ...contractGlobals(),
      executionParams: frozenExecutionParams,
      triggerParams: frozenTriggerParams,
      api,
      ...timers,
    }
    functionGlobal.globalThis = functionGlobal
    const runFunction = callFactory(
      factory,
      functionGlobal,
      frozenExecutionParams,
      frozenTriggerParams,
      api,
      timers,
      Function,
    )
    if (typeof runFunction !== 'function') throw new CodedError('FUNCTION_NO_RUN', NO_RUN_MESSAGE)
    const result = resultJson(await runFunction())
    if ('code' in result) throw new CodedError(result.code, result.message)
    return { ok: true, json: result.json }
  } catch (error) {
    if (error instanceof CodedError) return { ok: false, code: error.code, message: error.message }
    return {
      ok: false,
      code: 'FUNCTION_ERROR',
      message: error instanceof Error ? error.message : describeThrown(error),
    }
  }
}

/** Ends an invocation: its timers stop, its calls abort, later api calls reject. */
function end(invocation: Invocation): void {
  invocation.done = true
  for (const timer of invocation.timers) clearTimeout(timer)
  invocation.timers.clear()
  for (const controller of invocation.aborts) controller.abort()
  invocation.aborts.clear()
}

/** DESIGN §2 "also present": the ECMAScript built-ins and these web APIs; never fetch, caches, env. */
function contractGlobals(): Record<string, unknown> {
  const names = [
    'Object',
    'Function',
    'Array',
    'Number',
    'parseFloat',
    'parseInt',
    'Infinity',
    'NaN',
    'undefined',
    'Boolean',
    'String',
    'Symbol',
    'Date',
    'Promise',
    'RegExp',
    'Error',
    'AggregateError',
    'EvalError',
    'RangeError',
    'ReferenceError',
    'SyntaxError',
    'TypeError',
    'URIError',
    'JSON',
    'Math',
    'Intl',
    'ArrayBuffer',
    'Uint8Array',
    'Int8Array',
    'Uint16Array',
    'Int16Array',
    'Uint32Array',
    'Int32Array',
    'Float32Array',
    'Float64Array',
    'Uint8ClampedArray',
    'BigUint64Array',
    'BigInt64Array',
    'DataView',
    'Map',
    'BigInt',
    'Set',
    'WeakMap',
    'WeakSet',
    'WeakRef',
    'FinalizationRegistry',
    'Proxy',
    'Reflect',
    'decodeURI',
    'decodeURIComponent',
    'encodeURI',
    'encodeURIComponent',
    'escape',
    'unescape',
    'isFinite',
    'isNaN',
    'URL',
    'URLSearchParams',
    'TextEncoder',
    'TextDecoder',
    'btoa',
    'atob',
    'structuredClone',
  ]
  const source = globalThis as unknown as Record<string, unknown>
  return Object.fromEntries(names.filter((name) => name in source).map((name) => [name, source[name]]))
}

function makeTimers(invocation: Invocation) {
  const schedule =
    (repeat: boolean) =>
    (callback: unknown, ms?: unknown, ...args: unknown[]) => {
      if (typeof callback !== 'function') throw new TypeError('the callback must be a function')
      if (invocation.done) return 0
      const delay = typeof ms === 'number' && ms > 0 ? ms : 0
      const fire = () => {
        if (!repeat) invocation.timers.delete(handle)
        if (!invocation.done) (callback as (...values: unknown[]) => void)(...args)
      }
      const handle = repeat ? setInterval(fire, delay) : setTimeout(fire, delay)
      invocation.timers.add(handle)
      return handle
    }
  const clear = (handle: unknown) => {
    const timer = handle as ReturnType<typeof setTimeout>
    if (!invocation.timers.has(timer)) return
    clearTimeout(timer)
    invocation.timers.delete(timer)
  }
  return {
    setTimeout: schedule(false),
    setInterval: schedule(true),
    clearTimeout: clear,
    clearInterval: clear,
  }
}

interface CallOptions {
  body?: unknown
  headers?: unknown
  timeoutMs?: unknown
}

function makeApi(invocation: Invocation) {
  const request = (method: unknown, url: unknown, options: unknown = {}): Promise<ApiResponse> => {
    if (typeof method !== 'string' || typeof url !== 'string') {
      return Promise.reject(
        new TypeError('api.request(method, url, options): method and url must be strings'),
      )
    }
    return call(invocation, method, url, (options ?? {}) as CallOptions)
  }
  const log = (level: 'info' | 'error') => (value: unknown) => {
    if (invocation.done || invocation.logCount >= LIMITS.maxLogRecords) return
    invocation.logCount++
    // Workers Logs keep console output: one JSON line per record, tied to the request. The
    // console is the Worker's only log sink, hence the exception to the no-console rule.
    const line = redactText(
      JSON.stringify({
        requestId: invocation.requestId,
        trigger: invocation.trigger,
        level,
        value: toLogValue(value),
      }),
      invocation.secrets,
    )
    // eslint-disable-next-line no-console
    if (level === 'error') console.error(line)
    // eslint-disable-next-line no-console
    else console.log(line)
  }
  return Object.freeze(contractApi(request, log, HttpError))
}

/** One outbound call: checked against the allowlist before any byte is sent, and at every redirect. */
async function call(
  invocation: Invocation,
  rawMethod: string,
  rawUrl: string,
  options: CallOptions,
): Promise<ApiResponse> {
  if (invocation.done) throw new CodedError('INVOCATION_ENDED', 'The invocation has already ended.')
  if (++invocation.callCount > LIMITS.maxCalls) {
    throw new CodedError(
      'FUNCTION_CALL_LIMIT',
      `Too many outbound calls: an invocation may make at most ${LIMITS.maxCalls}.`,
    )
  }
  if (!METHOD_TOKEN.test(rawMethod) || REFUSED_METHODS.has(rawMethod.toUpperCase())) {
    throw new CodedError(
      'EGRESS_METHOD_DENIED',
      `Blocked call: the method ${JSON.stringify(rawMethod)} is not allowed.`,
    )
  }
  let method = rawMethod.toUpperCase()
  const headers = copyHeaders(options.headers)
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'host')) {
    throw new CodedError('EGRESS_HEADER_DENIED', 'Blocked call: a function may not set the Host header.')
  }
  let body = encodeBody(options.body, headers)
  let url = checkUrl(rawUrl, undefined)

  const ownTimeout =
    typeof options.timeoutMs === 'number' && options.timeoutMs > 0 ? options.timeoutMs : Infinity
  const deadline = Math.min(invocation.deadline, Date.now() + ownTimeout)
  const totalMs = Math.max(0, Math.round(deadline - Date.now()))
  const controller = new AbortController()
  invocation.aborts.add(controller)
  let timedOut = false
  const timer = setTimeout(
    () => {
      timedOut = true
      controller.abort()
    },
    Math.max(0, deadline - Date.now()),
  )
  try {
    for (let hop = 0; ; hop++) {
      let response: Response
      try {
        response = await fetch(url.href, {
          method,
          headers,
          // As bytes: fetch labels a string body text/plain, where the local client sends it as
          // is, with only the content-type the function set (DESIGN §2).
          ...(body === undefined ? {} : { body: new TextEncoder().encode(body) }),
          redirect: 'manual',
          signal: controller.signal,
        })
      } catch (error) {
        throw failure(url.hostname, timedOut && totalMs, invocation.done, error)
      }
      const location = response.headers.get('location')
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel()
        if (hop >= LIMITS.maxRedirects) {
          throw new CodedError(
            'EGRESS_TOO_MANY_REDIRECTS',
            `Blocked call to ${url.hostname}: the upstream redirected more than ${LIMITS.maxRedirects} times.`,
            url.hostname,
          )
        }
        const next = checkUrl(location, url)
        // Only headers that carry no credential cross to another origin, as locally: a custom
        // header (x-goog-api-key, stripe-account, ...) may hold a key too.
        if (next.origin !== url.origin) {
          for (const name of Object.keys(headers))
            if (!CROSS_ORIGIN_SAFE_HEADERS.has(name.toLowerCase())) delete headers[name]
        }
        // As browsers do: 303, and 301/302 after a POST, continue as a GET without a body.
        if (
          response.status === 303 ||
          ((response.status === 301 || response.status === 302) && method === 'POST')
        ) {
          if (method !== 'HEAD') method = 'GET'
          body = undefined
          for (const name of Object.keys(headers))
            if (BODY_HEADERS.includes(name.toLowerCase())) delete headers[name]
        }
        url = next
        continue
      }
      const responseHeaders = headersRecord(response.headers)
      let bytes: Uint8Array | 'too-large'
      try {
        bytes = await readLimited(
          decodedBody(response.body, responseHeaders),
          Number(responseHeaders['content-length']),
          LIMITS.maxResponseBytes,
        )
      } catch (error) {
        throw failure(url.hostname, timedOut && totalMs, invocation.done, error)
      }
      if (bytes === 'too-large') {
        const { reason, fix } = responseTooLargeDetails(LIMITS.maxResponseBytes)
        throw new CodedError(
          'EGRESS_RESPONSE_TOO_LARGE',
          `Call to ${url.hostname} failed: ${reason}. ${fix}`,
          url.hostname,
        )
      }
      return {
        status: response.status,
        statusText: response.statusText,
        headers: responseHeaders,
        body: parseResponseText(new TextDecoder().decode(bytes), responseHeaders['content-type']),
      }
    }
  } finally {
    clearTimeout(timer)
    invocation.aborts.delete(controller)
  }
}

/**
 * Response headers as the local client hands them to a function: lowercase names, a repeated header
 * joined with ", ". Headers iterates set-cookie one value at a time, so fromEntries kept the last.
 */
function headersRecord(headers: Headers): Record<string, string> {
  const record = Object.fromEntries(headers)
  const cookies = headers.getSetCookie()
  if (cookies.length > 0) record['set-cookie'] = cookies.join(', ')
  return record
}

/**
 * The body decoded, as the local client decodes it, and its headers then describing what the
 * function gets (no content-encoding, no wire content-length). fetch decodes gzip and br itself;
 * deflate, which it passes through, is decoded here.
 */
function decodedBody(
  body: ReadableStream<Uint8Array> | null,
  headers: Record<string, string>,
): ReadableStream<Uint8Array> | null {
  const coding = headers['content-encoding']?.trim().toLowerCase()
  if (coding !== 'gzip' && coding !== 'br' && coding !== 'deflate') return body
  delete headers['content-encoding']
  delete headers['content-length']
  return coding === 'deflate' && body !== null ? body.pipeThrough(new DecompressionStream('deflate')) : body
}

/** `timedOut`: the call's deadline in ms when it passed, else false. The messages are the local client's. */
function failure(host: string, timedOut: number | false, ended: boolean, error: unknown): CodedError {
  if (error instanceof CodedError) return error
  if (ended)
    return new CodedError(
      'EGRESS_ABORTED',
      `Call to ${host} failed: the call was aborted before it finished (the invocation ended).`,
      host,
    )
  if (timedOut !== false) {
    const { reason, fix } = timeoutDetails(timedOut)
    return new CodedError('EGRESS_TIMEOUT', `Call to ${host} failed: ${reason}. ${fix}`, host)
  }
  return new CodedError(
    'EGRESS_CONNECT_FAILED',
    `Call to ${host} failed: ${error instanceof Error ? error.message : describeThrown(error)}.`,
    host,
  )
}

/** The Worker's allowlist (module scope: one Worker serves one project). Set by createWorker. */
let allowlist: readonly DomainEntry[] = []

/**
 * The checks of DESIGN §3 that a Worker can make: WHATWG URL parsing, https only, no userinfo,
 * the allowlist by host and port. (IP-level checks are Cloudflare's: see the README.)
 */
function checkUrl(text: string, base: URL | undefined): URL {
  let url: URL
  try {
    url = new URL(text, base)
  } catch {
    throw new CodedError(
      'EGRESS_URL_INVALID',
      `Blocked call to ${shorten(text, 100)}: this is not a valid absolute URL.`,
    )
  }
  const host = url.hostname.replace(/\.$/, '')
  if (url.protocol !== 'https:') {
    const reason =
      base?.protocol === 'https:' && url.protocol === 'http:'
        ? `${base.hostname} redirected from https:// to plain http://, which would send the call unencrypted`
        : url.protocol === 'http:'
          ? 'plain http:// is not allowed (only https://)'
          : `the "${url.protocol}" scheme is not allowed; functions call https:// URLs only`
    throw new CodedError('EGRESS_SCHEME_DENIED', `Blocked call to ${host}: ${reason}.`, host)
  }
  if (url.username !== '' || url.password !== '') {
    throw new CodedError(
      'EGRESS_URL_INVALID',
      `Blocked call to ${host}: the URL carries a user name or password before "@${url.host}"; credentials go in headers, never in the URL.`,
      host,
    )
  }
  const port = url.port === '' ? 443 : Number(url.port)
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (!allowlist.some((entry) => entryMatches(entry, bare, port))) {
    const ports = allowlist
      .filter((entry) => entryMatches(entry, bare, entry.port ?? 443))
      .map((entry) => entry.port ?? 443)
    const entryText = port === 443 ? host : `${host}:${port}`
    const reason =
      ports.length > 0
        ? `port ${port} is not allowed for this host (centrali.json "domains" allows it on port ${ports.join(', ')} only)`
        : `${port === 443 ? 'the host' : entryText} is not in centrali.json "domains"`
    throw new CodedError(
      ports.length > 0 ? 'EGRESS_PORT_DENIED' : 'EGRESS_HOST_DENIED',
      `Blocked call to ${host}: ${reason}. Allow it with: centrali domains add ${entryText}, then deploy again.`,
      host,
    )
  }
  return url
}

async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  declared: number,
  maxBytes: number,
): Promise<Uint8Array | 'too-large'> {
  if (Number.isFinite(declared) && declared > maxBytes) {
    await body?.cancel()
    return 'too-large'
  }
  if (body === null) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel()
      return 'too-large'
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

/**
 * Secret values never leave in a response or a log line (DESIGN §4). The local redactor also
 * catches base64 and URL-encoded forms; here the literal and JSON-escaped forms are replaced.
 */
function redactText(text: string, secrets: ReadonlyMap<string, string>): string {
  let result = text
  for (const [name, value] of secrets) {
    if (value.length < MIN_REDACTED_LENGTH) continue
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)])) {
      result = result.split(form).join(`[redacted:${name}]`)
    }
  }
  return result
}

function redactOutcome(outcome: Outcome, secrets: ReadonlyMap<string, string>): Outcome {
  if (secrets.size === 0) return outcome
  return outcome.ok
    ? { ok: true, json: redactText(outcome.json, secrets) }
    : { ...outcome, message: redactText(outcome.message, secrets) }
}

function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } }
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}
