import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildFunction } from '../../src/build/bundle.js'
import type { ServeEvent } from '../../src/runtime/server.js'
import type { Manifest, UploadRequest, VersionInfo, VersionList } from '../../src/runtime/protocol.js'
import { errorCode, errorMessage, portAccepts, request, type Answer } from '../helpers/http.js'
import { endAll } from '../helpers/processes.js'
import { until } from '../helpers/until.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'
import { createSandbox, readyUrl, startCli, type Sandbox } from '../helpers/cli.js'

/**
 * `centrali serve` end to end: the built CLI as a long-running process on --port 0 with a temp data
 * dir, the deploy API and the endpoints over real HTTP, bundles made by the real esbuild build, and a
 * real HTTP server on 127.0.0.1 standing in for the provider (reached through `--map`). Crashes are
 * real SIGKILLs, at points the server stops at when CENTRALI_RUNTIME_TEST_PAUSE names them.
 */

const T = 30_000
const WAIT = 10_000
const TOKEN = 'crt_serve-e2e-token-0123456789abcdef'
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let sandbox: Sandbox
let dataDir: string
const processes: ResultPromise[] = []
const upstreams: Upstream[] = []
let badLines: string[] = []

beforeEach(async () => {
  sandbox = await createSandbox()
  dataDir = join(sandbox.dir, 'runtime-data')
  badLines = []
})

afterEach(async () => {
  await endAll(processes, upstreams)
  await sandbox.cleanup()
  // --json stdout is NDJSON and nothing else.
  expect(badLines).toEqual([])
})

// ---------------------------------------------------------------------------------------------
// Bundles, built as `centrali deploy` builds them.

interface Bundle {
  hash: string
  code: string
}

const built = new Map<string, Bundle>()

