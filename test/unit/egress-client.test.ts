import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { isIP } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createEgressClient, type EgressClient } from '../../src/egress/client.js'
import { EgressError } from '../../src/egress/errors.js'
import { CentraliError } from '../../src/shared/errors.js'

/*
 * The adversarial suite of the egress guard (DESIGN §3). Real servers on 127.0.0.1 (and ::1 on the
 * same port) stand in for upstreams and count every connection and request. Each deny case asserts
 * its error code AND that no server saw a connection, so a check that wrongly let a call through
 * would fail the test: the URLs of deny cases point at the counting servers (through the injected
 * resolver, the map, or the address itself).
 *
 * Three clients:
 * - `hostsClient` resolves every name to 127.0.0.1 and trusts that address through the test-only
 *   knob, with the TLS server's certificate authority: only the host, scheme, port and header
 *   checks stand between a call and the TLS counting server.
 * - `addressClient` is production-strict (no trusted address) and allows the names and literals of
 *   its cases, so only the IP policy stands between a call and the counting servers.
 * - `mappedClient` maps api.openai.com and files.stripe.com to the plain-HTTP counting server, as
 *   `centrali dev --map` does.
 */

// Test-only certificate for api.openai.com, *.stripe.com, api.partner.io and public.example.com,
// self-signed, valid 2000-2100. Not a secret: it only ever signs the local test server.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMsJt+p6ve1DRDdep
CIcwp6vawaUm0g0YlctCQ0V+isOhRANCAASbmpoD1PdB+6AjQzJZmeiLcrz8Sq23
p2BiHE+EI1woUuBy8daQMT5Rradi3smGh5P1T/0p4qnjD6iCPznGf+pt
-----END PRIVATE KEY-----
`
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBrjCCAVSgAwIBAgIBATAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRjZW50cmFs
aSBlZ3Jlc3MgdGVzdDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFow
HzEdMBsGA1UEAwwUY2VudHJhbGkgZWdyZXNzIHRlc3QwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAASbmpoD1PdB+6AjQzJZmeiLcrz8Sq23p2BiHE+EI1woUuBy8daQ
MT5Rradi3smGh5P1T/0p4qnjD6iCPznGf+pto38wfTBLBgNVHREERDBCgg5hcGku
b3BlbmFpLmNvbYIMKi5zdHJpcGUuY29tgg5hcGkucGFydG5lci5pb4IScHVibGlj
LmV4YW1wbGUuY29tMA8GA1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFA3xLdraQ2UO
WqN7FCXGjVfI1E2AMAoGCCqGSM49BAMCA0gAMEUCIQDxnHUVrXkLvCrIEk9SjbE6
379YMZRclxYBnu5zneLxGAIgOe61Einkc2rKZJIF3WrfhCXYPql3UOh6HedAOkr5
k+Y=
-----END CERTIFICATE-----
`

const MAX_RESPONSE_BYTES = 1024 * 1024
const BOMB_DECODED_BYTES = 64 * 1024 * 1024
const BOMB = gzipSync(Buffer.alloc(BOMB_DECODED_BYTES))

// ---------------------------------------------------------------------------------------------
// Counting upstreams

interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
  servername: string | undefined
}

interface Upstream {
  port: number
  connections: number
  requests: SeenRequest[]
  reset(): void
  close(): Promise<void>
}

async function startUpstream(kind: 'http' | 'https'): Promise<Upstream> {
  const upstream: Upstream = {
    port: 0,
    connections: 0,
    requests: [],
    reset() {
      upstream.connections = 0
      upstream.requests = []
    },
    close: async () => {},
  }
  const create = (): Server => {
    const server =
      kind === 'http'
        ? createHttpServer((req, res) => handle(req, res, upstream))
        : createHttpsServer({ key: TEST_KEY, cert: TEST_CERT }, (req, res) => handle(req, res, upstream))
    // 'connection' counts TCP connections, before any TLS or HTTP.
    server.on('connection', () => (upstream.connections += 1))
    return server
  }
  // The same port on 127.0.0.1 and ::1, so that a call that wrongly reached either is counted.
  for (let attempt = 0; ; attempt += 1) {
    const v4 = create()
    const port = await listen(v4, '127.0.0.1', 0)
    const v6 = create()
    try {
      await listen(v6, '::1', port)
    } catch (error) {
      await closeServer(v4)
      if (attempt < 5) continue
      throw error
    }
    upstream.port = port
    upstream.close = async () => {
      await Promise.all([closeServer(v4), closeServer(v6)])
    }
    return upstream
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      const address = server.address()
      resolve(typeof address === 'object' && address !== null ? address.port : 0)
    })
  })
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

/** The routes every counting upstream serves. */
function handle(req: IncomingMessage, res: ServerResponse, upstream: Upstream): void {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    const seen: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
      servername: (req.socket as Partial<TLSSocket>).servername || undefined,
    }
    upstream.requests.push(seen)
    route(seen, res)
  })
}

