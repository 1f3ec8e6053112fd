import { lookup } from 'node:dns/promises'
import { STATUS_CODES } from 'node:http'
import { connect as connectTcp, isIP, type Socket } from 'node:net'
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import {
  Agent,
  buildConnector,
  request as agentRequest,
  type Connector,
  type ConnectorOptions,
  type Dispatcher,
} from './undici.js'
import { asAbortSignal, CallSignal, type AbortSource } from '../shared/call-signal.js'
import { UserError } from '../shared/errors.js'
import { Allowlist } from './allowlist.js'
import { allowCommand, EgressError, responseTooLargeDetails, timeoutDetails } from './errors.js'
import { canonicalAddress, checkAddress, type AddressVerdict } from './ip-policy.js'
import { BODY_HEADERS, CROSS_ORIGIN_SAFE_HEADERS } from './redirect-headers.js'
import { shorten } from '../shared/shorten.js'

/**
 * The guarded HTTP client (DESIGN §3): every outbound call of a function goes through `request()`.
 *
 * Where each rule is enforced:
 * - before anything is sent, per hop (`checkHop`): URL syntax, scheme, userinfo, allowlist with
 *   port, and IP literals against the IP policy (they skip DNS);
 * - inside the connector of the public agent, per connection: the allowlist again, DNS through the
 *   injected resolver with every answer checked (one refused answer refuses all: DNS rebinding),
 *   a TCP connection to a checked address (never re-resolved), `socket.remoteAddress` verified,
 *   and only then TLS, with SNI and certificate checks for the original host;
 * - mapped hosts (`map`) go through a second agent whose connector reaches only the mapped origins:
 *   the one way a call may reach a private or loopback address;
 * - redirects are followed here, each hop checked as above; the deadline and the abort signal
 *   cover DNS, connect, redirects and the body; the body is capped by its decoded size.
 */

export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

export interface EgressClientOptions {
  /** `centrali.json` "domains". */
  domains: readonly string[]
  /** Host -> origin, e.g. `{ 'api.openai.com': 'http://127.0.0.1:9000' }` (`--map`, `dev.map`). */
  map?: Readonly<Record<string, string>>
  /** DNS; defaults to `dns.promises.lookup(hostname, { all: true })`. */
  resolve?: Resolver
  /** Cap on the decoded response body; default 10 MiB. */
  maxResponseBytes?: number
  /** Default 5. */
  maxRedirects?: number
  /**
   * FOR TESTS ONLY: never set from configuration, flags or the environment. Lets a test stand a
   * local server in for a public host on the unmapped path, which production never allows.
   */
  unsafeTestOnly?: EgressTestOnlyOptions
}

export interface EgressTestOnlyOptions {
  /** Addresses that pass the IP policy on the unmapped path (e.g. `['127.0.0.1', '::1']`). */
  trustedAddresses?: readonly string[]
  /** PEM certificate authority trusted for TLS on the unmapped path, instead of the system roots. */
  ca?: string
}

export interface EgressRequest {
  method: string
  url: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  /** Epoch ms by which everything (DNS, connect, redirects, body) must be done. */
  deadline: number
  signal?: AbortSource
}

export interface EgressResponse {
  status: number
  statusText: string
  /** Lowercase names; `content-encoding` (and the wire `content-length`) removed once decoded. */
  headers: Record<string, string>
  /** Decoded body. */
  body: Uint8Array
  /** The final URL, after redirects, without its fragment. */
  url: string
  redirects: number
}

export interface EgressClient {
  request(request: EgressRequest): Promise<EgressResponse>
  /** Closes pooled connections; waits for calls in flight. */
  close(): Promise<void>
}