async function bundleOf(source: string): Promise<Bundle> {
  const cached = built.get(source)
  if (cached) return cached
  const root = await mkdtemp(join(tmpdir(), 'centrali-serve-fn-'))
  try {
    await writeFile(join(root, 'fn.js'), source)
    const build = await buildFunction({ root, entry: 'fn.js', minify: true })
    const bundle = { hash: createHash('sha256').update(build.code).digest('hex'), code: build.code }
    built.set(source, bundle)
    return bundle
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

interface VersionSpec {
  /** Function name → source. */
  functions: Record<string, string>
  /** Trigger name → function name and more trigger settings. */
  triggers: Record<string, { function: string } & Record<string, unknown>>
  domains?: string[]
}

async function uploadOf(spec: VersionSpec): Promise<UploadRequest> {
  const functions: Manifest['functions'] = {}
  const bundles: Record<string, string> = {}
  for (const [name, source] of Object.entries(spec.functions)) {
    const bundle = await bundleOf(source)
    functions[name] = { bundle: bundle.hash, size: Buffer.byteLength(bundle.code) }
    bundles[bundle.hash] = bundle.code
  }
  const triggers = Object.fromEntries(
    Object.entries(spec.triggers).map(([name, trigger]) => [name, { type: 'endpoint', ...trigger }]),
  ) as Manifest['triggers']
  return { manifest: { functions, triggers, domains: spec.domains ?? [] }, bundles }
}

/** One function `fn` behind one trigger `hello` that answers `{ code, param }` from its code and its params. */
const marked = (mark: string): VersionSpec => ({
  functions: {
    fn: `async function run() { return { code: ${JSON.stringify(mark)}, param: triggerParams.mark } }\n`,
  },
  triggers: { hello: { function: 'fn', params: { mark } } },
})

// ---------------------------------------------------------------------------------------------
// A stand-in provider.

/** An upstream that answers every request with its path, after `delayMs`. */
async function upstreamFor(delayMs = 0): Promise<Upstream> {
  const upstream = await startUpstream((seen) => ({ json: { upstream: true, path: seen.url }, delayMs }))
  upstreams.push(upstream)
  return upstream
}

// ---------------------------------------------------------------------------------------------
// The serve process.

interface Serve {
  child: ResultPromise
  url: string
  port: number
  events: ServeEvent[]
  stdout(): string
  stderr(): string
  exit: Promise<{ exitCode: number | undefined; signal: string | undefined }>
  /** A deploy API call with the token (or the given one; null for none). */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<Answer>
  post(trigger: string, payload?: unknown): Promise<Answer>
  next<K extends ServeEvent['type']>(
    type: K,
    match?: (event: Extract<ServeEvent, { type: K }>) => boolean,
  ): Promise<Extract<ServeEvent, { type: K }>>
}

const untilServe = <T>(
  check: () => T | undefined,
  describe: () => string,
  child?: ResultPromise,
  timeoutMs = WAIT,
) => until(check, describe, { child, name: 'serve', timeoutMs })

interface StartOptions {
  args?: readonly string[]
  env?: Record<string, string | undefined>
  json?: boolean
  /** Wait for the ready line (default true). */
  ready?: boolean
  /** Leave out --data-dir: the default, ./.centrali-runtime in the sandbox folder. */
  defaultDataDir?: boolean
}

async function startServe(options: StartOptions = {}): Promise<Serve> {
  const json = options.json ?? true
  const events: ServeEvent[] = []
  const serve = startCli(
    [
      'serve',
      '--port',
      '0',
      ...(options.defaultDataDir ? [] : ['--data-dir', dataDir]),
      ...(json ? ['--json'] : []),
      ...(options.args ?? []),
    ],
    {
      cwd: sandbox.dir,
      env: { ...sandbox.env, CENTRALI_RUNTIME_TOKEN: TOKEN, ...options.env },
      onLine: (line) => {
        if (!json && line.startsWith('Ready on ')) return
        try {
          events.push(JSON.parse(line) as ServeEvent)
        } catch {
          badLines.push(line)
        }
      },
    },
  )
  const { child, stdout, stderr, exit } = serve
  processes.push(child)
  const next = <K extends ServeEvent['type']>(
    type: K,
    match: (event: Extract<ServeEvent, { type: K }>) => boolean = () => true,
  ) =>
    untilServe(
      () =>
        events.find(
          (event): event is Extract<ServeEvent, { type: K }> =>
            event.type === type && match(event as Extract<ServeEvent, { type: K }>),
        ),
      () => `no ${type} event${serve.show()}`,
      child,
    )

  let url = ''
  if (options.ready !== false) {
    url = json
      ? (await next('ready')).url
      : await untilServe(
          () => readyUrl(serve.lines),
          () => `no Ready line${serve.show()}`,
          child,
        )
  }
  return {
    child,
    url,
    port: url === '' ? 0 : Number(new URL(url).port),
    events,
    stdout,
    stderr,
    exit,
    next,
    api: (method, path, body, token = TOKEN) =>
      request(`${url}${path}`, {
        method,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    post: (trigger, payload = {}) =>
      request(`${url}/endpoints/${trigger}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload }),
      }),
  }
}

async function stop(serve: Serve): Promise<void> {
  serve.child.kill('SIGTERM')
  const exit = await serve.exit
  expect(exit, serve.stderr()).toEqual({ exitCode: 0, signal: undefined })
}

async function kill(serve: Serve): Promise<void> {
  serve.child.kill('SIGKILL')
  expect((await serve.exit).signal).toBe('SIGKILL')
}

/** Uploads a version; returns its id. */
async function upload(serve: Serve, spec: VersionSpec | UploadRequest): Promise<string> {
  const body = 'manifest' in spec ? spec : await uploadOf(spec)
  const answer = await serve.api('POST', '/v1/deployments', body)
  expect(answer.status, answer.text).toBe(201)
  return (answer.body as { version: VersionInfo }).version.id
}

async function activate(serve: Serve, id: string): Promise<{ active: string; previous: string | null }> {
  const answer = await serve.api('POST', `/v1/versions/${id}/activate`)
  expect(answer.status, answer.text).toBe(200)
  return answer.body as { active: string; previous: string | null }
}

async function deploy(serve: Serve, spec: VersionSpec): Promise<string> {
  const id = await upload(serve, spec)
  await activate(serve, id)
  return id
}

async function versions(serve: Serve): Promise<VersionList> {
  const answer = await serve.api('GET', '/v1/versions')
  expect(answer.status, answer.text).toBe(200)
  return answer.body as VersionList
}

/** Every file under the data dir (recursively), with its bytes. */
function dataFiles(): { path: string; bytes: Buffer }[] {
  return readdirSync(dataDir, { recursive: true, encoding: 'utf8', withFileTypes: false })
    .map((path) => join(dataDir, path))
    .flatMap((path) => {
      try {
        return [{ path, bytes: readFileSync(path) }]
      } catch {
        return [] // a folder
      }
    })
}

// ---------------------------------------------------------------------------------------------

describe('starting and the token', () => {
  it(
    'first start: "Ready on", a token printed once on stderr, only its SHA-256 in the data dir; a restart prints none and the token still works',
    async () => {
      const first = await startServe({ env: { CENTRALI_RUNTIME_TOKEN: undefined }, json: false })
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const token = /Admin token[^\n]*\n\s*\n\s*(crt_[A-Za-z0-9_-]{43})\n/.exec(first.stderr())?.[1]
      expect(token, first.stderr()).toBeDefined()
      expect(first.stdout()).not.toContain(token)
      // The data dir holds the hash, never the token.
      const tokenFile = JSON.parse(await readFile(join(dataDir, 'token.json'), 'utf8')) as { sha256: string }
      expect(tokenFile.sha256).toBe(createHash('sha256').update(token!).digest('hex'))
      for (const file of dataFiles()) {
        expect(file.bytes.includes(token!), file.path).toBe(false)
        expect(file.bytes.includes(token!.slice(4)), file.path).toBe(false)
      }
      expect((await first.api('GET', '/v1/versions', undefined, token)).status).toBe(200)
      await stop(first)

      const second = await startServe({ env: { CENTRALI_RUNTIME_TOKEN: undefined }, json: false })
      expect(second.stderr()).not.toContain('Admin token')
      expect(second.stderr()).not.toContain('crt_')
      expect((await second.api('GET', '/v1/versions', undefined, token)).status).toBe(200)
      expect((await second.api('GET', '/v1/versions', undefined, `${token}x`)).status).toBe(401)
    },
    T,
  )

  it(
    '--json: the generated token is in the ready event, and stdout is NDJSON only',
    async () => {
      const serve = await startServe({ env: { CENTRALI_RUNTIME_TOKEN: undefined } })
      const ready = await serve.next('ready')
      expect(ready.token).toMatch(/^crt_[A-Za-z0-9_-]{43}$/)
      expect(ready).toMatchObject({ dataDir, version: null })
      expect((await serve.api('GET', '/v1/versions', undefined, ready.token)).status).toBe(200)
    },
    T,
  )

  it(
    'CENTRALI_RUNTIME_TOKEN: nothing generated or stored; 401 without it, with a wrong one, or not as Bearer',
    async () => {
      const serve = await startServe()
      expect((await serve.next('ready')).token).toBeUndefined()
      expect(dataFiles().map((file) => file.path)).not.toContain(join(dataDir, 'token.json'))
      expect((await serve.api('GET', '/v1/versions')).status).toBe(200)
      for (const authorization of [null, 'crt_wrong-token-0123456789abcdef', TOKEN.slice(0, -1)]) {
        const answer = await serve.api('GET', '/v1/versions', undefined, authorization)
        expect(answer.status).toBe(401)
        expect(answer.headers.get('www-authenticate')).toBe('Bearer')
        expect(errorCode(answer)).toBe('UNAUTHORIZED')
      }
      const basic = await request(`${serve.url}/v1/versions`, {
        headers: { authorization: `Basic ${TOKEN}` },
      })
      expect(basic.status).toBe(401)
      // Every route, and unknown ones too, wants the token first.
      for (const [method, path] of [
        ['POST', '/v1/deployments'],
        ['POST', '/v1/versions/v1/activate'],
        ['GET', '/v1/manifest'],
        ['GET', '/v1/secrets'],
        ['PUT', '/v1/secrets/API_KEY'],
        ['DELETE', '/v1/secrets/API_KEY'],
        ['GET', '/v1/nope'],
      ] as const) {
        expect(
          (await serve.api(method, path, method === 'PUT' ? { value: 'x' } : undefined, null)).status,
        ).toBe(401)
      }
      // Public: health and the endpoints.
      const health = await request(`${serve.url}/healthz`)
      expect(health.status).toBe(200)
      expect(health.body).toEqual({ ok: true, version: null })
      expect(health.headers.get('x-request-id')).toMatch(REQUEST_ID)
      const endpoint = await serve.post('hello')
      expect(endpoint.status).toBe(503)
      expect(errorCode(endpoint)).toBe('NO_ACTIVE_VERSION')
    },
    T,
  )

  it(
    'an occupied port: exit 1, PORT_IN_USE naming the port and --port; a token generated meanwhile is not kept',
    async () => {
      const blocker = createServer()
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
      const port = (blocker.address() as AddressInfo).port
      try {
        const result = await sandbox.run(['serve', '--port', String(port), '--data-dir', dataDir])
        expect(result.exitCode).toBe(1)
        expect(result.stderr).toContain('PORT_IN_USE')
        expect(result.stderr).toContain(String(port))
        expect(result.stderr).toContain('--port')
        expect(result.stderr).not.toContain('crt_')
        expect(dataFiles().map((file) => file.path)).not.toContain(join(dataDir, 'token.json'))
        // The data dir is unlocked again.
        expect(dataFiles().map((file) => file.path)).not.toContain(join(dataDir, 'serve.lock'))
      } finally {
        await new Promise<void>((resolve) => blocker.close(() => resolve()))
      }
    },
    T,
  )

  it(
    'works from any folder with no project, with the default data dir ./.centrali-runtime and a 0600 master key',
    async () => {
      const serve = await startServe({ defaultDataDir: true })
      const folder = join(sandbox.dir, '.centrali-runtime')
      expect((await serve.next('ready')).dataDir).toBe(folder)
      const key = join(folder, 'master.key')
      expect(readFileSync(key, 'utf8').trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/)
      expect(statSync(key).mode & 0o777).toBe(0o600)
      expect(statSync(folder).mode & 0o777).toBe(0o700)
      expect(readdirSync(folder).filter((name) => name.endsWith('.tmp'))).toEqual([])
      // Generating the key says, once, that it sits beside the secrets it protects.
      const warning =
        /generated the master key in .*master\.key, beside secrets\.json: anyone with a copy of the data dir can read the secrets\. In production, set CENTRALI_MASTER_KEY/
      expect(serve.stderr()).toMatch(warning)
      expect(serve.stderr().match(new RegExp(warning.source, 'g'))).toHaveLength(1)
      await stop(serve)
      const again = await startServe({ defaultDataDir: true })
      await stop(again)
      expect(again.stderr()).not.toContain('generated the master key')
    },
    T,
  )

  it(
    'one serve per data dir: a second start exits 1 with DATA_DIR_IN_USE naming the pid; after a SIGKILL the next start takes the lock over',
    async () => {
      const first = await startServe()
      const lock = join(dataDir, 'serve.lock')
      expect(readFileSync(lock, 'utf8').trim()).toBe(String(first.child.pid))
      expect(statSync(lock).mode & 0o777).toBe(0o600)
      const second = await sandbox.run(['serve', '--port', '0', '--data-dir', dataDir, '--json'], {
        env: { CENTRALI_RUNTIME_TOKEN: TOKEN },
      })
      expect(second.exitCode, second.stderr).toBe(1)
      const refusal = second.json<{ error: { code: string; message: string } }>().error
      expect(refusal.code).toBe('DATA_DIR_IN_USE')
      expect(refusal.message).toContain(`pid ${first.child.pid}`)
      // The refused start changed nothing: the first still serves and still holds the lock.
      expect((await first.api('GET', '/v1/versions')).status).toBe(200)
      expect(readFileSync(lock, 'utf8').trim()).toBe(String(first.child.pid))

      await kill(first)
      const next = await startServe()
      expect(readFileSync(lock, 'utf8').trim()).toBe(String(next.child.pid))
      expect((await next.api('GET', '/v1/versions')).status).toBe(200)
      // A clean exit unlocks it.
      await stop(next)
      expect(readdirSync(dataDir)).not.toContain('serve.lock')
    },
    T,
  )
})

describe('deploy API', () => {
  it(
    'upload, activate and invoke over HTTP against a local upstream through --map; versions and manifest',
    async () => {
      const upstream = await upstreamFor()
      const serve = await startServe({ args: ['--map', `api.example.com=${upstream.origin}`] })
      const spec: VersionSpec = {
        functions: {
          proxy: `async function run() {
  const reply = await api.httpPost('https://api.example.com/v1/echo', { got: executionParams.payload })
  return { reply, method: executionParams.method }
}
`,
        },
        triggers: { chat: { function: 'proxy', cors: { origins: ['http://app.example'] } } },
        domains: ['API.Example.com'],
      }
      const body = await uploadOf(spec)
      const uploaded = await serve.api('POST', '/v1/deployments', body)
      expect(uploaded.status, uploaded.text).toBe(201)
      const version = (uploaded.body as { version: VersionInfo }).version
      expect(version).toMatchObject({ id: 'v1', functions: ['proxy'], triggers: ['chat'], active: false })
      expect(version.size).toBe(Buffer.byteLength(Object.values(body.bundles)[0]!))
      expect(Date.parse(version.createdAt)).toBeGreaterThan(Date.now() - 60_000)
      // Content-addressed on disk.
      const hash = Object.keys(body.bundles)[0]!
      expect(await readFile(join(dataDir, 'bundles', `${hash}.js`), 'utf8')).toBe(body.bundles[hash])

      // Not active yet: nothing serves.
      expect(errorCode(await serve.post('chat'))).toBe('NO_ACTIVE_VERSION')
      expect((await serve.api('GET', '/v1/manifest')).status).toBe(404)

      expect(await activate(serve, 'v1')).toEqual({ active: 'v1', previous: null })
      const answer = await request(`${serve.url}/endpoints/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://app.example' },
        body: JSON.stringify({ payload: { q: 1 } }),
      })
      expect(answer.status, answer.text).toBe(200)
      expect(answer.body).toEqual({ reply: { upstream: true, path: '/v1/echo' }, method: 'POST' })
      expect(answer.headers.get('access-control-allow-origin')).toBe('http://app.example')
      // A misspelled trigger, from that origin: a 404 the page can read, not a network error.
      const typo = await request(`${serve.url}/endpoints/chta`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://app.example' },
        body: '{}',
      })
      expect(typo.status).toBe(404)
      expect(errorCode(typo)).toBe('TRIGGER_NOT_FOUND')
      expect(typo.headers.get('access-control-allow-origin')).toBe('http://app.example')
      expect(upstream.requests).toHaveLength(1)
      // Mapped, yet the Host header stays the original.
      expect(upstream.requests[0]).toMatchObject({ method: 'POST', host: 'api.example.com' })
      expect(JSON.parse(upstream.requests[0]!.body)).toEqual({ got: { q: 1 } })

      // One JSON log line per invocation.
      const line = await serve.next('invocation', (event) => event.trigger === 'chat' && event.status === 200)
      expect(line).toMatchObject({ version: 'v1', calls: 1, blocked: [] })
      expect(line.requestId).toBe(answer.headers.get('x-request-id'))
      expect(Date.parse(line.time)).toBeGreaterThan(0)
      expect(line.durationMs).toBeGreaterThanOrEqual(0)

      const listed = await versions(serve)
      expect(listed).toEqual({ active: 'v1', previous: null, versions: [{ ...version, active: true }] })
      const manifest = await serve.api('GET', '/v1/manifest')
      expect(manifest.body).toEqual({
        version: { ...version, active: true },
        // Domains are stored normalised.
        manifest: { ...body.manifest, domains: ['api.example.com'] },
      })
      // Production: an unknown trigger's 404 lists nothing.
      const missing = await serve.post('nope')
      expect(missing.status).toBe(404)
      expect(errorCode(missing)).toBe('TRIGGER_NOT_FOUND')
      expect(errorMessage(missing)).not.toContain('chat')
      expect((await request(`${serve.url}/healthz`)).body).toEqual({ ok: true, version: 'v1' })
    },
    T,
  )

  it(
    'refuses a bundle whose hash is wrong, a bundle neither sent nor stored, and a bad manifest; nothing is stored',
    async () => {
      const serve = await startServe()
      const good = await uploadOf(marked('a'))
      const [hash, code] = Object.entries(good.bundles)[0]!

      const tampered = await serve.api('POST', '/v1/deployments', {
        ...good,
        bundles: { [hash]: `${code};1` },
      })
      expect(tampered.status).toBe(400)
      expect(errorCode(tampered)).toBe('BUNDLE_HASH_MISMATCH')
      expect(errorMessage(tampered)).toContain(hash)

      const missing = await serve.api('POST', '/v1/deployments', { ...good, bundles: {} })
      expect(missing.status).toBe(400)
      expect(errorCode(missing)).toBe('BUNDLE_MISSING')
      expect(errorMessage(missing)).toContain(hash)
      expect(errorMessage(missing)).toContain('fn')

      const problems: [unknown, string][] = [
        [
          { ...good.manifest, triggers: { hello: { type: 'endpoint', function: 'other' } } },
          'manifest.triggers.hello.function',
        ],
        [{ ...good.manifest, domains: ['*.com'] }, 'manifest.domains[0]'],
        [
          { ...good.manifest, functions: { fn: { bundle: 'nothex', size: 1 } } },
          'manifest.functions.fn.bundle',
        ],
        [
          { ...good.manifest, triggers: { hello: { type: 'endpoint', function: 'fn', timeoutMs: 999_999 } } },
          'manifest.triggers.hello.timeoutMs',
        ],
        [{ functions: good.manifest.functions, triggers: good.manifest.triggers }, 'manifest.domains'],
        [
          {
            ...good.manifest,
            triggers: {
              hello: { type: 'endpoint', function: 'fn', cors: { origins: ['*'], credentials: true } },
            },
          },
          'manifest.triggers.hello.cors: expected the origins listed explicitly',
        ],
      ]
      for (const [manifest, path] of problems) {
        const answer = await serve.api('POST', '/v1/deployments', { ...good, manifest })
        expect(answer.status, path).toBe(400)
        expect(errorCode(answer)).toBe('BAD_REQUEST')
        expect(errorMessage(answer)).toContain(path)
      }
      const notJson = await request(`${serve.url}/v1/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: '{"manifest": ',
      })
      expect(notJson.status).toBe(400)
      expect(errorCode(notJson)).toBe('BAD_JSON')

      expect((await versions(serve)).versions).toEqual([])
      expect(await readdir(join(dataDir, 'bundles'))).toEqual([])
      expect(await readdir(join(dataDir, 'versions'))).toEqual([])

      // A bundle already stored need not be sent again.
      expect(await upload(serve, good)).toBe('v1')
      expect(await upload(serve, { ...good, bundles: {} })).toBe('v2')
      await activate(serve, 'v2')
      expect((await serve.post('hello')).body).toEqual({ code: 'a', param: 'a' })
    },
    T,
  )

  it(
    'an upload body over 50 MiB: 413 at the limit; unknown routes 404 and wrong methods 405',
    async () => {
      const serve = await startServe()
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${serve.url}/v1/deployments`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-length': String(60 * 1024 * 1024) },
          },
          (response) => {
            response.resume()
            resolve(response.statusCode ?? 0)
          },
        )
        req.on('error', reject)
        req.write('{"manifest":')
      })
      expect(status).toBe(413)
      const unknown = await serve.api('GET', '/v1/nope')
      expect([unknown.status, errorCode(unknown)]).toEqual([404, 'NOT_FOUND'])
      const wrongMethod = await serve.api('GET', '/v1/deployments')
      expect([wrongMethod.status, errorCode(wrongMethod)]).toEqual([405, 'METHOD_NOT_ALLOWED'])
      expect(wrongMethod.headers.get('allow')).toBe('POST')
      // The runtime's own routes say their methods too.
      for (const path of ['/healthz', '/metrics']) {
        const posted = await request(`${serve.url}${path}`, { method: 'POST', body: '{}' })
        expect([posted.status, errorCode(posted), posted.headers.get('allow')], path).toEqual([
          405,
          'METHOD_NOT_ALLOWED',
          'GET, HEAD',
        ])
      }
      const noVersion = await serve.api('POST', '/v1/versions/v9/activate')
      expect([noVersion.status, errorCode(noVersion)]).toEqual([404, 'VERSION_NOT_FOUND'])
    },
    T,
  )

  it(
    'rollback (activating an older version) serves the old code; a restart serves the active version at once',
    async () => {
      const serve = await startServe()
      expect(await deploy(serve, marked('one'))).toBe('v1')
      expect(await deploy(serve, marked('two'))).toBe('v2')
      expect((await serve.post('hello')).body).toEqual({ code: 'two', param: 'two' })

      expect(await activate(serve, 'v1')).toEqual({ active: 'v1', previous: 'v2' })
      expect((await serve.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      const listed = await versions(serve)
      expect(listed.active).toBe('v1')
      // The version active before the current one: what a default rollback goes back to.
      expect(listed.previous).toBe('v2')
      expect(listed.versions.map((version) => [version.id, version.active])).toEqual([
        ['v2', false],
        ['v1', true],
      ])
      const active = JSON.parse(await readFile(join(dataDir, 'active.json'), 'utf8')) as Record<
        string,
        unknown
      >
      expect(active).toMatchObject({ version: 'v1', previous: 'v2' })
      await stop(serve)

      const again = await startServe()
      expect((await again.next('ready')).version).toBe('v1')
      expect(await versions(again)).toMatchObject({ active: 'v1', previous: 'v2' })
      // The first request after ready is served, by the active version.
      expect((await again.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      // Ids continue after a restart.
      expect(await upload(again, marked('three'))).toBe('v3')
    },
    T,
  )

  it(
    'two concurrent uploads: distinct ids, both whole and runnable',
    async () => {
      const serve = await startServe()
      const [a, b] = await Promise.all([upload(serve, marked('left')), upload(serve, marked('right'))])
      expect(new Set([a, b])).toEqual(new Set(['v1', 'v2']))
      for (const [id, mark] of [
        [a, 'left'],
        [b, 'right'],
      ] as const) {
        await activate(serve, id)
        expect((await serve.post('hello')).body).toEqual({ code: mark, param: mark })
      }
      // Many at once: ids in a row, no file half written, none lost.
      const many = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(serve, marked(`m${i}`))))
      expect([...many].sort()).toEqual(['v10', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9'])
      expect((await readdir(join(dataDir, 'versions'))).sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `v${i + 1}.json`).sort(),
      )
      expect((await versions(serve)).versions.map((version) => version.id)).toEqual(
        Array.from({ length: 10 }, (_, i) => `v${10 - i}`),
      )
    },
    T,
  )

  it(
    'activation under steady load: no request fails, each answer is wholly the old or wholly the new version',
    async () => {
      const serve = await startServe()
      await deploy(serve, marked('old'))
      const next = await upload(serve, marked('new'))
      // 5 connections, one request at a time each, ~12 ms apart: 60 requests each at least (~1 s), and
      // on until each has had 10 answers sent after the activation returned (it starts new workers,
      // which takes a while on a slow machine). The switch comes after the first 100 answers.
      const answers: { connection: number; status: number; body: unknown; sentAfter: boolean }[] = []
      let activated = false
      const connection = async (index: number) => {
        let afterActivation = 0
        for (let i = 0; (i < 60 || afterActivation < 10) && i < 1000; i++) {
          const sentAfter = activated
          const answer = await serve.post('hello')
          answers.push({ connection: index, status: answer.status, body: answer.body, sentAfter })
          if (sentAfter) afterActivation++
          await new Promise((resolve) => setTimeout(resolve, 12))
        }
      }
      const load = Promise.all(Array.from({ length: 5 }, (_, index) => connection(index)))
      await untilServe(
        () => (answers.length >= 100 ? true : undefined),
        () => `${answers.length} answers`,
      )
      await activate(serve, next)
      activated = true
      await load
      expect(answers.length).toBeGreaterThanOrEqual(300)
      expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
      const marks = answers.map((answer) => answer.body as { code: string; param: string })
      // Code and params always from the same version.
      expect(marks.filter((mark) => mark.code !== mark.param)).toEqual([])
      expect(marks.filter((mark) => mark.code === 'old').length).toBeGreaterThanOrEqual(100)
      expect(marks.filter((mark) => mark.code === 'new').length).toBeGreaterThan(0)
      // Once activation has answered, every request runs the new version.
      const lateOld = answers.filter(
        (answer) => answer.sentAfter && (answer.body as { code: string }).code !== 'new',
      )
      expect(lateOld).toEqual([])
      // On each connection (one request at a time) the switch happens once: never back to old.
      for (let index = 0; index < 5; index++) {
        const sequence = answers
          .filter((answer) => answer.connection === index)
          .map((answer) => (answer.body as { code: string }).code)
        const firstNew = sequence.indexOf('new')
        expect(firstNew).toBeGreaterThanOrEqual(0)
        expect(sequence.slice(firstNew)).not.toContain('old')
      }
    },
    T,
  )

  it(
    'activation loads the code in the sandbox first: code that does not compile is refused with 422 VERSION_CANNOT_LOAD and the old version serves',
    async () => {
      const serve = await startServe()
      await deploy(serve, marked('one'))
      // The hash is right; the code is not JavaScript.
      const code = 'async function run( { return "never" }\n'
      const hash = createHash('sha256').update(code).digest('hex')
      const id = await upload(serve, {
        manifest: {
          functions: { broken: { bundle: hash, size: Buffer.byteLength(code) } },
          triggers: { hello: { type: 'endpoint', function: 'broken' } },
          domains: [],
        },
        bundles: { [hash]: code },
      })
      const refused = await serve.api('POST', `/v1/versions/${id}/activate`)
      expect([refused.status, errorCode(refused)], refused.text).toEqual([422, 'VERSION_CANNOT_LOAD'])
      expect(errorMessage(refused)).toContain('function broken')
      expect(errorMessage(refused)).toMatch(/SyntaxError|Unexpected/)
      expect((await serve.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      expect(await versions(serve)).toMatchObject({ active: 'v1', previous: null })
      expect(JSON.parse(await readFile(join(dataDir, 'active.json'), 'utf8'))).toMatchObject({
        version: 'v1',
      })
    },
    T,
  )

  it(
    'activate with expectedActive: 409 ACTIVE_CHANGED naming what serves when it is not that one; nothing changes',
    async () => {
      const serve = await startServe()
      // Before anything is active, null is what serves.
      const first = await upload(serve, marked('one'))
      const wrongFirst = await serve.api('POST', `/v1/versions/${first}/activate`, { expectedActive: 'v1' })
      expect([wrongFirst.status, errorCode(wrongFirst)]).toEqual([409, 'ACTIVE_CHANGED'])
      const made = await serve.api('POST', `/v1/versions/${first}/activate`, { expectedActive: null })
      expect([made.status, made.body]).toEqual([200, { active: 'v1', previous: null }])

      const second = await upload(serve, marked('two'))
      for (const expectedActive of [null, 'v9']) {
        const answer = await serve.api('POST', `/v1/versions/${second}/activate`, { expectedActive })
        expect([answer.status, errorCode(answer)]).toEqual([409, 'ACTIVE_CHANGED'])
        expect(errorMessage(answer)).toContain('v1 is active now')
      }
      for (const body of [{ expectedActive: 1 }, { expectedActive: 'latest' }, ['v1']]) {
        const answer = await serve.api('POST', `/v1/versions/${second}/activate`, body)
        expect([answer.status, errorCode(answer)], JSON.stringify(body)).toEqual([400, 'BAD_REQUEST'])
      }
      expect((await serve.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      expect((await versions(serve)).active).toBe('v1')

      const switched = await serve.api('POST', `/v1/versions/${second}/activate`, { expectedActive: 'v1' })
      expect([switched.status, switched.body]).toEqual([200, { active: 'v2', previous: 'v1' }])
      expect((await serve.post('hello')).body).toEqual({ code: 'two', param: 'two' })
    },
    T,
  )
})

describe('secrets', () => {
  const SECRET_ONE = 'sk-live-FIRST-9f8e7d6c5b4a39281706'
  const SECRET_TWO = 'sk-live-SECOND-0a1b2c3d4e5f60718293'

  it(
    'set and rotated over the API: used by the next invocation with no redeploy, never returned, logged or stored in the clear',
    async () => {
      const upstream = await upstreamFor()
      const serve = await startServe({ args: ['--map', `api.example.com=${upstream.origin}`] })
      await deploy(serve, {
        functions: {
          proxy: `async function run() {
  api.log('using ' + triggerParams.apiKey)
  await api.httpGet('https://api.example.com/v1/models', { headers: { authorization: 'Bearer ' + triggerParams.apiKey } })
  return { model: triggerParams.model, leaked: triggerParams.apiKey }
}
`,
        },
        triggers: { chat: { function: 'proxy', params: { apiKey: { secret: 'API_KEY' }, model: 'small' } } },
        domains: ['api.example.com'],
      })

      // Not set yet: 500 SECRET_MISSING naming the secret.
      const missing = await serve.post('chat')
      expect(missing.status).toBe(500)
      expect(errorCode(missing)).toBe('SECRET_MISSING')
      expect(errorMessage(missing)).toContain('API_KEY')
      expect(upstream.requests).toHaveLength(0)

      const put = await serve.api('PUT', '/v1/secrets/API_KEY', { value: SECRET_ONE })
      expect(put.status, put.text).toBe(200)
      expect(put.body).toEqual({ name: 'API_KEY', updatedAt: expect.any(String) })
      const first = await serve.post('chat')
      expect(first.status, first.text).toBe(200)
      // A value that comes back out of the function is redacted.
      expect(first.body).toEqual({ model: 'small', leaked: '[redacted:API_KEY]' })
      expect(upstream.requests.at(-1)?.authorization).toBe(`Bearer ${SECRET_ONE}`)

      // Rotation: the next invocation uses the new value.
      expect((await serve.api('PUT', '/v1/secrets/API_KEY', { value: SECRET_TWO })).status).toBe(200)
      expect((await serve.post('chat')).status).toBe(200)
      expect(upstream.requests.at(-1)?.authorization).toBe(`Bearer ${SECRET_TWO}`)

      const listed = await serve.api('GET', '/v1/secrets')
      expect(listed.body).toEqual({ secrets: [{ name: 'API_KEY', updatedAt: expect.any(String) }] })
      const manifest = await serve.api('GET', '/v1/manifest')
      // The manifest keeps the reference, not the value.
      expect(manifest.text).toContain('{"secret":"API_KEY"}')

      const bad = await serve.api('PUT', '/v1/secrets/api-key', { value: 'x' })
      expect([bad.status, errorCode(bad)]).toEqual([400, 'BAD_REQUEST'])
      const empty = await serve.api('PUT', '/v1/secrets/OTHER', { value: '' })
      expect([empty.status, errorCode(empty)]).toEqual([400, 'BAD_REQUEST'])

      const removed = await serve.api('DELETE', '/v1/secrets/API_KEY')
      expect(removed.body).toEqual({ name: 'API_KEY', deleted: true })
      const gone = await serve.post('chat')
      expect([gone.status, errorCode(gone)]).toEqual([500, 'SECRET_MISSING'])
      const again = await serve.api('DELETE', '/v1/secrets/API_KEY')
      expect([again.status, errorCode(again)]).toEqual([404, 'SECRET_NOT_FOUND'])
      expect((await serve.api('PUT', '/v1/secrets/API_KEY', { value: SECRET_TWO })).status).toBe(200)
      await serve.next('log')
      await stop(serve)

      const forms = (value: string) => [
        value,
        Buffer.from(value).toString('base64'),
        Buffer.from(value).toString('base64url'),
        Buffer.from(value).toString('hex'),
      ]
      for (const value of [SECRET_ONE, SECRET_TWO]) {
        for (const form of forms(value)) {
          for (const file of dataFiles())
            expect(file.bytes.includes(form), `${file.path} holds ${form}`).toBe(false)
          expect(serve.stdout()).not.toContain(form)
          expect(serve.stderr()).not.toContain(form)
        }
      }
      // The log line of the function is there, redacted.
      expect(serve.stdout()).toContain('using [redacted:API_KEY]')
      const store = JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as {
        secrets: Record<string, { alg: string }>
      }
      expect(store.secrets.API_KEY?.alg).toBe('aes-256-gcm')

      // After a restart the stored value is still in force.
      const restarted = await startServe({ args: ['--map', `api.example.com=${upstream.origin}`] })
      expect((await restarted.post('chat')).status).toBe(200)
      expect(upstream.requests.at(-1)?.authorization).toBe(`Bearer ${SECRET_TWO}`)
    },
    T,
  )

  it(
    'CENTRALI_MASTER_KEY encrypts instead of a key file; another key refuses to start rather than lose the secrets',
    async () => {
      const key = Buffer.alloc(32, 7)
      const serve = await startServe({ env: { CENTRALI_MASTER_KEY: key.toString('hex') } })
      expect((await serve.api('PUT', '/v1/secrets/API_KEY', { value: SECRET_ONE })).status).toBe(200)
      await stop(serve)
      expect(await readdir(dataDir)).not.toContain('master.key')
      const base64 = await startServe({ env: { CENTRALI_MASTER_KEY: key.toString('base64') } })
      await stop(base64)
      const wrong = await sandbox.run(['serve', '--port', '0', '--data-dir', dataDir], {
        env: { CENTRALI_RUNTIME_TOKEN: TOKEN, CENTRALI_MASTER_KEY: Buffer.alloc(32, 8).toString('base64') },
      })
      expect(wrong.exitCode).toBe(1)
      expect(wrong.stderr).toContain('MASTER_KEY_WRONG')
    },
    T,
  )

  it(
    'BAD_JSON says where the body stops being JSON, never its text; names over 128 characters are refused',
    async () => {
      const serve = await startServe()
      const SECRET = 'sk-live-NOTJSON-4c3b2a1908f7e6d5'
      for (const body of [`{"value": ${SECRET}}`, `{"value": "${SECRET}`, `{"value": "${SECRET}" "x"}`]) {
        const answer = await request(`${serve.url}/v1/secrets/API_KEY`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body,
        })
        expect([answer.status, errorCode(answer)], body).toEqual([400, 'BAD_JSON'])
        expect(errorMessage(answer)).toMatch(/^The request body is not JSON: /)
        expect(answer.text).not.toContain(SECRET.slice(8))
        expect(answer.text).not.toContain(SECRET.slice(0, 8))
      }
      const located = await request(`${serve.url}/v1/secrets/API_KEY`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: `{"value": "${SECRET}" "x"}`,
      })
      expect(errorMessage(located)).toContain(`position ${`{"value": "${SECRET}" `.length}`)
      expect(serve.stdout() + serve.stderr()).not.toContain(SECRET)

      const longest = `K${'_'.repeat(127)}`
      expect((await serve.api('PUT', `/v1/secrets/${longest}`, { value: 'x' })).status).toBe(200)
      const tooLong = await serve.api('PUT', `/v1/secrets/${longest}X`, { value: 'x' })
      expect([tooLong.status, errorCode(tooLong)]).toEqual([400, 'BAD_REQUEST'])
      expect(errorMessage(tooLong)).toContain('at most 128')
    },
    T,
  )
})

describe('damage and crashes', () => {
  it(
    'a corrupted bundle: activation refused (409) while the old version serves; at start-up nothing is served and stderr says why',
    async () => {
      const serve = await startServe()
      await deploy(serve, marked('one'))
      const second = await uploadOf(marked('two'))
      await upload(serve, second)
      const hash = Object.keys(second.bundles)[0]!
      const bundlePath = join(dataDir, 'bundles', `${hash}.js`)
      await appendFile(bundlePath, '\n;globalThis.evil = 1')

      const refused = await serve.api('POST', '/v1/versions/v2/activate')
      expect(refused.status).toBe(409)
      expect(errorCode(refused)).toBe('VERSION_UNREADABLE')
      expect(errorMessage(refused)).toContain(hash)
      expect((await serve.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      expect((await versions(serve)).active).toBe('v1')

      // Re-uploading repairs the stored copy.
      expect(await upload(serve, second)).toBe('v3')
      await activate(serve, 'v2')
      expect((await serve.post('hello')).body).toEqual({ code: 'two', param: 'two' })
      await stop(serve)

      // Damaged while stopped: the restart serves nothing rather than half.
      await writeFile(bundlePath, 'broken')
      const restarted = await startServe()
      await untilServe(
        () => (restarted.stderr().includes('THE ACTIVE VERSION CANNOT RUN') ? true : undefined),
        () => restarted.stderr(),
      )
      expect(restarted.stderr()).toContain(hash)
      expect((await restarted.next('ready')).version).toBeNull()
      // The public is told nothing can run, not why: the details (paths, fs errors) stay on stderr.
      const health = await request(`${restarted.url}/healthz`)
      expect(health.status).toBe(503)
      expect(health.body).toEqual({
        ok: false,
        version: null,
        error: { code: 'NO_ACTIVE_VERSION', message: 'The active version cannot run; see the server log.' },
      })
      const answer = await restarted.post('hello')
      expect([answer.status, errorCode(answer)]).toEqual([503, 'NO_ACTIVE_VERSION'])
      expect(errorMessage(answer)).toBe('The active version cannot run; see the server log.')
      for (const text of [health.text, answer.text]) {
        expect(text).not.toContain(hash)
        expect(text).not.toContain(dataDir)
        expect(text).not.toContain('bundles')
      }
      expect((await restarted.api('POST', '/v1/versions/v2/activate')).status).toBe(409)
      // Another version can be activated to recover.
      expect(await activate(restarted, 'v1')).toEqual({ active: 'v1', previous: 'v2' })
      expect((await restarted.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      const healthy = await request(`${restarted.url}/healthz`)
      expect([healthy.status, healthy.body]).toEqual([200, { ok: true, version: 'v1' }])
    },
    T,
  )

  it.each(['upload-bundles', 'upload-version'] as const)(
    'SIGKILL in the middle of an upload (%s): after a restart the previous version serves and the half upload is not a version',
    async (point) => {
      const first = await startServe()
      await deploy(first, marked('one'))
      await stop(first)

      const paused = await startServe({ env: { CENTRALI_RUNTIME_TEST_PAUSE: point } })
      const uploading = paused
        .api('POST', '/v1/deployments', await uploadOf(marked('two')))
        .catch(() => undefined)
      await untilServe(
        () => (paused.stderr().includes(`test pause: stopped at ${point}`) ? true : undefined),
        () => paused.stderr(),
      )
      if (point === 'upload-version') {
        // The version file is written under its temporary name only.
        expect(
          readdirSync(join(dataDir, 'versions')).some((name) => /^\.v2\.json\..+\.tmp$/.test(name)),
        ).toBe(true)
      }
      await kill(paused)
      await uploading

      const restarted = await startServe()
      expect((await restarted.next('ready')).version).toBe('v1')
      expect((await restarted.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      expect((await versions(restarted)).versions.map((version) => version.id)).toEqual(['v1'])
      // No leftover of the write is kept, and the id is free for the next upload.
      expect(readdirSync(join(dataDir, 'versions'))).toEqual(['v1.json'])
      expect(await deploy(restarted, marked('two'))).toBe('v2')
      expect((await restarted.post('hello')).body).toEqual({ code: 'two', param: 'two' })
    },
    T,
  )

  it(
    'SIGKILL in the middle of an activation: after a restart the previous version serves; a half-written pointer is never read',
    async () => {
      const first = await startServe()
      await deploy(first, marked('one'))
      await upload(first, marked('two'))
      await stop(first)

      const paused = await startServe({ env: { CENTRALI_RUNTIME_TEST_PAUSE: 'activate-pointer' } })
      expect(paused.stderr()).toContain('for tests only')
      const activating = paused.api('POST', '/v1/versions/v2/activate').catch(() => undefined)
      await untilServe(
        () => (paused.stderr().includes('test pause: stopped at activate-pointer') ? true : undefined),
        () => paused.stderr(),
      )
      // Requests keep being served by the old version while the activation is held.
      expect((await paused.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      await kill(paused)
      await activating
      // What a crash in the middle of writing active.json would leave: a temporary file, cut short.
      await writeFile(join(dataDir, '.active.json.0123456789ab.tmp'), '{"format":1,"version":"v')

      const restarted = await startServe()
      expect((await restarted.next('ready')).version).toBe('v1')
      expect((await restarted.post('hello')).body).toEqual({ code: 'one', param: 'one' })
      expect(readdirSync(dataDir).filter((name) => name.endsWith('.tmp'))).toEqual([])
      await activate(restarted, 'v2')
      expect((await restarted.post('hello')).body).toEqual({ code: 'two', param: 'two' })
    },
    T,
  )
})

describe('operations', () => {
  it(
    'GET /metrics: invocation counters by trigger and status, errors by code, durations, blocked hosts',
    async () => {
      const upstream = await upstreamFor()
      const serve = await startServe({ args: ['--map', `api.example.com=${upstream.origin}`] })
      await deploy(serve, {
        functions: {
          ok: 'async function run() { return 1 }\n',
          fails: 'async function run() { throw new Error("boom") }\n',
          sneaky: `async function run() { return await api.httpGet('https://evil.example.net/steal') }\n`,
        },
        triggers: { ok: { function: 'ok' }, fails: { function: 'fails' }, sneaky: { function: 'sneaky' } },
        domains: ['api.example.com'],
      })
      expect((await serve.post('ok')).status).toBe(200)
      expect((await serve.post('ok')).status).toBe(200)
      expect((await serve.post('fails')).status).toBe(500)
      const blocked = await serve.post('sneaky')
      expect([blocked.status, errorCode(blocked)]).toEqual([502, 'EGRESS_HOST_DENIED'])

      const metrics = await request(`${serve.url}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4')
      const text = metrics.text
      expect(text).toContain('# TYPE centrali_invocations_total counter')
      expect(text).toContain('centrali_invocations_total{trigger="ok",status="200"} 2')
      expect(text).toContain('centrali_invocations_total{trigger="fails",status="500"} 1')
      expect(text).toContain('centrali_invocations_total{trigger="sneaky",status="502"} 1')
      expect(text).toContain('centrali_invocation_errors_total{code="FUNCTION_ERROR"} 1')
      expect(text).toContain('centrali_invocation_errors_total{code="EGRESS_HOST_DENIED"} 1')
      expect(text).toContain('# TYPE centrali_invocation_duration_seconds histogram')
      expect(text).toContain('centrali_invocation_duration_seconds_count{trigger="ok"} 2')
      expect(text).toContain('centrali_invocation_duration_seconds_bucket{trigger="ok",le="+Inf"} 2')
      expect(text).toContain('centrali_egress_blocked_total{host="evil.example.net"} 1')
      expect(text).toContain('centrali_active_version_info{version="v1"} 1')
      expect(upstream.requests).toHaveLength(0)

      const line = await serve.next('invocation', (event) => event.trigger === 'sneaky')
      expect(line).toMatchObject({
        version: 'v1',
        status: 502,
        calls: 1,
        blocked: [{ host: 'evil.example.net', code: 'EGRESS_HOST_DENIED' }],
        error: { code: 'EGRESS_HOST_DENIED' },
      })
      expect(line.requestId).toMatch(REQUEST_ID)
    },
    T,
  )

  it(
    'SIGTERM while an invocation runs: it completes with 200, then exit 0 and the port is closed',
    async () => {
      const upstream = await upstreamFor(800)
      const serve = await startServe({ args: ['--map', `api.example.com=${upstream.origin}`] })
      await deploy(serve, {
        functions: {
          slow: `async function run() { return await api.httpGet('https://api.example.com/slow') }\n`,
        },
        triggers: { slow: { function: 'slow' } },
        domains: ['api.example.com'],
      })
      const running = serve.post('slow')
      await untilServe(
        () => (upstream.requests.length > 0 ? true : undefined),
        () => 'the upstream got no request',
      )
      const signalled = Date.now()
      serve.child.kill('SIGTERM')
      const answer = await running
      expect(answer.status, answer.text).toBe(200)
      expect(answer.body).toEqual({ upstream: true, path: '/slow' })
      const exit = await Promise.race([
        serve.exit,
        new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 8_000)),
      ])
      expect(exit, serve.stderr()).toEqual({ exitCode: 0, signal: undefined })
      expect(Date.now() - signalled).toBeLessThan(6_000)
      expect(await portAccepts(serve.port)).toBe(false)
    },
    T,
  )

  it(
    'SIGTERM with a request still arriving when the grace ends: it is answered 503 SHUTTING_DOWN, not cut off',
    async () => {
      const serve = await startServe()
      // The shortest grace serve has: 5 s, a second more than the longest trigger timeout.
      await deploy(serve, {
        functions: { fn: 'async function run() { return 1 }\n' },
        triggers: { hello: { function: 'fn', timeoutMs: 1000 } },
      })
      // Headers and part of the body, and no more: the request is in flight all through the grace.
      const socket = connect(serve.port, '127.0.0.1')
      let received = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => (received += chunk))
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      socket.write(
        'POST /endpoints/hello HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n{"payl',
      )
      await new Promise((resolve) => setTimeout(resolve, 300))
      const signalled = Date.now()
      // Not through execa's kill(), which follows up with SIGKILL after 5 s.
      process.kill(serve.child.pid!, 'SIGTERM')
      await closed
      const [head = '', body = ''] = received.split('\r\n\r\n')
      expect(head, received).toMatch(/^HTTP\/1\.1 503 /)
      expect(head).toMatch(new RegExp(`^x-request-id: ${REQUEST_ID.source.slice(1, -1)}$`, 'im'))
      expect(JSON.parse(body)).toEqual({ error: { code: 'SHUTTING_DOWN', message: expect.any(String) } })
      const exit = await serve.exit
      expect(exit, serve.stderr()).toEqual({ exitCode: 0, signal: undefined })
      expect(Date.now() - signalled).toBeGreaterThanOrEqual(5_900)
      expect(Date.now() - signalled).toBeLessThan(9_000)
    },
    T,
  )

  it(
    'SIGINT: exit 130; a non-loopback host warns',
    async () => {
      const serve = await startServe({ args: ['--host', '0.0.0.0'], ready: false })
      await untilServe(
        () => serve.events.find((event) => event.type === 'ready'),
        () => serve.stdout() + serve.stderr(),
        serve.child,
      )
      expect(serve.stderr()).toContain('listening on 0.0.0.0')
      serve.child.kill('SIGINT')
      expect(await serve.exit).toEqual({ exitCode: 130, signal: undefined })
    },
    T,
  )
})