function route(seen: SeenRequest, res: ServerResponse): void {
  const url = new URL(seen.url, 'http://upstream.test')
  const json = JSON.stringify({ hello: 'world', path: url.pathname })
  switch (url.pathname.startsWith('/v1/') ? '/echo' : url.pathname) {
    case '/echo':
      res.setHeader('X-Custom-Header', 'Custom')
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(seen))
      return
    case '/redirect':
      res.writeHead(Number(url.searchParams.get('status') ?? 302), {
        location: url.searchParams.get('to') ?? '/',
      })
      res.end('redirecting')
      return
    case '/gzip':
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'application/json' })
      res.end(gzipSync(json))
      return
    case '/br':
      res.writeHead(200, { 'content-encoding': 'br', 'content-type': 'application/json' })
      res.end(brotliCompressSync(json))
      return
    case '/deflate':
      res.writeHead(200, { 'content-encoding': 'deflate', 'content-type': 'application/json' })
      res.end(deflateSync(json))
      return
    case '/empty-gzip':
      res.writeHead(204, { 'content-encoding': 'gzip' })
      res.end()
      return
    case '/bad-gzip':
      res.writeHead(200, { 'content-encoding': 'gzip' })
      res.end('this is not gzip')
      return
    case '/bomb':
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': BOMB.length })
      res.end(BOMB)
      return
    case '/big':
      res.writeHead(200, { 'content-length': 2 * MAX_RESPONSE_BYTES })
      res.end(Buffer.alloc(2 * MAX_RESPONSE_BYTES, 97))
      return
    case '/big-chunked':
      res.writeHead(200)
      for (let i = 0; i < 32; i += 1) res.write(Buffer.alloc(64 * 1024, 97))
      res.end()
      return
    case '/endless': {
      res.writeHead(200, { 'content-type': 'text/plain' })
      const chunk = Buffer.alloc(64 * 1024, 120)
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump)
      }
      pump()
      return
    }
    case '/hang':
      // Never answers; the server's closeAllConnections ends it.
      return
    case '/stall-body':
      // Headers and part of the body, then nothing (plain, or gzip-encoded with ?gzip).
      if (url.searchParams.has('gzip')) {
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' })
        res.write(gzipSync('x'.repeat(1000)).subarray(0, 20))
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' })
        res.write('x'.repeat(10))
      }
      return
    case '/cut-body':
      // Promises 100 bytes, sends 10, and hangs up.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' })
      res.write('x'.repeat(10), () => res.destroy())
      return
    default:
      if (url.pathname.startsWith('/loop/')) {
        const step = Number(url.pathname.slice('/loop/'.length))
        res.writeHead(302, { location: `/loop/${step + 1}` })
        res.end()
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain' })
      res.end('not found')
  }
}

// ---------------------------------------------------------------------------------------------
// Resolver and helpers

interface RecordingResolver {
  calls: string[]
  resolve: (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>
}

function recordingResolver(table: Record<string, string[]>, fallback?: string[]): RecordingResolver {
  const calls: string[] = []
  return {
    calls,
    resolve: async (hostname) => {
      calls.push(hostname)
      const addresses = table[hostname] ?? fallback
      if (addresses === undefined) {
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
      }
      return addresses.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4 }))
    },
  }
}

async function failure(promise: Promise<unknown>): Promise<EgressError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  )
  if (!('error' in outcome)) throw new Error(`expected the call to be refused; it succeeded`)
  if (!(outcome.error instanceof EgressError)) {
    throw new Error(`expected an EgressError, got ${String(outcome.error)}`, { cause: outcome.error })
  }
  return outcome.error
}

function soon(ms = 10_000): number {
  return Date.now() + ms
}

function text(body: Uint8Array): string {
  return Buffer.from(body).toString()
}

let http: Upstream
let tls: Upstream
let hostsResolver: RecordingResolver
let addressResolver: RecordingResolver
let mappedResolver: RecordingResolver
let hostsClient: EgressClient
let addressClient: EgressClient
let mappedClient: EgressClient

beforeAll(async () => {
  http = await startUpstream('http')
  tls = await startUpstream('https')
  const T = tls.port

  hostsResolver = recordingResolver({}, ['127.0.0.1'])
  hostsClient = createEgressClient({
    domains: [`api.openai.com:${T}`, `*.stripe.com:${T}`, `api.partner.io:${T}`, `nocert.example.org:${T}`],
    resolve: hostsResolver.resolve,
    maxResponseBytes: MAX_RESPONSE_BYTES,
    unsafeTestOnly: { trustedAddresses: ['127.0.0.1', '::1'], ca: TEST_CERT },
  })

  addressResolver = recordingResolver({
    'internal.example.com': ['127.0.0.1'],
    'private.example.com': ['10.0.0.5'],
    'mixed.example.com': ['93.184.216.34', '127.0.0.1'],
    'mixed-v6.example.com': ['2606:4700:4700::1111', '::1'],
    'loopback-v6.example.com': ['::1'],
    'metadata.example.com': ['169.254.169.254'],
    'mapped.example.com': ['::ffff:127.0.0.1'],
    'api.openai.com': ['127.0.0.1'],
  })
  addressClient = createEgressClient({
    domains: [
      ...[
        'internal.example.com',
        'private.example.com',
        'mixed.example.com',
        'mixed-v6.example.com',
        'loopback-v6.example.com',
        'metadata.example.com',
        'mapped.example.com',
        'api.openai.com',
        '127.0.0.1',
        '0.0.0.0',
        '[::1]',
        '[::]',
        '[::ffff:7f00:1]',
        '[::7f00:1]',
        '[64:ff9b::7f00:1]',
        '[2002:7f00:1::]',
      ].map((host) => `${host}:${T}`),
      '169.254.169.254',
      '[fd00:ec2::254]',
      '[fe80::1]',
      '[fc00::1]',
      '10.0.0.5',
      '192.168.1.1',
      '100.64.0.1',
      '224.0.0.1',
    ],
    resolve: addressResolver.resolve,
  })

  mappedResolver = recordingResolver({}, ['127.0.0.1'])
  mappedClient = createEgressClient({
    domains: ['api.openai.com', 'files.stripe.com', '*.stripe.com'],
    map: {
      'api.openai.com': `http://127.0.0.1:${http.port}`,
      'FILES.stripe.com.': `http://127.0.0.1:${http.port}/`,
      'down.stripe.com': 'http://127.0.0.1:1',
    },
    resolve: mappedResolver.resolve,
    maxResponseBytes: MAX_RESPONSE_BYTES,
  })
})