const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
const DEFAULT_MAX_REDIRECTS = 5
const HTTPS_PORT = 443
/** Per address tried, and for the TLS handshake; the request deadline bounds the whole call anyway. */
const CONNECT_TIMEOUT_MS = 10_000
const DNS_TIMEOUT_MS = 10_000
/** setTimeout fires at once beyond this, so longer deadlines are clamped to it. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** A redirect's own body is read (and dropped) up to this size before the socket is closed instead. */
const REDIRECT_BODY_DUMP_BYTES = 64 * 1024

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  deflate: () => createInflate(),
  br: () => createBrotliDecompress(),
}
const ACCEPT_ENCODING = 'gzip, deflate, br'
/** RFC 9110 token: header names and methods. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const STANDARD_METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']
const REFUSED_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])
/** Headers that belong to the connection, which the client manages. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
])

export function createEgressClient(options: EgressClientOptions): EgressClient {
  const allowlist = new Allowlist(options.domains)
  const upstreams = parseUpstreamMap(options.map ?? {})
  const trusted = new Set(
    (options.unsafeTestOnly?.trustedAddresses ?? []).map((address) => canonicalAddress(address) ?? address),
  )
  const addressPolicy = (ip: string): AddressVerdict =>
    trusted.has(canonicalAddress(ip) ?? ip) ? { allowed: true } : checkAddress(ip)

  const publicAgent = new Agent({
    connect: createPublicConnector({
      allowlist,
      addressPolicy,
      resolve: options.resolve ?? lookupAll,
      ...(options.unsafeTestOnly?.ca === undefined ? {} : { ca: options.unsafeTestOnly.ca }),
    }),
    // The call's deadline is the clock; undici's idle timers would only cut it short.
    headersTimeout: 0,
    bodyTimeout: 0,
  })
  const mappedAgent = new Agent({
    connect: createMappedConnector(new Set(upstreams.values())),
    headersTimeout: 0,
    bodyTimeout: 0,
  })

  const client: ClientContext = {
    allowlist,
    upstreams,
    addressPolicy,
    publicAgent,
    mappedAgent,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
  }
  return {
    request: (request) => sendRequest(request, client),
    close: async () => {
      await Promise.all([publicAgent.close(), mappedAgent.close()])
    },
  }
}

interface ClientContext {
  allowlist: Allowlist
  /** Canonical host -> mapped origin (`http://127.0.0.1:9000`). */
  upstreams: ReadonlyMap<string, string>
  addressPolicy: (ip: string) => AddressVerdict
  publicAgent: Agent
  mappedAgent: Agent
  maxResponseBytes: number
  maxRedirects: number
}

// ---------------------------------------------------------------------------------------------
// The request loop

async function sendRequest(request: EgressRequest, client: ClientContext): Promise<EgressResponse> {
  let url = parseRequestUrl(request.url)
  let host = hostOf(url)
  let method = checkMethod(request.method, host)
  let body = request.body
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    // The bridge serialises function values; anything else reaching here is a bug, not a user error.
    throw new TypeError('EgressRequest.body must be a string or a Uint8Array')
  }
  let headers = checkRequestHeaders(request.headers ?? {}, body, host)

  const budget = startBudget(request.deadline, request.signal, () => host)
  try {
    for (let redirects = 0; ; redirects += 1) {
      const hop = checkHop(url, client)
      host = hop.host
      budget.throwIfOver()
      const response = await dispatch(hop, method, headers, body, budget.signal, client)
      const location = redirectLocation(response)
      if (location === undefined) {
        return await readResponse(response, hop, method, redirects, budget.signal, client.maxResponseBytes)
      }

      await response.body.dump({
        limit: REDIRECT_BODY_DUMP_BYTES,
        signal: asAbortSignal(budget.signal),
      })
      if (redirects >= client.maxRedirects) {
        throw new EgressError('EGRESS_TOO_MANY_REDIRECTS', {
          host,
          reason: `the upstream redirected more than ${client.maxRedirects} times`,
          fix: 'Call the final URL directly; the upstream may be in a redirect loop.',
        })
      }
      const next = followLocation(location, url, host)
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        throw new EgressError('EGRESS_SCHEME_DENIED', {
          host: hostOf(next),
          reason: `${host} redirected from https:// to plain http://, which would send the call unencrypted`,
          fix: 'Call the final https:// URL directly.',
        })
      }
      if (next.origin !== url.origin) headers = keepCrossOriginSafe(headers)
      if (turnsIntoGet(response.statusCode, method)) {
        method = 'GET'
        body = undefined
        headers = withoutBodyHeaders(headers)
      }
      url = next
      host = hostOf(url)
    }
  } catch (error) {
    throw budget.failure() ?? asEgressError(error, host)
  } finally {
    budget.dispose()
  }
}

function parseRequestUrl(text: string): URL {
  try {
    return withoutFragment(new URL(text))
  } catch {
    const shown = shorten(String(text), SHOWN_URL_LENGTH)
    throw new EgressError('EGRESS_URL_INVALID', {
      host: shown,
      reason: 'this is not a valid absolute URL',
      fix: 'Pass a full URL such as https://api.example.com/v1/items.',
    })
  }
}

