import { mkdir, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandbox, startCli, type Sandbox } from '../helpers/cli.js'
import { readDevEvents } from '../helpers/dev-events.js'
import { errorCode, errorMessage, request, type Answer } from '../helpers/http.js'
import { killAll, stopGracefully } from '../helpers/processes.js'
import { until } from '../helpers/until.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { startWorkerd } from '../helpers/workerd.js'

/**
 * "No surprise between laptop and production" for the HTTP contract (DESIGN §6): one project, run
 * by `centrali dev`, by `centrali serve` after `centrali deploy` to it, and as the emitted Cloudflare
 * Worker in workerd, is sent the same table of requests. Per request the status, the error `code`,
 * the content-type, an `x-request-id`, every `access-control-*`, `vary`, `allow` and
 * `cache-control` header, the body of a 2xx and whether the upstream was called must be the same
 * everywhere, apart from the differences the README documents, listed below with where. dev is also
 * held to what the table expects, so that a change made alike in all three fails too.
 */

const T = 60_000
const WAIT = 20_000
const TOKEN = 'crt_parity-e2e-token-0123456789abcdef'
/** Test values, never printed: the tests compare whether a function got one, not what it is. */
const KEY_VALUE = 'parity-key-value-0123456789'
const MISSING_VALUE = 'parity-missing-value-0123456789'
const ALLOWED = 'http://localhost:5173'
const ALSO_ALLOWED = 'https://app.example.test'
const DISALLOWED = 'https://evil.example.net'
const MIB = 1024 * 1024

const FUNCTIONS: Record<string, string> = {
  'functions/echo.ts': `export async function run() {
  const { payload, method, path, query } = executionParams
  if (payload === 'throw') throw new Error('thrown on request')
  return { payload, method, path, query, hasKey: typeof triggerParams.key === 'string' && triggerParams.key.length > 0 }
}
`,
  'functions/fail.ts': `export async function run() {
  throw new Error('boom')
}
`,
  'functions/slow.ts': `export async function run() {
  await new Promise((resolve) => setTimeout(resolve, 20000))
  return 'too late'
}
`,
  'functions/upstream.ts': `export async function run() {
  return api.httpPost('https://api.example.com/v1/echo', { n: 1 })
}
`,
  'functions/blocked.ts': `export async function run() {
  return api.httpGet('https://evil.example.net/data')
}
`,
  'functions/keyed.ts': `export async function run() {
  return { has: typeof triggerParams.key }
}
`,
}

const projectConfig = (runtimeUrl: string) => ({
  functions: Object.fromEntries(
    Object.keys(FUNCTIONS).map((path) => [path.replace(/^functions\/|\.ts$/g, ''), { entry: path }]),
  ),
  triggers: {
    echo: {
      type: 'endpoint',
      function: 'echo',
      params: { key: { secret: 'PARITY_KEY' } },
      cors: {
        origins: [ALLOWED, ALSO_ALLOWED],
        headers: ['X-Custom'],
        credentials: true,
        maxAgeSeconds: 120,
      },
    },
    fail: { type: 'endpoint', function: 'fail' },
    slow: { type: 'endpoint', function: 'slow', timeoutMs: 300 },
    upstream: { type: 'endpoint', function: 'upstream' },
    blocked: { type: 'endpoint', function: 'blocked' },
    keyed: { type: 'endpoint', function: 'keyed', params: { key: { secret: 'PARITY_MISSING' } } },
  },
  domains: ['api.example.com'],
  targets: {
    default: { type: 'runtime', url: runtimeUrl },
    cf: { type: 'cloudflare', name: 'parity-worker', compatibilityDate: '2025-09-01' },
  },
})

// ---------------------------------------------------------------------------------------------
// The table.