afterAll(async () => {
  await Promise.all([hostsClient?.close(), addressClient?.close(), mappedClient?.close()])
  await Promise.all([http?.close(), tls?.close()])
})

function resetCounters(): void {
  http.reset()
  tls.reset()
  hostsResolver.calls.length = 0
  addressResolver.calls.length = 0
  mappedResolver.calls.length = 0
}

// ---------------------------------------------------------------------------------------------
// Deny cases: refused before a single connection

type ClientName = 'hosts' | 'address' | 'mapped'

interface DenyOptions {
  method?: string
  headers?: Record<string, string>
  /** The guard had to ask DNS to decide (names checked by address); otherwise no lookup may happen. */
  resolves?: boolean
}

/** [what, client, URL ({T} = TLS server port, {H} = HTTP server port), expected code, options] */
type DenyCase = [name: string, client: ClientName, url: string, code: string, options?: DenyOptions]

const HOST = 'EGRESS_HOST_DENIED'
const IP = 'EGRESS_IP_DENIED'
const SCHEME = 'EGRESS_SCHEME_DENIED'
const PORT = 'EGRESS_PORT_DENIED'
const URL_INVALID = 'EGRESS_URL_INVALID'
const HEADER = 'EGRESS_HEADER_DENIED'
const METHOD = 'EGRESS_METHOD_DENIED'
const RESOLVES: DenyOptions = { resolves: true }
const OPENAI = 'https://api.openai.com/'
const OPENAI_TLS = 'https://api.openai.com:{T}/'
const sending = (headers: Record<string, string>): DenyOptions => ({ headers })