/**
 * The host as the URL names it: canonical, IPv6 in brackets, no trailing dot. A URL without a host
 * (`file:///etc/passwd`, `data:…`) is named by its text, so the message still says what was called.
 */
function hostOf(url: URL): string {
  const host = url.hostname.endsWith('.') ? url.hostname.slice(0, -1) : url.hostname
  return host === '' ? shorten(url.href, SHOWN_URL_LENGTH) : host
}

/** How much of a URL (or of what was passed as one) a message shows. */
const SHOWN_URL_LENGTH = 100

function withoutFragment(url: URL): URL {
  url.hash = ''
  return url
}

function checkMethod(method: string, host: string): string {
  // Values arrive from function code through the bridge: a type is a hope, not a fact.
  if (typeof method !== 'string' || !TOKEN.test(method) || REFUSED_METHODS.has(method.toUpperCase())) {
    throw new EgressError('EGRESS_METHOD_DENIED', {
      host,
      reason: `the method ${JSON.stringify(method)} is not allowed`,
      fix: `Use one of ${STANDARD_METHODS.join(', ')}.`,
    })
  }
  // `post` means POST; an unknown token is sent as written (methods are case-sensitive).
  return STANDARD_METHODS.find((name) => name === method.toUpperCase()) ?? method
}

/** Header names lowercased; refuses what could smuggle a request or pick another host. */
function checkRequestHeaders(
  input: Readonly<Record<string, string>>,
  body: string | Uint8Array | undefined,
  host: string,
): Map<string, string> {
  const deny = (reason: string, fix: string): EgressError =>
    new EgressError('EGRESS_HEADER_DENIED', { host, reason, fix })
  const headers = new Map<string, string>()
  for (const [rawName, value] of Object.entries(input)) {
    const name = rawName.toLowerCase()
    if (!TOKEN.test(rawName)) {
      throw deny(`${JSON.stringify(rawName)} is not a valid header name`, 'Use letters, digits and dashes.')
    }
    if (typeof value !== 'string') {
      throw deny(`the value of the "${rawName}" header is not a string`, 'Pass header values as strings.')
    }
    if (/[\r\n\0]/.test(value)) {
      throw deny(
        `the value of the "${rawName}" header contains a line break or a NUL byte (header injection)`,
        'Remove CR, LF and NUL characters from header values.',
      )
    }
    if (name === 'host') {
      throw deny(
        'a "Host" header may not be set: the host comes from the URL, and the allowlist checks that one',
        'Remove the Host header and call the URL of the host you mean.',
      )
    }
    if (CONNECTION_HEADERS.has(name)) {
      throw deny(`the "${rawName}" header belongs to the connection, which the client manages`, `Remove it.`)
    }
    if (headers.has(name)) {
      throw deny(`the "${name}" header is set twice (header names ignore case)`, 'Set it once.')
    }
    headers.set(name, value)
  }
  const declaredLength = headers.get('content-length')
  if (declaredLength !== undefined) {
    const actualLength = body === undefined ? 0 : byteLength(body)
    if (declaredLength.trim() !== String(actualLength)) {
      throw deny(
        `"content-length: ${declaredLength}" does not match the ${actualLength}-byte body`,
        'Leave Content-Length out: the client sets it.',
      )
    }
    // The client computes it from the body it sends; keeping both would duplicate it.
    headers.delete('content-length')
  }
  return headers
}

function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
}

// ---------------------------------------------------------------------------------------------
// One hop: the checks made before anything is sent

interface Hop {
  /** The logical URL, naming the original host. */
  url: URL
  /** Canonical host (IPv6 in brackets), no trailing dot. */
  host: string
  /** Where undici connects: the mapped origin, or `https://host[:port]`. */
  dispatchOrigin: string
  path: string
  /** Set for mapped hosts: the original authority, so the upstream sees the host it stands in for. */
  hostHeader?: string
}