interface Case {
  name: string
  method?: string
  /** Default `/endpoints/echo`. */
  path?: string
  headers?: Record<string, string>
  /** A JSON body (sent with `content-type: application/json` unless `headers` say otherwise). */
  body?: string
  /**
   * A body over 1 MiB, of which only the start is sent (past the limit when chunked): the answer
   * comes before the rest, as the contract says, and no client write races the closing connection.
   */
  overLimit?: 'declared' | 'chunked'
  /** The contract's answer (DESIGN §6, README "The HTTP contract"), as dev gives it. */
  status: number
  code?: string
  /** The `access-control-*` and `vary` headers (none unless given). */
  cors?: Record<string, string>
  /** The body of a 2xx answer. */
  result?: unknown
  /** Whether the function's call reaches the upstream (else nothing may). */
  callsUpstream?: boolean
}

const json = (value: unknown) => JSON.stringify(value)
const preflightHeaders = (origin: string, method: string, headers?: string) => ({
  origin,
  'access-control-request-method': method,
  ...(headers === undefined ? {} : { 'access-control-request-headers': headers }),
})
/** What an origin the echo trigger names gets on every answer: it is given credentials. */
const granted = (origin: string) => ({
  'access-control-allow-origin': origin,
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': 'x-request-id, x-centrali-build',
  vary: 'Origin',
})
/** And on a preflight: the trigger's `X-Custom` among the headers always allowed. */
const preflightGranted = (maxAge: string) => ({
  ...granted(ALLOWED),
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers':
    'content-type, authorization, x-request-id, accept, accept-language, content-language, range, x-custom',
  'access-control-max-age': maxAge,
})
/** What the echo function returns. */
const echoed = (payload: unknown, seen: { path?: string; query?: Record<string, string> } = {}) => ({
  payload,
  method: 'POST',
  path: seen.path ?? '/endpoints/echo',
  query: seen.query ?? {},
  hasKey: true,
})
const NOT_ALLOWED = { status: 405, code: 'METHOD_NOT_ALLOWED' }