const DENY_CASES: DenyCase[] = [
  // Spellings of a host that is not allowed.
  ['a host not in domains', 'hosts', 'https://evil.com:{T}/echo', HOST],
  ['upper case', 'hosts', 'https://EVIL.COM:{T}/echo', HOST],
  ['full-width letters', 'hosts', 'https://ｅｖｉｌ.com:{T}/echo', HOST],
  ['full-width letters and dot', 'hosts', 'https://ＥＶＩＬ．ｃｏｍ:{T}/echo', HOST],
  ['a trailing dot', 'hosts', 'https://evil.com.:{T}/echo', HOST],
  ['two trailing dots on an allowed host', 'hosts', 'https://api.openai.com..:{T}/echo', HOST],
  ['an ideographic full stop', 'hosts', 'https://evil.com。api.openai.com:{T}/echo', HOST],
  // Userinfo tricks.
  ['the allowed host as userinfo', 'hosts', 'https://api.openai.com@evil.com:{T}/echo', URL_INVALID],
  ['the allowed host:port as userinfo', 'hosts', 'https://api.openai.com:{T}@evil.com:{T}/echo', URL_INVALID],
  ['the allowed host after #@', 'hosts', 'https://evil.com:{T}/#@api.openai.com', HOST],
  ['the allowed host after ?@', 'hosts', 'https://evil.com:{T}?@api.openai.com', HOST],
  ['user and password on an allowed host', 'hosts', 'https://user:pass@api.openai.com:{T}/echo', URL_INVALID],
  // Percent-encoding.
  ['a percent-encoded dot joining hosts', 'hosts', 'https://api.openai.com%2Eevil.com:{T}/echo', HOST],
  ['percent-encoded dots', 'hosts', 'https://evil%2ecom:{T}/echo', HOST],
  ['a percent-encoded NUL', 'hosts', 'https://api.openai.com%00.evil.com:{T}/echo', URL_INVALID],
  // Wildcard and exact-entry boundaries.
  ['evilstripe.com against *.stripe.com', 'hosts', 'https://evilstripe.com:{T}/echo', HOST],
  ['stripe.com against *.stripe.com', 'hosts', 'https://stripe.com:{T}/echo', HOST],
  ['an allowed subdomain as a prefix', 'hosts', 'https://api.stripe.com.evil.com:{T}/echo', HOST],
  ['an exact entry as a prefix', 'hosts', 'https://api.openai.com.evil.com:{T}/echo', HOST],
  ['the parent of an exact entry', 'hosts', 'https://openai.com:{T}/echo', HOST],
  ['a subdomain of an exact entry', 'hosts', 'https://x.api.openai.com:{T}/echo', HOST],
  // IDN look-alikes.
  ['Cyrillic а in аpi.openai.com', 'hosts', 'https://аpi.openai.com:{T}/echo', HOST],
  ['the punycode of that look-alike', 'hosts', 'https://xn--pi-6kc.openai.com:{T}/echo', HOST],
  ['Cyrillic ѕ in a wildcard base', 'hosts', 'https://api.ѕtripe.com:{T}/echo', HOST],
  // Ports.
  ['a port mismatch on an allowed host', 'hosts', 'https://api.openai.com:{H}/echo', PORT],
  ['port 443 when only another is allowed', 'hosts', 'https://api.openai.com/echo', PORT],
  ['api.openai.com:8443 on a mapped host', 'mapped', 'https://api.openai.com:8443/echo', PORT],
  // Schemes.
  ['plain http: to an unmapped host', 'hosts', 'http://api.openai.com:{T}/echo', SCHEME],
  ['plain http: to the mapped origin itself', 'mapped', 'http://127.0.0.1:{H}/echo', SCHEME],
  ['ftp:', 'hosts', 'ftp://api.openai.com:{T}/echo', SCHEME],
  ['ws:', 'hosts', 'ws://api.openai.com:{T}/echo', SCHEME],
  ['wss:', 'hosts', 'wss://api.openai.com:{T}/echo', SCHEME],
  ['file:', 'hosts', 'file:///etc/passwd', SCHEME],
  ['data:', 'hosts', 'data:text/plain,hello', SCHEME],
  ['javascript:', 'hosts', 'javascript:alert(1)', SCHEME],
  ['a relative URL', 'hosts', '/v1/chat/completions', URL_INVALID],
  // Headers and methods.
  ['a user-set Host header', 'hosts', OPENAI_TLS, HEADER, sending({ Host: 'api.openai.com' })],
  ['a user-set Host header, mapped', 'mapped', OPENAI, HEADER, sending({ host: 'x.local' })],
  ['CRLF in a header value', 'hosts', OPENAI_TLS, HEADER, sending({ 'x-a': 'v\r\nX-B: 1' })],
  ['LF in a header value', 'mapped', OPENAI, HEADER, sending({ authorization: 'x\nHost: e' })],
  ['NUL in a header value', 'mapped', OPENAI, HEADER, sending({ 'x-a': 'a\0b' })],
  ['CRLF in a header name', 'mapped', OPENAI, HEADER, sending({ 'x-a\r\nx-b': '1' })],
  ['Transfer-Encoding', 'mapped', OPENAI, HEADER, sending({ 'Transfer-Encoding': 'chunked' })],
  ['a Content-Length that lies', 'mapped', OPENAI, HEADER, sending({ 'content-length': '9' })],
  ['the CONNECT method', 'mapped', OPENAI, METHOD, { method: 'CONNECT' }],
  ['a method with a request line', 'mapped', OPENAI, METHOD, { method: 'GET http://e/ HTTP/1.1' }],
  // The mapped origin is reachable through the map only.
  ['the mapped origin by address over https', 'mapped', 'https://127.0.0.1:{H}/echo', IP],
  ['an unmapped wildcard subdomain on loopback', 'mapped', 'https://other.stripe.com/echo', IP, RESOLVES],
  ["a host not allowed (the recipe's api.example.com)", 'mapped', 'https://api.example.com/v1/data', HOST],
  // Numeric IPv4 forms.
  ['decimal IPv4 2130706433', 'address', 'https://2130706433:{T}/echo', IP],
  ['octal IPv4 0177.0.0.1', 'address', 'https://0177.0.0.1:{T}/echo', IP],
  ['hex IPv4 0x7f000001', 'address', 'https://0x7f000001:{T}/echo', IP],
  ['short IPv4 127.1', 'address', 'https://127.1:{T}/echo', IP],
  ['dotted IPv4 127.0.0.1', 'address', 'https://127.0.0.1:{T}/echo', IP],
  ['0.0.0.0, which reaches this machine', 'address', 'https://0.0.0.0:{T}/echo', IP],
  // IPv6 literals.
  ['IPv6 loopback [::1]', 'address', 'https://[::1]:{T}/echo', IP],
  ['IPv6 unspecified [::]', 'address', 'https://[::]:{T}/echo', IP],
  ['IPv4-mapped [::ffff:127.0.0.1]', 'address', 'https://[::ffff:127.0.0.1]:{T}/echo', IP],
  ['IPv4-mapped [::ffff:7f00:1]', 'address', 'https://[::ffff:7f00:1]:{T}/echo', IP],
  ['IPv4-mapped, long form', 'address', 'https://[0:0:0:0:0:ffff:7f00:1]:{T}/echo', IP],
  ['IPv4-compatible [::127.0.0.1]', 'address', 'https://[::127.0.0.1]:{T}/echo', IP],
  ['NAT64 [64:ff9b::7f00:1]', 'address', 'https://[64:ff9b::7f00:1]:{T}/echo', IP],
  ['6to4 [2002:7f00:1::]', 'address', 'https://[2002:7f00:1::]:{T}/echo', IP],
  ['unique-local [fc00::1]', 'address', 'https://[fc00::1]/', IP],
  ['link-local [fe80::1]', 'address', 'https://[fe80::1]/', IP],
  // Metadata and private ranges.
  ['metadata 169.254.169.254', 'address', 'https://169.254.169.254/latest/meta-data/', IP],
  ['metadata [fd00:ec2::254]', 'address', 'https://[fd00:ec2::254]/latest/meta-data/', IP],
  ['private 10.0.0.5', 'address', 'https://10.0.0.5/', IP],
  ['private 192.168.1.1', 'address', 'https://192.168.1.1/', IP],
  ['CGNAT 100.64.0.1', 'address', 'https://100.64.0.1/', IP],
  ['multicast 224.0.0.1', 'address', 'https://224.0.0.1/', IP],
  // Allowed names whose DNS answer is internal (DNS rebinding).
  ['api.openai.com resolving to 127.0.0.1', 'address', 'https://api.openai.com:{T}/echo', IP, RESOLVES],
  ['a name resolving to 127.0.0.1', 'address', 'https://internal.example.com:{T}/echo', IP, RESOLVES],
  ['a name resolving to 10.0.0.5', 'address', 'https://private.example.com:{T}/echo', IP, RESOLVES],
  ['a mixed answer: public and loopback', 'address', 'https://mixed.example.com:{T}/echo', IP, RESOLVES],
  ['a mixed IPv6 answer: public and ::1', 'address', 'https://mixed-v6.example.com:{T}/echo', IP, RESOLVES],
  ['a name resolving to ::1', 'address', 'https://loopback-v6.example.com:{T}/echo', IP, RESOLVES],
  ['a name resolving to 169.254.169.254', 'address', 'https://metadata.example.com:{T}/echo', IP, RESOLVES],
  ['a name resolving to ::ffff:127.0.0.1', 'address', 'https://mapped.example.com:{T}/echo', IP, RESOLVES],
]