function checkHop(url: URL, client: ClientContext): Hop {
  const host = hostOf(url)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new EgressError('EGRESS_SCHEME_DENIED', {
      host,
      reason: `the "${url.protocol}" scheme is not allowed; functions call https:// URLs only`,
      fix: 'Use an https:// URL.',
    })
  }
  if (url.username !== '' || url.password !== '') {
    throw new EgressError('EGRESS_URL_INVALID', {
      host,
      reason: `the URL carries a user name or password before "@${url.host}"; credentials go in headers, never in the URL`,
      fix: 'Remove the "user:password@" part and send credentials in a header such as Authorization.',
    })
  }
  if (url.hostname === '' || url.hostname === '.') {
    throw new EgressError('EGRESS_URL_INVALID', {
      host,
      reason: 'the URL has no host',
      fix: 'Pass a full URL such as https://api.example.com/v1/items.',
    })
  }

  const upstream = client.upstreams.get(host)
  if (url.protocol === 'http:' && upstream === undefined) {
    throw new EgressError('EGRESS_SCHEME_DENIED', {
      host,
      reason: 'plain http:// is not allowed (only https://, or http:// to a host mapped with --map)',
      fix: `Call https://${host} instead.`,
    })
  }

  // A mapped host is checked as the host it stands in for: port 443 unless the URL names one.
  const port = url.port === '' ? HTTPS_PORT : Number(url.port)
  const bareHost = unbracket(host)
  const isIpLiteral = isIP(bareHost) !== 0
  if (isIpLiteral && upstream === undefined) {
    // Checked before the allowlist: "add it to domains" would be the wrong fix for 10.0.0.1.
    const verdict = client.addressPolicy(bareHost)
    if (!verdict.allowed) throw addressDenied(host, bareHost, verdict.reason, false)
  }
  if (!client.allowlist.allows(host, port)) {
    const ports = client.allowlist.portsFor(host)
    if (ports.length > 0) {
      throw new EgressError('EGRESS_PORT_DENIED', {
        host,
        reason: `port ${port} is not allowed for this host (centrali.json "domains" allows it on port ${ports.join(', ')} only)`,
        allow: allowCommand(host, port, isIpLiteral),
      })
    }
    throw new EgressError('EGRESS_HOST_DENIED', {
      host,
      reason: `${port === HTTPS_PORT ? 'the host' : `${host}:${port}`} is not in centrali.json "domains"`,
      allow: allowCommand(host, port, isIpLiteral),
    })
  }

  const authority = url.port === '' ? host : `${host}:${url.port}`
  const path = `${url.pathname}${url.search}`
  return upstream === undefined
    ? { url, host, dispatchOrigin: `https://${authority}`, path }
    : { url, host, dispatchOrigin: upstream, path, hostHeader: authority }
}

function addressDenied(host: string, address: string, reason: string, resolved: boolean): EgressError {
  if (resolved) {
    return new EgressError('EGRESS_IP_DENIED', {
      host,
      reason: `it resolves to ${address}, ${reason}; an answer with any internal address is refused whole (DNS rebinding protection)`,
      fix: `Functions may only reach public addresses; to test against a local server, map the host: centrali dev --map ${host}=http://127.0.0.1:<port>`,
    })
  }
  return new EgressError('EGRESS_IP_DENIED', {
    host,
    reason: `${address} is ${reason}; functions may only reach public internet addresses`,
    fix: 'Call the public host name of the service; to test against a local server, map that name to it: centrali dev --map api.example.com=http://127.0.0.1:<port>',
  })
}

// ---------------------------------------------------------------------------------------------
// Sending and redirects

function dispatch(
  hop: Hop,
  method: string,
  headers: ReadonlyMap<string, string>,
  body: string | Uint8Array | undefined,
  signal: CallSignal,
  client: ClientContext,
): Promise<Dispatcher.ResponseData> {
  const sent: Record<string, string> = {}
  for (const [name, value] of headers) sent[name] = value
  if (!headers.has('accept-encoding')) sent['accept-encoding'] = ACCEPT_ENCODING
  if (hop.hostHeader !== undefined) sent['host'] = hop.hostHeader
  const agent = hop.hostHeader === undefined ? client.publicAgent : client.mappedAgent
  return agentRequest(agent, {
    origin: hop.dispatchOrigin,
    path: hop.path,
    method: method as Dispatcher.HttpMethod,
    headers: sent,
    body: body ?? null,
    signal: asAbortSignal(signal),
  })
}

function redirectLocation(response: Dispatcher.ResponseData): string | undefined {
  if (!REDIRECT_STATUSES.has(response.statusCode)) return undefined
  const location = response.headers['location']
  return Array.isArray(location) ? location[0] : location
}