const CASES: Case[] = [
  { name: 'success', body: json({ payload: { n: 1 } }), status: 200, result: echoed({ n: 1 }) },
  {
    name: 'success from an allowed origin',
    headers: { origin: ALLOWED },
    body: json({ payload: { n: 2 } }),
    status: 200,
    cors: granted(ALLOWED),
    result: echoed({ n: 2 }),
  },
  {
    name: 'success from the other allowed origin',
    headers: { origin: ALSO_ALLOWED },
    body: json({ payload: { n: 3 } }),
    status: 200,
    cors: granted(ALSO_ALLOWED),
    result: echoed({ n: 3 }),
  },
  {
    name: 'unknown trigger',
    path: '/endpoints/nope',
    body: json({ payload: 1 }),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
  },
  // README, The HTTP contract: an unknown trigger answers the origins some trigger allows.
  {
    name: 'unknown trigger from an allowed origin',
    path: '/endpoints/nope',
    headers: { origin: ALLOWED },
    body: json({ payload: 1 }),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
    cors: granted(ALLOWED),
  },
  {
    name: 'unknown trigger from a disallowed origin',
    path: '/endpoints/nope',
    headers: { origin: DISALLOWED },
    body: json({ payload: 1 }),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
  },
  {
    name: 'preflight for an unknown trigger from an allowed origin',
    method: 'OPTIONS',
    path: '/endpoints/nope',
    headers: preflightHeaders(ALLOWED, 'POST', 'content-type'),
    status: 204,
    // The union of the triggers' policies has no max age of its own.
    cors: preflightGranted('600'),
  },
  {
    name: 'preflight for an unknown trigger from a disallowed origin',
    method: 'OPTIONS',
    path: '/endpoints/nope',
    headers: preflightHeaders(DISALLOWED, 'POST', 'content-type'),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
  },
  {
    name: 'trigger name that is not URL encoding',
    path: '/endpoints/%E0',
    body: json({}),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
  },
  {
    name: 'an encoded slash in the trigger name',
    path: '/endpoints/echo%2Fmore',
    body: json({}),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
  },
  {
    name: 'a trigger name of an Object.prototype property',
    path: '/endpoints/__proto__',
    body: json({}),
    status: 404,
    code: 'TRIGGER_NOT_FOUND',
  },
  {
    name: 'percent-encoded trigger name',
    path: '/endpoints/%65cho',
    body: json({ payload: 'p' }),
    status: 200,
    result: echoed('p', { path: '/endpoints/%65cho' }),
  },
  { name: 'bad JSON', body: '{not json', status: 400, code: 'BAD_JSON' },
  { name: 'a byte order mark before the JSON', body: '\uFEFF{"payload":1}', status: 400, code: 'BAD_JSON' },
  { name: 'a body of white space', body: '   ', status: 400, code: 'BAD_JSON' },
  {
    name: 'bad JSON from an allowed origin',
    headers: { origin: ALLOWED },
    body: '{"payload":',
    status: 400,
    code: 'BAD_JSON',
    cors: granted(ALLOWED),
  },
  {
    name: 'text/plain content-type with a JSON body',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body: json({ payload: 'text' }),
    status: 200,
    result: echoed('text'),
  },
  {
    name: 'form content-type with a form body',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'payload=1',
    status: 400,
    code: 'BAD_JSON',
  },
  { name: 'body over 1 MiB', overLimit: 'declared', status: 413, code: 'PAYLOAD_TOO_LARGE' },
  {
    name: 'body over 1 MiB from an allowed origin',
    headers: { origin: ALLOWED },
    overLimit: 'declared',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    cors: granted(ALLOWED),
  },
  { name: 'body over 1 MiB, chunked', overLimit: 'chunked', status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'GET on an endpoint', method: 'GET', ...NOT_ALLOWED },
  { name: 'PUT on an endpoint', method: 'PUT', body: json({ payload: 1 }), ...NOT_ALLOWED },
  { name: 'PATCH on an endpoint', method: 'PATCH', body: json({ payload: 1 }), ...NOT_ALLOWED },
  { name: 'DELETE on an endpoint', method: 'DELETE', ...NOT_ALLOWED },
  {
    name: 'GET on an endpoint from an allowed origin',
    method: 'GET',
    headers: { origin: ALLOWED },
    ...NOT_ALLOWED,
    cors: granted(ALLOWED),
  },
  // No body, so no code to read.
  { name: 'HEAD on an endpoint', method: 'HEAD', status: 405 },
  // Refused by the HTTP layer before any of centrali's code.
  { name: 'a method HTTP parsers do not know', method: 'FOO', status: 400, code: 'BAD_REQUEST' },
  { name: 'a path that is no endpoint', method: 'GET', path: '/nope', status: 404, code: 'NOT_FOUND' },
  {
    name: 'a path that is no endpoint, from an allowed origin',
    path: '/nope',
    headers: { origin: ALLOWED },
    body: json({}),
    status: 404,
    code: 'NOT_FOUND',
  },
  {
    name: 'POST to a path that is no endpoint',
    path: '/api/echo',
    body: json({}),
    status: 404,
    code: 'NOT_FOUND',
  },
  { name: '/endpoints alone', path: '/endpoints/', body: json({}), status: 404, code: 'NOT_FOUND' },
  {
    name: 'a path below an endpoint',
    path: '/endpoints/echo/more',
    body: json({}),
    status: 404,
    code: 'NOT_FOUND',
  },
  { name: 'a doubled slash', path: '//endpoints/echo', body: json({}), status: 404, code: 'NOT_FOUND' },
  { name: 'GET /healthz', method: 'GET', path: '/healthz', status: 200, result: { ok: true } },
  {
    name: 'GET /healthz from an allowed origin',
    method: 'GET',
    path: '/healthz',
    headers: { origin: ALLOWED },
    status: 200,
    result: { ok: true },
  },
  { name: 'HEAD /healthz', method: 'HEAD', path: '/healthz', status: 200 },
  { name: 'POST /healthz', path: '/healthz', body: json({}), ...NOT_ALLOWED },
  { name: 'OPTIONS /healthz', method: 'OPTIONS', path: '/healthz', ...NOT_ALLOWED },
  {
    name: 'preflight to /healthz from an allowed origin',
    method: 'OPTIONS',
    path: '/healthz',
    headers: preflightHeaders(ALLOWED, 'GET'),
    ...NOT_ALLOWED,
  },
  {
    name: 'preflight from an allowed origin',
    method: 'OPTIONS',
    headers: preflightHeaders(ALLOWED, 'POST'),
    status: 204,
    cors: preflightGranted('120'),
  },
  {
    name: 'preflight from an allowed origin asking for an allowed header',
    method: 'OPTIONS',
    headers: preflightHeaders(ALLOWED, 'POST', 'Content-Type, X-CUSTOM'),
    status: 204,
    cors: preflightGranted('120'),
  },
  // Refused, with the headers all the same: the browser then names the header it lacks.
  {
    name: 'preflight from an allowed origin asking for a header not allowed',
    method: 'OPTIONS',
    headers: preflightHeaders(ALLOWED, 'POST', 'content-type, x-secret-header'),
    status: 204,
    cors: preflightGranted('120'),
  },
  {
    name: 'preflight from an allowed origin asking for PUT',
    method: 'OPTIONS',
    headers: preflightHeaders(ALLOWED, 'PUT'),
    status: 204,
    cors: preflightGranted('120'),
  },
  {
    name: 'preflight from a disallowed origin',
    method: 'OPTIONS',
    headers: preflightHeaders(DISALLOWED, 'POST', 'content-type'),
    status: 204,
  },
  { name: 'OPTIONS without preflight headers', method: 'OPTIONS', status: 204 },
  {
    name: 'preflight to a trigger without cors',
    method: 'OPTIONS',
    path: '/endpoints/fail',
    headers: preflightHeaders(ALLOWED, 'POST', 'content-type'),
    status: 204,
  },
  {
    name: 'the opaque origin "null"',
    headers: { origin: 'null', 'sec-fetch-site': 'cross-site' },
    body: json({}),
    status: 403,
    code: 'ORIGIN_NOT_ALLOWED',
  },
  {
    name: 'request from a disallowed origin (no Sec-Fetch-Site)',
    headers: { origin: DISALLOWED },
    body: json({ payload: 'tool' }),
    status: 200,
    result: echoed('tool'),
  },
  {
    name: 'no-cors POST from a disallowed origin, Sec-Fetch-Site: cross-site',
    headers: { origin: DISALLOWED, 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' },
    body: json({ payload: 'csrf' }),
    status: 403,
    code: 'ORIGIN_NOT_ALLOWED',
  },
  {
    name: 'POST from a disallowed origin, Sec-Fetch-Site: same-site',
    headers: { origin: DISALLOWED, 'sec-fetch-site': 'same-site' },
    body: json({ payload: 'sibling' }),
    status: 403,
    code: 'ORIGIN_NOT_ALLOWED',
  },
  {
    name: 'POST from a disallowed origin, Sec-Fetch-Site: same-origin',
    headers: { origin: DISALLOWED, 'sec-fetch-site': 'same-origin' },
    body: json({ payload: 'proxied' }),
    status: 200,
    result: echoed('proxied'),
  },
  {
    name: 'cross-site POST to a trigger without cors',
    path: '/endpoints/fail',
    headers: { origin: ALLOWED, 'sec-fetch-site': 'cross-site' },
    body: json({}),
    status: 403,
    code: 'ORIGIN_NOT_ALLOWED',
  },
  {
    name: 'cross-site POST from an allowed origin',
    headers: { origin: ALLOWED, 'sec-fetch-site': 'cross-site' },
    body: json({ payload: 'page' }),
    status: 200,
    cors: granted(ALLOWED),
    result: echoed('page'),
  },
  { name: 'function error', path: '/endpoints/fail', body: json({}), status: 500, code: 'FUNCTION_ERROR' },
  {
    name: 'function error from an allowed origin',
    headers: { origin: ALLOWED },
    body: json({ payload: 'throw' }),
    status: 500,
    code: 'FUNCTION_ERROR',
    cors: granted(ALLOWED),
  },
  { name: 'timeout', path: '/endpoints/slow', body: json({}), status: 504, code: 'FUNCTION_TIMEOUT' },
  {
    name: 'allowed host, mapped upstream',
    path: '/endpoints/upstream',
    body: json({}),
    status: 200,
    result: { upstream: true, path: '/v1/echo' },
    callsUpstream: true,
  },
  {
    name: 'blocked egress',
    path: '/endpoints/blocked',
    body: json({}),
    status: 502,
    code: 'EGRESS_HOST_DENIED',
  },
  { name: 'missing secret', path: '/endpoints/keyed', body: json({}), status: 500, code: 'SECRET_MISSING' },
  { name: 'payload null', body: json({ payload: null }), status: 200, result: echoed(null) },
  { name: 'no payload key', body: json({}), status: 200, result: echoed(null) },
  { name: 'empty body', status: 200, result: echoed(null) },
  {
    name: 'payload nested deeper than a structured clone carries',
    body: `{"payload":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    status: 400,
    code: 'PAYLOAD_TOO_DEEP',
  },
  {
    name: 'payload an array',
    body: json({ payload: [1, 'two'] }),
    status: 200,
    result: echoed([1, 'two']),
  },
  { name: 'body an array', body: json([{ payload: 1 }]), status: 400, code: 'BAD_REQUEST' },
  { name: 'body a string', body: json('payload'), status: 400, code: 'BAD_REQUEST' },
  { name: 'body null', body: 'null', status: 400, code: 'BAD_REQUEST' },
  {
    name: 'trailing slash',
    path: '/endpoints/echo/',
    body: json({ payload: 'slash' }),
    status: 200,
    result: echoed('slash', { path: '/endpoints/echo/' }),
  },
  {
    name: 'query string',
    path: '/endpoints/echo?a=1&b=two',
    body: json({ payload: 'q' }),
    status: 200,
    result: echoed('q', { query: { a: '1', b: 'two' } }),
  },
  {
    name: 'query string with a repeated and an encoded key',
    path: '/endpoints/echo?a+b=1&a%20b=2&c=%E2%9C%93',
    body: json({ payload: 'qq' }),
    status: 200,
    result: echoed('qq', { query: { 'a b': '2', c: '\u2713' } }),
  },
  {
    name: 'trailing slash and query string',
    path: '/endpoints/echo/?a=1',
    body: json({ payload: 'sq' }),
    status: 200,
    result: echoed('sq', { path: '/endpoints/echo/', query: { a: '1' } }),
  },
  {
    name: 'query string on /healthz',
    method: 'GET',
    path: '/healthz?probe=1',
    status: 200,
    result: { ok: true },
  },
]

// ---------------------------------------------------------------------------------------------
// What is compared.

type Target = 'dev' | 'serve' | 'worker'
const TARGETS: Target[] = ['dev', 'serve', 'worker']

interface Observed {
  status: number
  code: string | undefined
  contentType: string | null
  requestId: boolean
  /** Every `access-control-*` header, `vary`, `allow` and `cache-control`, by name. */
  headers: Record<string, string>
  /** The body of a 2xx answer. */
  body?: unknown
}

const COMPARED_HEADER = /^(access-control-|vary$|allow$|cache-control$)/

function observe(answer: Answer): Observed {
  const headers: Record<string, string> = {}
  for (const [name, value] of answer.headers) if (COMPARED_HEADER.test(name)) headers[name] = value
  return {
    status: answer.status,
    // A HEAD answer has no body to carry a code.
    code: answer.status >= 400 && answer.text !== '' ? errorCode(answer) : undefined,
    contentType: answer.headers.get('content-type'),
    requestId: answer.headers.get('x-request-id') !== null,
    headers,
    ...(answer.status < 300 && answer.text !== '' ? { body: answer.body } : {}),
  }
}

/**
 * Differences the README documents, each pinned: dev's value and the other's, so that one that goes
 * away (or changes) fails as well. `field` is a key of Observed, or `headers.<name>`.
 */
interface Difference {
  case: string
  target: Exclude<Target, 'dev'>
  field: string
  dev: unknown
  other: unknown
  /** Where the README says so. */
  documented: string
}

/** One documented difference of one request: `[field, dev's value, the other's]` for each field. */
const differs = (
  name: string,
  target: Difference['target'],
  documented: string,
  fields: readonly (readonly [field: string, dev: unknown, other: unknown])[],
): Difference[] =>
  fields.map(([field, dev, other]) => ({ case: name, target, field, dev, other, documented }))

const DIFFERENCES: Difference[] = [
  // serve's health answer names the active version.
  ...['GET /healthz', 'GET /healthz from an allowed origin', 'query string on /healthz'].flatMap((name) =>
    differs(name, 'serve', 'README, `centrali serve`, "Logs and metrics": GET /healthz → { ok, version }', [
      ['body', { ok: true }, { ok: true, version: 'v1' }],
    ]),
  ),
  // No structured clone hands the payload to a Worker's function, so a deep one reaches it; this one
  // returns it, which JSON.stringify cannot write.
  ...differs(
    'payload nested deeper than a structured clone carries',
    'worker',
    'README, The `cloudflare` target, "What differs on Workers": payload depth',
    [
      ['status', 400, 500],
      ['code', 'PAYLOAD_TOO_DEEP', 'FUNCTION_ERROR'],
    ],
  ),
  // The runtime itself refuses a method it does not know, before the Worker runs.
  ...differs(
    'a method HTTP parsers do not know',
    'worker',
    'README, The `cloudflare` target, "What differs on Workers": what the platform answers itself',
    [
      ['status', 400, 501],
      ['code', 'BAD_REQUEST', undefined],
      ['contentType', 'application/json; charset=utf-8', 'text/plain'],
      ['requestId', true, false],
      ['headers.cache-control', 'no-store', undefined],
    ],
  ),
]

function read(observed: Observed, field: string): unknown {
  if (field.startsWith('headers.')) return observed.headers[field.slice('headers.'.length)]
  return observed[field as keyof Observed]
}

function without(observed: Observed, fields: readonly string[]): Observed {
  const copy: Observed = { ...observed, headers: { ...observed.headers } }
  for (const field of fields) {
    if (field.startsWith('headers.')) delete copy.headers[field.slice('headers.'.length)]
    else delete (copy as unknown as Record<string, unknown>)[field]
  }
  return copy
}

// ---------------------------------------------------------------------------------------------
// The three servers.

let sandbox: Sandbox
let upstream: Upstream
const children: ResultPromise[] = []
let workerd: ResultPromise | undefined
const bases = {} as Record<Target, string>

async function cli(
  app: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string> } = {},
) {
  const result = await sandbox.run(args, { cwd: app, ...options })
  expect(result.exitCode, `centrali ${args.join(' ')}\n${result.stderr}`).toBe(0)
  return result
}

/** `centrali serve --json` on a fresh data dir, with api.example.com mapped to the upstream. */
async function startServe(): Promise<string> {
  const serve = startCli(
    [
      'serve',
      '--port',
      '0',
      '--json',
      '--data-dir',
      join(sandbox.dir, 'runtime-data'),
      '--map',
      `api.example.com=${upstream.origin}`,
    ],
    { cwd: sandbox.dir, env: { ...sandbox.env, CENTRALI_RUNTIME_TOKEN: TOKEN } },
  )
  children.push(serve.child)
  return until(
    () =>
      serve.lines
        .map((line) => {
          try {
            return JSON.parse(line) as { type?: string; url?: string }
          } catch {
            return undefined
          }
        })
        .find((event) => event?.type === 'ready')?.url,
    () => `serve did not start${serve.show()}`,
    { child: serve.child, name: 'serve', timeoutMs: WAIT },
  )
}

async function startDev(app: string): Promise<string> {
  const dev = startCli(['dev', '--port', '0', '--json', '--map', `api.example.com=${upstream.origin}`], {
    cwd: app,
    env: sandbox.env,
  })
  children.push(dev.child)
  return (await readDevEvents(dev, WAIT).next('ready')).url
}

/** The emitted Worker in workerd, its outbound fetches sent to the upstream, the key as a Worker secret. */
async function startWorker(workerDir: string): Promise<string> {
  const started = await startWorkerd({
    dir: sandbox.dir,
    workerDir,
    upstreamOrigin: upstream.origin,
    bindings: { PARITY_KEY: KEY_VALUE },
    timeoutMs: WAIT,
  })
  workerd = started.child
  children.push(started.child)
  return started.base
}

beforeAll(async () => {
  sandbox = await createSandbox()
  upstream = await startUpstream((seen) => ({ json: { upstream: true, path: seen.url } }))
  const app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  for (const [path, text] of Object.entries(FUNCTIONS)) await writeFile(join(app, path), text)

  // The target's URL is known once serve listens; the secrets go in meanwhile, one write at a time.
  await writeFile(join(app, 'centrali.json'), JSON.stringify(projectConfig('http://127.0.0.1:1'), null, 2))
  const [serveUrl] = await Promise.all([
    startServe(),
    (async () => {
      await cli(app, ['secrets', 'set', 'PARITY_KEY'], { input: KEY_VALUE })
      await cli(app, ['secrets', 'set', 'PARITY_MISSING'], { input: MISSING_VALUE })
    })(),
  ])
  bases.serve = serveUrl
  await writeFile(join(app, 'centrali.json'), JSON.stringify(projectConfig(serveUrl), null, 2))

  // Deploy to serve, and emit the Worker. deploy wants every secret the triggers use on the target,
  // so PARITY_MISSING goes there and is then deleted, as it is from the local store before dev starts.
  const withToken = { env: { CENTRALI_TOKEN: TOKEN } }
  await cli(app, ['secrets', 'push', '--yes'], withToken)
  await cli(app, ['deploy', '--yes', '--json'], withToken)
  await cli(app, ['deploy', '--target', 'cf', '--dry-run', '--json'])
  const deleted = await request(`${serveUrl}/v1/secrets/PARITY_MISSING`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${TOKEN}` },
  })
  expect(deleted.status, deleted.text).toBe(200)
  await cli(app, ['secrets', 'remove', 'PARITY_MISSING'])

  const [devUrl, workerUrl] = await Promise.all([
    startDev(app),
    startWorker(join(app, '.centrali', 'deploy', 'cf')),
  ])
  bases.dev = devUrl
  bases.worker = workerUrl
}, T)