/** Puts the counting servers' ports into a URL template. */
function withPorts(template: string): string {
  return template.replaceAll('{T}', String(tls.port)).replaceAll('{H}', String(http.port))
}

describe('egress guard: deny cases refused before any connection', () => {
  it('has at least 40 of them', () => {
    expect(DENY_CASES.length).toBeGreaterThanOrEqual(40)
  })

  it.each(DENY_CASES)('%s (%s client) → %s', async (_name, clientName, url, code, options = {}) => {
    resetCounters()
    const client = { hosts: hostsClient, address: addressClient, mapped: mappedClient }[clientName]
    const resolver = { hosts: hostsResolver, address: addressResolver, mapped: mappedResolver }[clientName]
    const error = await failure(
      client.request({
        method: options.method ?? 'GET',
        url: withPorts(url),
        deadline: soon(),
        ...(options.headers === undefined ? {} : { headers: options.headers }),
      }),
    )
    expect(error.code).toBe(code)
    expect(error.name).toBe('EgressBlockedError')
    expect(error.message).toContain(error.host)
    expect(error.hint).toBeTruthy()
    expect(tls.connections + http.connections).toBe(0)
    expect(tls.requests.length + http.requests.length).toBe(0)
    if (!options.resolves) expect(resolver.calls).toEqual([])
  })
})

describe('egress guard: error messages', () => {
  it('names the host, the reason and the fix command', async () => {
    const error = await failure(
      mappedClient.request({
        method: 'POST',
        url: 'https://api.example.com/v1/data',
        body: '{}',
        deadline: soon(),
      }),
    )
    expect(error).toBeInstanceOf(EgressError)
    expect(error.name).toBe('EgressBlockedError')
    expect(error.host).toBe('api.example.com')
    expect(error.message).toBe(
      'Blocked call to api.example.com: the host is not in centrali.json "domains". Allow it with: centrali domains add api.example.com',
    )
    expect(error.hint).toBe('Allow it with: centrali domains add api.example.com')
  })

  it('gives the host:port form for a port mismatch', async () => {
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com:8443/', deadline: soon() }),
    )
    expect(error.message).toContain('port 8443 is not allowed')
    expect(error.hint).toBe('Allow it with: centrali domains add api.openai.com:8443')
  })

  it('explains DNS rebinding with the address it saw', async () => {
    const error = await failure(
      addressClient.request({
        method: 'GET',
        url: `https://private.example.com:${tls.port}/`,
        deadline: soon(),
      }),
    )
    expect(error.message).toContain('resolves to 10.0.0.5, a private address')
    expect(error.message).toContain('centrali dev --map')
  })

  it('does not suggest allowing an internal address', async () => {
    const error = await failure(
      addressClient.request({ method: 'GET', url: 'https://169.254.169.254/', deadline: soon() }),
    )
    expect(error.reason).toContain('cloud metadata service')
    expect(error.message).not.toContain('domains add')
  })
})

// ---------------------------------------------------------------------------------------------
// Deny cases after a first allowed hop, and limits