function followLocation(location: string, from: URL, host: string): URL {
  try {
    return withoutFragment(new URL(location, from))
  } catch {
    throw new EgressError('EGRESS_URL_INVALID', {
      host,
      reason: `the upstream redirected to ${JSON.stringify(shorten(location, SHOWN_URL_LENGTH))}, which is not a valid URL`,
      fix: 'Check the URL you call; the upstream answered with a broken redirect.',
    })
  }
}

/** 303 (except for HEAD), and 301/302 after a POST, repeat the call as a GET without a body. */
function turnsIntoGet(status: number, method: string): boolean {
  return (status === 303 && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')
}

function keepCrossOriginSafe(headers: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...headers].filter(([name]) => CROSS_ORIGIN_SAFE_HEADERS.has(name)))
}

function withoutBodyHeaders(headers: ReadonlyMap<string, string>): Map<string, string> {
  return new Map([...headers].filter(([name]) => !BODY_HEADERS.includes(name)))
}

// ---------------------------------------------------------------------------------------------
// Response body: decoded here, capped by decoded size

async function readResponse(
  response: Dispatcher.ResponseData,
  hop: Hop,
  method: string,
  redirects: number,
  signal: CallSignal,
  maxBytes: number,
): Promise<EgressResponse> {
  const headers: Record<string, string> = {}
  const given = response.headers
  for (const name in given) {
    const value = given[name]
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  const encoding = headers['content-encoding']
  const codings =
    encoding === undefined
      ? []
      : encoding
          .split(',')
          .map((coding) => coding.trim().toLowerCase())
          .filter((coding) => coding !== '' && coding !== 'identity')
  // An encoding we cannot decode is passed through as is, header kept, capped by its wire size.
  const decodable = codings.every((coding) => coding in DECODERS)
  const decoders = decodable ? codings.reverse().map((coding) => DECODERS[coding]!()) : []

  // A HEAD answer declares the length of a body it does not send.
  const declaredLength = method === 'HEAD' ? 0 : Number(headers['content-length'])
  if (decoders.length === 0 && declaredLength > maxBytes) {
    response.body.destroy()
    throw responseTooLarge(hop.host, maxBytes)
  }
  const body = await readBodyCapped(response.body, decoders, maxBytes, signal, hop.host)
  if (decoders.length > 0) {
    delete headers['content-encoding']
    delete headers['content-length']
  }
  return {
    status: response.statusCode,
    statusText: response.statusText || (STATUS_CODES[response.statusCode] ?? ''),
    headers,
    body,
    url: hop.url.href,
    redirects,
  }
}

async function readBodyCapped(
  source: Readable,
  decoders: Transform[],
  maxBytes: number,
  signal: CallSignal,
  host: string,
): Promise<Uint8Array> {
  if (decoders.length === 0) return readPlainBody(source, maxBytes, signal, host)
  // The wire is capped too: an endless compressed stream that decodes to nothing still ends.
  const wire = new ByteLimit(maxBytes, () => responseTooLarge(host, maxBytes))
  const collector = new CappedCollector(maxBytes, () => responseTooLarge(host, maxBytes))
  let failedStage: 'body' | 'decoder' | undefined
  source.once('error', () => (failedStage ??= 'body'))
  for (const decoder of decoders) decoder.once('error', () => (failedStage ??= 'decoder'))
  try {
    await pipeline([source, wire, ...decoders, collector], { signal: asAbortSignal(signal) })
  } catch (error) {
    if (error instanceof EgressError || signal.aborted) throw error
    // An empty body labelled as compressed (HEAD, 204, 304, or a sloppy server) decodes to nothing.
    if (failedStage === 'decoder' && wire.bytes === 0) return new Uint8Array(0)
    if (failedStage === 'decoder') {
      throw new EgressError('EGRESS_RESPONSE_INVALID', {
        host,
        reason: `the response body could not be decoded (${errorText(error)})`,
        fix: 'The upstream sent a body that does not match its Content-Encoding; report it to the provider.',
        cause: error,
      })
    }
    throw error
  }
  return collector.body()
}

/**
 * The common case, no decoding: chunks collected from 'data' events (a pipeline, or even an async
 * iterator, costs more than the read of a small body).
 */
function readPlainBody(
  source: Readable,
  maxBytes: number,
  signal: CallSignal,
  host: string,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    let settled = false
    const settle = (error?: unknown) => {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', onAbort)
      if (error === undefined) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total))
      else reject(error)
    }
    const onAbort = () => {
      const reason = signal.reason instanceof Error ? signal.reason : new Error('aborted')
      settle(reason)
      source.destroy(reason)
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort)
    // The listeners stay: a destroyed stream may still emit an error, which must not go unheard.
    source.on('data', (chunk: Buffer) => {
      total += chunk.length
      if (total > maxBytes) {
        settle(responseTooLarge(host, maxBytes))
        source.destroy()
        return
      }
      chunks.push(chunk)
    })
    source.on('end', () => settle())
    source.on('error', (error) =>
      settle(signal.aborted && signal.reason instanceof Error ? signal.reason : error),
    )
    source.on('close', () => {
      // After 'end' this is a no-op; an Error is made (and its stack taken) only when it is not.
      if (!settled) settle(new Error('the response body ended before it was complete'))
    })
  })
}