afterAll(async () => {
  // dev and serve as a user stops them; workerd (and anything left) killed.
  await Promise.all(children.filter((child) => child !== workerd).map((child) => stopGracefully(child)))
  await killAll(children)
  await upstream?.close()
  await sandbox?.cleanup()
})

async function send(target: Target, item: Case): Promise<Observed> {
  const url = `${bases[target]}${item.path ?? '/endpoints/echo'}`
  if (item.overLimit) return observe(await sendUnfinished(url, item.headers ?? {}, item.overLimit))
  const answer = await request(url, {
    method: item.method ?? 'POST',
    headers: {
      ...(item.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...item.headers,
    },
    ...(item.body === undefined ? {} : { body: item.body }),
  })
  return observe(answer)
}

/**
 * A POST with a body over 1 MiB that is never finished: `declared` says its length and sends a
 * little of it, `chunked` sends a little over 1 MiB in chunks. The server is to answer without the
 * rest; whatever happens to the connection after the answer does not matter.
 */
function sendUnfinished(
  url: string,
  headers: Record<string, string>,
  overLimit: 'declared' | 'chunked',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        ...headers,
        ...(overLimit === 'declared'
          ? { 'content-length': String(MIB + 64) }
          : { 'transfer-encoding': 'chunked' }),
      },
    })
    const timer = setTimeout(() => {
      outgoing.destroy()
      reject(new Error(`no answer from ${url} within 15 s`))
    }, 15_000)
    outgoing.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    outgoing.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        clearTimeout(timer)
        outgoing.destroy()
        const text = Buffer.concat(chunks).toString('utf8')
        const answerHeaders = new Headers()
        for (const [name, value] of Object.entries(response.headers))
          for (const one of [value ?? []].flat()) answerHeaders.append(name, one)
        let body: unknown = text
        try {
          body = text === '' ? undefined : JSON.parse(text)
        } catch {
          // not JSON: keep the text
        }
        resolve({
          status: response.statusCode ?? 0,
          headers: answerHeaders,
          body,
          text,
          requestId: answerHeaders.get('x-request-id'),
        })
      })
    })
    outgoing.write('{"payload":"')
    outgoing.write('x'.repeat(overLimit === 'declared' ? 1000 : MIB))
  })
}