describe('egress guard: redirects', () => {
  const redirectTo = (to: string, status = 302): string =>
    `https://api.openai.com/redirect?status=${status}&to=${encodeURIComponent(to)}`

  it.each([
    ['the metadata address', 'https://169.254.169.254/latest/meta-data/', 'EGRESS_IP_DENIED'],
    ['the IPv6 metadata address', 'https://[fd00:ec2::254]/latest/meta-data/', 'EGRESS_IP_DENIED'],
    ['a host not in domains', 'https://evil.com/', 'EGRESS_HOST_DENIED'],
    ['the mapped origin by address', 'https://127.0.0.1:{H}/echo', 'EGRESS_IP_DENIED'],
    ['plain http (https→http), even to a mapped host', 'http://api.openai.com/echo', 'EGRESS_SCHEME_DENIED'],
    ['a non-http scheme', 'file:///etc/passwd', 'EGRESS_SCHEME_DENIED'],
  ])('a redirect from an allowed host to %s is refused', async (_name, target, code) => {
    resetCounters()
    const error = await failure(
      mappedClient.request({
        method: 'GET',
        url: redirectTo(withPorts(target)),
        headers: { authorization: 'Bearer secret' },
        deadline: soon(),
      }),
    )
    expect(error.code).toBe(code)
    // Only the first, allowed hop reached the upstream.
    expect(http.requests.map((request) => request.url.split('?')[0])).toEqual(['/redirect'])
    expect(tls.connections).toBe(0)
    expect(mappedResolver.calls).toEqual([])
  })

  it('a redirect from an allowed TLS host to a disallowed host is refused', async () => {
    resetCounters()
    const to = `https://evil.com:${tls.port}/echo`
    const error = await failure(
      hostsClient.request({
        method: 'GET',
        url: `https://api.openai.com:${tls.port}/redirect?to=${encodeURIComponent(to)}`,
        deadline: soon(),
      }),
    )
    expect(error.code).toBe('EGRESS_HOST_DENIED')
    expect(error.host).toBe('evil.com')
    expect(tls.requests).toHaveLength(1)
  })

  it('refuses more than 5 redirects', async () => {
    resetCounters()
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/loop/0', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_TOO_MANY_REDIRECTS')
    expect(http.requests.map((request) => request.url)).toEqual([
      '/loop/0',
      '/loop/1',
      '/loop/2',
      '/loop/3',
      '/loop/4',
      '/loop/5',
    ])
  })

  it('follows redirects within the same origin, keeping credentials', async () => {
    resetCounters()
    const response = await mappedClient.request({
      method: 'GET',
      url: redirectTo('/echo?step=2'),
      headers: { authorization: 'Bearer secret', 'x-api-key': 'k' },
      deadline: soon(),
    })
    expect(response.status).toBe(200)
    expect(response.redirects).toBe(1)
    expect(response.url).toBe('https://api.openai.com/echo?step=2')
    const seen = JSON.parse(text(response.body)) as SeenRequest
    expect(seen.headers['authorization']).toBe('Bearer secret')
    expect(seen.headers['x-api-key']).toBe('k')
  })

  it('strips credentials and unknown headers when the origin changes, keeping safe ones', async () => {
    resetCounters()
    const response = await mappedClient.request({
      method: 'GET',
      url: redirectTo('https://files.stripe.com/echo'),
      headers: {
        Authorization: 'Bearer secret',
        Cookie: 'session=1',
        'Proxy-Authorization': 'Basic x',
        'X-Api-Key': 'secret-key',
        Accept: 'application/json',
        'Accept-Language': 'fr',
        'User-Agent': 'centrali-test',
      },
      deadline: soon(),
    })
    expect(response.status).toBe(200)
    expect(response.url).toBe('https://files.stripe.com/echo')
    const seen = JSON.parse(text(response.body)) as SeenRequest
    expect(seen.headers['host']).toBe('files.stripe.com')
    expect(seen.headers['authorization']).toBeUndefined()
    expect(seen.headers['cookie']).toBeUndefined()
    expect(seen.headers['proxy-authorization']).toBeUndefined()
    expect(seen.headers['x-api-key']).toBeUndefined()
    expect(seen.headers['accept']).toBe('application/json')
    expect(seen.headers['accept-language']).toBe('fr')
    expect(seen.headers['user-agent']).toBe('centrali-test')
  })

  it('turns a POST into a GET without body on 303 and 302, and keeps it on 307', async () => {
    for (const [status, method, body] of [
      [303, 'GET', ''],
      [302, 'GET', ''],
      [301, 'GET', ''],
      [307, 'POST', '{"a":1}'],
      [308, 'POST', '{"a":1}'],
    ] as const) {
      const response = await mappedClient.request({
        method: 'POST',
        url: redirectTo('/echo', status),
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
        deadline: soon(),
      })
      const seen = JSON.parse(text(response.body)) as SeenRequest
      expect([status, seen.method, seen.body]).toEqual([status, method, body])
      expect(seen.headers['content-type']).toBe(method === 'GET' ? undefined : 'application/json')
    }
  })

  it('follows redirects between allowed hosts over TLS, stripping authorization', async () => {
    resetCounters()
    const to = `https://files.stripe.com:${tls.port}/echo`
    const response = await hostsClient.request({
      method: 'GET',
      url: `https://api.openai.com:${tls.port}/redirect?to=${encodeURIComponent(to)}`,
      headers: { authorization: 'Bearer secret' },
      deadline: soon(),
    })
    const seen = JSON.parse(text(response.body)) as SeenRequest
    expect(response.redirects).toBe(1)
    expect(seen.servername).toBe('files.stripe.com')
    expect(seen.headers['authorization']).toBeUndefined()
  })
})