function responseTooLarge(host: string, maxBytes: number): EgressError {
  return new EgressError('EGRESS_RESPONSE_TOO_LARGE', { host, ...responseTooLargeDetails(maxBytes) })
}

/** Passes bytes through and fails once more than `limit` have passed. */
class ByteLimit extends Transform {
  bytes = 0
  readonly #limit: number
  readonly #onExceeded: () => Error

  constructor(limit: number, onExceeded: () => Error) {
    super()
    this.#limit = limit
    this.#onExceeded = onExceeded
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.#limit) callback(this.#onExceeded())
    else callback(null, chunk)
  }
}

/** Keeps the decoded body and fails once it grows past `limit`, so a bomb is never held in memory. */
class CappedCollector extends Writable {
  #chunks: Buffer[] = []
  #size = 0
  readonly #limit: number
  readonly #onExceeded: () => Error

  constructor(limit: number, onExceeded: () => Error) {
    super()
    this.#limit = limit
    this.#onExceeded = onExceeded
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#size += chunk.length
    if (this.#size > this.#limit) {
      this.#chunks = []
      callback(this.#onExceeded())
      return
    }
    this.#chunks.push(chunk)
    callback()
  }

  body(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#chunks, this.#size))
  }
}

// ---------------------------------------------------------------------------------------------
// Deadline and abort

interface Budget {
  signal: CallSignal
  /** Throws the timeout or abort error if the budget is spent already. */
  throwIfOver(): void
  /** The timeout or abort error, once one happened: it explains any failure that followed. */
  failure(): EgressError | undefined
  dispose(): void
}

function startBudget(
  deadline: number,
  callerSignal: AbortSource | undefined,
  currentHost: () => string,
): Budget {
  if (Number.isNaN(deadline)) throw new TypeError('EgressRequest.deadline must be an epoch time in ms')
  const signal = new CallSignal()
  const totalMs = Math.max(0, Math.round(deadline - Date.now()))
  let failure: EgressError | undefined
  const stop = (error: EgressError): void => {
    failure ??= error
    signal.abort(failure)
  }
  const onTimeout = (): void =>
    stop(new EgressError('EGRESS_TIMEOUT', { host: currentHost(), ...timeoutDetails(totalMs) }))
  const onAbort = (): void =>
    stop(
      new EgressError('EGRESS_ABORTED', {
        host: currentHost(),
        reason: 'the call was aborted before it finished (the invocation ended or was cancelled)',
        ...(callerSignal?.reason === undefined ? {} : { cause: callerSignal.reason }),
      }),
    )

  let timer: NodeJS.Timeout | undefined
  if (callerSignal?.aborted) onAbort()
  else if (totalMs <= 0) onTimeout()
  else timer = setTimeout(onTimeout, Math.min(totalMs, MAX_TIMER_MS))
  callerSignal?.addEventListener('abort', onAbort, { once: true })

  return {
    signal,
    throwIfOver() {
      if (failure) throw failure
    },
    failure: () => failure,
    dispose() {
      clearTimeout(timer)
      callerSignal?.removeEventListener('abort', onAbort)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Connectors: where addresses are resolved, checked and connected to

interface PublicPathPolicy {
  allowlist: Allowlist
  addressPolicy: (ip: string) => AddressVerdict
  resolve: Resolver
  ca?: string
}

/**
 * The connector of every unmapped connection: allowlist, DNS with every answer checked, TCP to a
 * checked address, remote address verified, then TLS to the original host name.
 */
function createPublicConnector(policy: PublicPathPolicy): Connector {
  const tlsOverSocket = buildConnector({
    allowH2: false,
    timeout: CONNECT_TIMEOUT_MS,
    ...(policy.ca === undefined ? {} : { ca: policy.ca }),
  })
  return (options, callback) => {
    connectPublic(options, policy, tlsOverSocket).then(
      (socket) => callback(null, socket),
      (error: unknown) => callback(asEgressError(error, displayHost(unbracket(options.hostname))), null),
    )
  }
}

async function connectPublic(
  options: ConnectorOptions,
  policy: PublicPathPolicy,
  tlsOverSocket: Connector,
): Promise<Socket> {
  const hostname = unbracket(options.hostname)
  const host = displayHost(hostname)
  const port = Number(options.port) || HTTPS_PORT
  // Defence in depth: checkHop already refused these, but nothing reaches a socket without them.
  if (options.protocol !== 'https:') {
    throw new EgressError('EGRESS_SCHEME_DENIED', {
      host,
      reason: `the "${options.protocol}" scheme is not allowed; functions call https:// URLs only`,
      fix: 'Use an https:// URL.',
    })
  }
  if (!policy.allowlist.allows(hostname, port)) {
    throw new EgressError('EGRESS_HOST_DENIED', {
      host,
      reason: 'the host is not in centrali.json "domains"',
      allow: allowCommand(host, port, isIP(hostname) !== 0),
    })
  }

  const addresses = await resolveChecked(hostname, host, policy)
  let lastError: unknown
  for (const address of addresses) {
    let socket: Socket
    try {
      socket = await openTcp(address, port)
    } catch (error) {
      lastError = error
      continue
    }
    verifyRemoteAddress(socket, address, port, host, policy)
    return await upgradeToTls(tlsOverSocket, socket, hostname, port)
  }
  throw lastError
}

/** IP literals skip DNS; names go through the resolver and every answer must pass. */
async function resolveChecked(hostname: string, host: string, policy: PublicPathPolicy): Promise<string[]> {
  const isIpLiteral = isIP(hostname) !== 0
  const addresses = isIpLiteral
    ? [hostname]
    : (
        await withTimeout(policy.resolve(hostname), DNS_TIMEOUT_MS, `DNS lookup of ${hostname} timed out`)
      ).map((answer) => answer.address)
  if (addresses.length === 0) {
    throw new EgressError('EGRESS_CONNECT_FAILED', {
      host,
      reason: 'the name resolves to no address',
      fix: 'Check the spelling of the host name.',
    })
  }
  for (const address of addresses) {
    const verdict = policy.addressPolicy(address)
    if (!verdict.allowed) throw addressDenied(host, address, verdict.reason, !isIpLiteral)
  }
  return addresses
}

function openTcp(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: address, port })
    const timer = setTimeout(
      () => socket.destroy(new Error(`connecting to ${address} port ${port} timed out`)),
      CONNECT_TIMEOUT_MS,
    )
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

/** The socket must have reached the address that was checked, nothing else. */
function verifyRemoteAddress(
  socket: Socket,
  address: string,
  port: number,
  host: string,
  policy: PublicPathPolicy,
): void {
  const remote = canonicalAddress(socket.remoteAddress ?? '')
  const verdict = remote === undefined ? undefined : policy.addressPolicy(remote)
  if (remote !== canonicalAddress(address) || socket.remotePort !== port || !verdict?.allowed) {
    socket.destroy()
    throw new EgressError('EGRESS_IP_DENIED', {
      host,
      reason: `the connection reached ${socket.remoteAddress ?? 'an unknown address'} instead of the checked address ${address}`,
      fix: 'Check for a transparent proxy or NAT between this machine and the internet.',
    })
  }
}

function upgradeToTls(
  tlsOverSocket: Connector,
  socket: Socket,
  hostname: string,
  port: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    tlsOverSocket(
      {
        hostname,
        host: hostname,
        protocol: 'https:',
        port: String(port),
        // SNI and the certificate check name the original host; an IP literal sends no SNI.
        servername: isIP(hostname) === 0 ? hostname : '',
        httpSocket: socket,
      },
      (...result) => {
        if (result[0] === null) {
          resolve(result[1])
        } else {
          socket.destroy()
          reject(result[0])
        }
      },
    )
  })
}

/** The connector of mapped hosts: it reaches the mapped origins and nothing else. */
function createMappedConnector(origins: ReadonlySet<string>): Connector {
  const connect = buildConnector({ allowH2: false, timeout: CONNECT_TIMEOUT_MS })
  return (options, callback) => {
    const origin = `${options.protocol}//${options.host ?? options.hostname}`
    if (!origins.has(origin)) {
      callback(
        new EgressError('EGRESS_HOST_DENIED', {
          host: options.hostname,
          reason: `${origin} is not a mapped origin`,
          fix: 'Map a host to it with: centrali dev --map <host>=<origin>',
        }),
        null,
      )
      return
    }
    // undici would derive SNI from the Host header (the original host); TLS is with the mapped origin.
    const hostname = unbracket(options.hostname)
    connect({ ...options, servername: isIP(hostname) === 0 ? hostname : '' }, callback)
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** `map` keys are hosts, canonicalised as the URL parser does; values are bare origins. */
function parseUpstreamMap(map: Readonly<Record<string, string>>): Map<string, string> {
  const upstreams = new Map<string, string>()
  for (const [key, value] of Object.entries(map)) {
    const invalid = (reason: string): UserError =>
      new UserError('EGRESS_MAP_INVALID', `Invalid upstream mapping ${key}=${value}: ${reason}.`, {
        hint: 'Write it as host=origin, for example --map api.openai.com=http://127.0.0.1:9000',
      })
    let host: URL
    let origin: URL
    try {
      host = new URL(`https://${key}`)
      origin = new URL(value)
    } catch {
      throw invalid('expected a host name and an http:// or https:// origin')
    }
    // `:443` would vanish in the URL parser (the default port), so the raw text is checked too.
    const hasPort = host.host !== host.hostname || /:\d*$/.test(key)
    if (hasPort || host.pathname !== '/' || host.username !== '' || host.search !== '') {
      throw invalid(`"${key}" must be a bare host name (no port, path or user)`)
    }
    if (origin.protocol !== 'http:' && origin.protocol !== 'https:') {
      throw invalid('the origin must start with http:// or https://')
    }
    if (origin.username !== '' || origin.password !== '' || origin.pathname !== '/' || origin.search !== '') {
      throw invalid('the origin must be scheme, host and port only (no path, query or user)')
    }
    upstreams.set(hostOf(host), origin.origin)
  }
  return upstreams
}

async function lookupAll(hostname: string): Promise<ResolvedAddress[]> {
  const answers = await lookup(hostname, { all: true, verbatim: true })
  return answers.map((answer) => ({ address: answer.address, family: answer.family === 6 ? 6 : 4 }))
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(message), { code: 'ETIMEOUT' })), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function displayHost(bareHost: string): string {
  return isIP(bareHost) === 6 ? `[${bareHost}]` : bareHost
}

/** Turns what undici, the resolver or a socket threw into an egress error naming the host. */
function asEgressError(error: unknown, host: string): EgressError {
  if (error instanceof EgressError) return error
  const code = errorCode(error)
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new EgressError('EGRESS_TIMEOUT', {
      host,
      reason: `the upstream did not answer in time (${code})`,
      fix: 'Find out why the upstream is slow, or raise the timeout.',
      cause: error,
    })
  }
  return new EgressError('EGRESS_CONNECT_FAILED', {
    host,
    reason: describeConnectionError(code, error),
    fix: 'Check that the host is up and reachable (with --map, that the local server is running).',
    cause: error,
  })
}

function describeConnectionError(code: string | undefined, error: unknown): string {
  switch (code) {
    case 'ENOTFOUND':
      return 'the name does not resolve (ENOTFOUND)'
    case 'EAI_AGAIN':
    case 'ETIMEOUT':
      return `DNS lookup failed (${errorText(error)})`
    case 'ECONNREFUSED':
      return 'the connection was refused (ECONNREFUSED)'
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `the connection was closed by the other side (${errorText(error)})`
    default:
      if (code?.startsWith('ERR_TLS') || code?.includes('CERT')) {
        return `the TLS certificate was not accepted (${errorText(error)})`
      }
      return `the connection failed (${errorText(error)})`
  }
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const code = errorCode(error)
  return code === undefined || error.message.includes(code) ? error.message : `${code}: ${error.message}`
}