describe('dev, serve and the Cloudflare Worker answer alike', () => {
  it.each(CASES.map((item) => [item.name, item] as const))('%s', async (_name, item) => {
    const calls = upstream.requests.length
    const seen = {} as Record<Target, Observed>
    for (const target of TARGETS) seen[target] = await send(target, item)
    // The mapped host is reached under its own name, from each; a blocked call reaches nothing.
    expect(
      upstream.requests.slice(calls).map((call) => [call.method, call.host, call.url, call.body]),
    ).toEqual(item.callsUpstream ? TARGETS.map(() => ['POST', 'api.example.com', '/v1/echo', '{"n":1}']) : [])
    const dev = seen.dev
    // dev against the contract, so that a change made alike in all three fails too.
    const path = item.path ?? '/endpoints/echo'
    const { allow, 'cache-control': cacheControl, ...cors } = dev.headers
    expect(
      { status: dev.status, code: dev.code, cors, result: dev.body },
      'dev against the contract',
    ).toEqual({ status: item.status, code: item.code, cors: item.cors ?? {}, result: item.result })
    expect(dev.requestId).toBe(true)
    expect(allow).toBe(
      dev.status === 405 ? (path.startsWith('/healthz') ? 'GET, HEAD' : 'POST, OPTIONS') : undefined,
    )
    expect(dev.contentType).toBe(dev.status === 204 ? null : 'application/json; charset=utf-8')
    expect(cacheControl).toBe(dev.status === 204 ? undefined : 'no-store')

    for (const target of ['serve', 'worker'] as const) {
      const documented = DIFFERENCES.filter(
        (difference) => difference.case === item.name && difference.target === target,
      )
      for (const difference of documented) {
        expect(read(dev, difference.field), `dev's ${difference.field} (${difference.documented})`).toEqual(
          difference.dev,
        )
        expect(
          read(seen[target], difference.field),
          `${target}'s ${difference.field} (${difference.documented})`,
        ).toEqual(difference.other)
      }
      const fields = documented.map((difference) => difference.field)
      expect(without(seen[target], fields), `${target} against dev`).toEqual(without(dev, fields))
    }
  })

  it('lists no documented difference for a request it does not send', () => {
    const names = new Set(CASES.map((item) => item.name))
    expect(DIFFERENCES.filter((difference) => !names.has(difference.case))).toEqual([])
  })
})

describe('documented differences outside the compared fields', () => {
  // README, The HTTP contract: "unknown trigger 404 TRIGGER_NOT_FOUND (dev lists the known ones)";
  // The `cloudflare` target: "An unknown trigger is a 404 that does not list the others, as on serve".
  it('only dev lists the known triggers in its 404', async () => {
    const messages = await Promise.all(
      TARGETS.map(async (target) =>
        errorMessage(await request(`${bases[target]}/endpoints/nope`, { method: 'POST', body: '{}' })),
      ),
    )
    expect(messages).toEqual([
      'There is no trigger named "nope". Known triggers: echo, fail, slow, upstream, blocked, keyed.',
      'There is no trigger named "nope".',
      'There is no trigger named "nope".',
    ])
  })
})