describe('egress guard: response limits', () => {
  it('refuses a response whose declared length is over the cap', async () => {
    resetCounters()
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/big', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_RESPONSE_TOO_LARGE')
    expect(error.message).toContain(`${MAX_RESPONSE_BYTES}-byte limit`)
  })

  it('refuses a chunked response that grows over the cap', async () => {
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/big-chunked', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_RESPONSE_TOO_LARGE')
  })

  it('refuses a gzip bomb by its decoded size (small on the wire)', async () => {
    expect(BOMB.length).toBeLessThan(MAX_RESPONSE_BYTES / 4)
    const started = process.memoryUsage().rss
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/bomb', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_RESPONSE_TOO_LARGE')
    // The 64 MiB of zeros were never held: decoding stopped past the 1 MiB cap.
    expect(process.memoryUsage().rss - started).toBeLessThan(BOMB_DECODED_BYTES / 2)
  })

  it('stops an endless response', async () => {
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/endless', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_RESPONSE_TOO_LARGE')
  })

  it('times out a server that never answers, at the deadline', async () => {
    resetCounters()
    const started = Date.now()
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/hang', deadline: Date.now() + 300 }),
    )
    expect(error.code).toBe('EGRESS_TIMEOUT')
    expect(error.host).toBe('api.openai.com')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(Date.now() - started).toBeLessThan(3000)
    expect(http.requests.map((request) => request.url)).toEqual(['/hang'])
  })

  it('counts redirects and the body against the same deadline', async () => {
    const error = await failure(
      mappedClient.request({
        method: 'GET',
        url: 'https://api.openai.com/redirect?to=/hang',
        deadline: Date.now() + 300,
      }),
    )
    expect(error.code).toBe('EGRESS_TIMEOUT')
  })

  it('refuses at once when the deadline has passed, before connecting', async () => {
    resetCounters()
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/echo', deadline: Date.now() - 1 }),
    )
    expect(error.code).toBe('EGRESS_TIMEOUT')
    expect(http.connections).toBe(0)
  })

  it('aborts with the caller signal', async () => {
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 100)
    const error = await failure(
      mappedClient.request({
        method: 'GET',
        url: 'https://api.openai.com/hang',
        deadline: soon(),
        signal: controller.signal,
      }),
    )
    expect(error.code).toBe('EGRESS_ABORTED')
  })

  it.each(['', '?gzip'])(
    'times out, and aborts, a body that stalls after its headers (%s)',
    async (query) => {
      const started = Date.now()
      const timedOut = await failure(
        mappedClient.request({
          method: 'GET',
          url: `https://api.openai.com/stall-body${query}`,
          deadline: Date.now() + 300,
        }),
      )
      expect(timedOut.code).toBe('EGRESS_TIMEOUT')
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      expect(Date.now() - started).toBeLessThan(3000)

      const controller = new AbortController()
      setTimeout(() => controller.abort(), 100)
      const aborted = await failure(
        mappedClient.request({
          method: 'GET',
          url: `https://api.openai.com/stall-body${query}`,
          deadline: soon(),
          signal: controller.signal,
        }),
      )
      expect(aborted.code).toBe('EGRESS_ABORTED')
    },
  )

  it('fails a body cut short by the upstream, and still serves the next call', async () => {
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/cut-body', deadline: soon() }),
    )
    expect(error.code).toMatch(/^EGRESS_/)
    expect(error.code).not.toBe('EGRESS_TIMEOUT')
    const next = await mappedClient.request({
      method: 'GET',
      url: 'https://api.openai.com/echo',
      deadline: soon(),
    })
    expect(next.status).toBe(200)
  })

  it('refuses an already aborted call before connecting', async () => {
    resetCounters()
    const error = await failure(
      mappedClient.request({
        method: 'GET',
        url: 'https://api.openai.com/echo',
        deadline: soon(),
        signal: AbortSignal.abort(),
      }),
    )
    expect(error.code).toBe('EGRESS_ABORTED')
    expect(http.connections).toBe(0)
  })

  it('reports a body that does not match its content-encoding', async () => {
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://api.openai.com/bad-gzip', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_RESPONSE_INVALID')
  })
})

describe('egress guard: connection failures', () => {
  it('reports a refused connection with the host', async () => {
    const error = await failure(
      mappedClient.request({ method: 'GET', url: 'https://down.stripe.com/', deadline: soon() }),
    )
    expect(error.code).toBe('EGRESS_CONNECT_FAILED')
    expect(error.host).toBe('down.stripe.com')
    expect(error.message).toContain('ECONNREFUSED')
  })

  it('checks the TLS certificate against the original host, not the address', async () => {
    resetCounters()
    const error = await failure(
      hostsClient.request({
        method: 'GET',
        url: `https://nocert.example.org:${tls.port}/echo`,
        deadline: soon(),
      }),
    )
    expect(error.code).toBe('EGRESS_CONNECT_FAILED')
    expect(error.reason).toContain('certificate')
    expect(tls.requests).toHaveLength(0)
  })

  it('reports a name that does not resolve', async () => {
    const client = createEgressClient({
      domains: ['api.openai.com'],
      resolve: recordingResolver({}).resolve,
    })
    try {
      const error = await failure(
        client.request({ method: 'GET', url: 'https://api.openai.com/', deadline: soon() }),
      )
      expect(error.code).toBe('EGRESS_CONNECT_FAILED')
      expect(error.reason).toContain('does not resolve')
    } finally {
      await client.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Allowed calls

describe('egress guard: allowed calls', () => {
  it('sends a mapped host to the local server with method, path, query, body, headers and Host', async () => {
    resetCounters()
    const response = await mappedClient.request({
      method: 'post',
      url: 'https://api.openai.com/v1/chat/completions?model=gpt-4o-mini&stream=false#ignored',
      headers: { Authorization: 'Bearer sk-test', 'Content-Type': 'application/json' },
      body: '{"messages":[]}',
      deadline: soon(),
    })
    expect(response.status).toBe(200)
    expect(response.statusText).toBe('OK')
    expect(response.url).toBe('https://api.openai.com/v1/chat/completions?model=gpt-4o-mini&stream=false')
    expect(response.redirects).toBe(0)
    expect(http.requests).toHaveLength(1)
    const [seen] = http.requests
    expect(seen!.method).toBe('POST')
    expect(seen!.url).toBe('/v1/chat/completions?model=gpt-4o-mini&stream=false')
    expect(seen!.body).toBe('{"messages":[]}')
    expect(seen!.headers['host']).toBe('api.openai.com')
    expect(seen!.headers['authorization']).toBe('Bearer sk-test')
    expect(seen!.headers['content-type']).toBe('application/json')
    expect(seen!.headers['content-length']).toBe('15')
    expect(seen!.headers['accept-encoding']).toBe('gzip, deflate, br')
    expect(mappedResolver.calls).toEqual([])
  })

  it('sends a Uint8Array body as is and returns lowercased headers', async () => {
    const response = await mappedClient.request({
      method: 'PUT',
      url: 'http://api.openai.com/echo',
      body: new TextEncoder().encode('line=1&x=%20'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      deadline: soon(),
    })
    const seen = JSON.parse(text(response.body)) as SeenRequest
    expect(seen.method).toBe('PUT')
    expect(seen.body).toBe('line=1&x=%20')
    expect(response.headers['x-custom-header']).toBe('Custom')
    expect(response.headers['content-type']).toBe('application/json')
  })

  it('treats a trailing dot and a second mapped spelling as the same host', async () => {
    resetCounters()
    const response = await mappedClient.request({
      method: 'GET',
      url: 'https://FILES.stripe.com./echo',
      deadline: soon(),
    })
    const seen = JSON.parse(text(response.body)) as SeenRequest
    expect(seen.headers['host']).toBe('files.stripe.com')
  })

  it.each(['gzip', 'br', 'deflate'])('decodes a %s response and drops content-encoding', async (coding) => {
    const response = await mappedClient.request({
      method: 'GET',
      url: `https://api.openai.com/${coding}`,
      deadline: soon(),
    })
    expect(JSON.parse(text(response.body))).toEqual({ hello: 'world', path: `/${coding}` })
    expect(response.headers['content-encoding']).toBeUndefined()
    expect(response.headers['content-length']).toBeUndefined()
  })

  it('returns an empty body labelled as compressed', async () => {
    const response = await mappedClient.request({
      method: 'GET',
      url: 'https://api.openai.com/empty-gzip',
      deadline: soon(),
    })
    expect(response.status).toBe(204)
    expect(response.body).toHaveLength(0)
  })

  it('answers HEAD with the headers only, whatever length they declare', async () => {
    const response = await mappedClient.request({
      method: 'HEAD',
      url: 'https://api.openai.com/big',
      deadline: soon(),
    })
    expect(response.status).toBe(200)
    expect(response.headers['content-length']).toBe(String(2 * MAX_RESPONSE_BYTES))
    expect(response.body).toHaveLength(0)
  })

  it('returns an error status as a response (the bridge decides)', async () => {
    const response = await mappedClient.request({
      method: 'GET',
      url: 'https://api.openai.com/nothing',
      deadline: soon(),
    })
    expect(response.status).toBe(404)
    expect(response.statusText).toBe('Not Found')
    expect(text(response.body)).toBe('not found')
  })

  it.each([
    ['the canonical spelling', 'https://api.openai.com:{T}/echo', 'api.openai.com'],
    ['upper case and a trailing dot', 'https://API.OpenAI.com.:{T}/echo', 'api.openai.com'],
    ['full-width letters', 'https://ａｐｉ.openai.com:{T}/echo', 'api.openai.com'],
    ['percent-encoded dots', 'https://api%2Eopenai%2Ecom:{T}/echo', 'api.openai.com'],
    ['a wildcard subdomain', 'https://files.stripe.com:{T}/echo', 'files.stripe.com'],
    ['another exact entry', 'https://api.partner.io:{T}/echo', 'api.partner.io'],
  ])('reaches an allowed TLS host by %s, with SNI and a pinned checked address', async (_name, url, host) => {
    resetCounters()
    const response = await hostsClient.request({
      method: 'GET',
      url: withPorts(url),
      deadline: soon(),
    })
    expect(response.status).toBe(200)
    const seen = JSON.parse(text(response.body)) as SeenRequest
    expect(seen.servername).toBe(host)
    expect(seen.headers['host']).toBe(`${host}:${tls.port}`)
    expect(hostsResolver.calls.every((name) => name === host)).toBe(true)
  })
})

describe('createEgressClient: configuration', () => {
  it.each([
    ['an origin with a path', { 'api.openai.com': 'http://127.0.0.1:9000/v1' }],
    ['an origin with a user', { 'api.openai.com': 'http://u:p@127.0.0.1:9000' }],
    ['a non-http origin', { 'api.openai.com': 'ftp://127.0.0.1:21' }],
    ['a key with a port', { 'api.openai.com:443': 'http://127.0.0.1:9000' }],
    ['a key with a path', { 'api.openai.com/v1': 'http://127.0.0.1:9000' }],
    ['an origin that is not a URL', { 'api.openai.com': '127.0.0.1:9000' }],
  ])('refuses a map with %s', (_name, map) => {
    let caught: unknown
    try {
      createEgressClient({ domains: [], map })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(CentraliError)
    expect((caught as CentraliError).code).toBe('EGRESS_MAP_INVALID')
  })
})
