import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, relative } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandbox, ROOT, type Sandbox } from '../helpers/cli.js'
import { freePort } from '../helpers/http.js'

/**
 * The `cloudflare` target end to end: `centrali deploy --dry-run` emits the Workers module, which
 * runs here in workerd (the `workerd` npm package), offline. workerd's `globalOutbound` sends every
 * outbound `fetch` of the Worker to a local HTTP server, which sees the original Host header: the
 * module itself has no test-only switch. Then `deploy` without --dry-run runs a stand-in `wrangler`
 * on PATH that records its arguments, environment and stdin.
 */

const T = 60_000
const WORKERD = join(ROOT, 'node_modules', '.bin', 'workerd')
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const SECRETS = {
  OPENAI_API_KEY: 'sk-test-openai-0123456789',
  STRIPE_SECRET_KEY: 'sk_test_stripe_0123456789',
  API_KEY: 'generic-key-0123456789',
  TABLE_KEY: 'table-secret-0123456789',
}

interface Seen {
  method: string
  url: string
  host: string | undefined
  headers: IncomingMessage['headers']
  body: string
}

let sandbox: Sandbox
let upstream: Server
const seen: Seen[] = []
let workerd: ResultPromise | undefined
/** Worker name → its base URL in workerd. */
const bases: Record<string, string> = {}

/** The provider stand-in: answers by path, records everything. */
function reply(request: Seen, response: ServerResponse): void {
  const json = (status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
  if (request.url.startsWith('/v1/chat/completions'))
    return json(200, { choices: [{ message: { content: 'hi' } }] })
  if (request.url.startsWith('/v1/checkout/sessions'))
    return json(200, { id: 'cs_test_1', url: 'https://checkout.stripe.com/c/pay/cs_test_1' })
  if (request.url.startsWith('/missing')) return json(404, { error: { message: 'no such thing' } })
  if (request.url.startsWith('/redirect-out')) {
    response.writeHead(302, { location: 'https://evil.example.net/steal' })
    return void response.end()
  }
  if (request.url.startsWith('/text')) {
    response.writeHead(200, { 'content-type': 'text/plain' })
    return void response.end('plain text')
  }
  json(200, { ok: true, path: request.url })
}

const TABLE_FUNCTIONS: Record<string, string> = {
  'functions/echo.ts': `
let loads = 0
loads++
export async function run() {
  return {
    payload: executionParams.payload,
    method: executionParams.method,
    requestId: executionParams.requestId,
    region: triggerParams.region,
    hasKey: typeof triggerParams.key === 'string' && triggerParams.key.length > 0,
    loads,
    frozen: Object.isFrozen(executionParams) && Object.isFrozen(triggerParams),
    absent: [typeof fetch, typeof process, typeof require, typeof caches, typeof crypto],
    present: [typeof URL, typeof TextEncoder, typeof btoa, typeof structuredClone, typeof setTimeout],
  }
}`,
  'functions/fail.ts': `export async function run() { throw new Error('boom: ' + executionParams.payload) }`,
  'functions/hang.ts': `export async function run() { return new Promise(() => {}) }`,
  'functions/blocked.ts': `export async function run() { return api.httpGet('https://evil.example.net/data') }`,
  'functions/upstream.ts': `
export async function run() {
  const got = await api.httpPost('https://api.example.com/echo', { a: 1 }, { headers: { 'x-k': 'v' } })
  const text = await api.httpGet('https://api.example.com/text')
  let httpError
  try { await api.httpGet('https://api.example.com/missing') } catch (e) {
    httpError = { name: e.name, status: e.status, body: e.body, message: e.message }
  }
  const raw = await api.request('GET', 'https://api.example.com/missing')
  let redirect
  try { await api.httpGet('https://api.example.com/redirect-out') } catch (e) { redirect = { name: e.name, code: e.code } }
  let scheme
  try { await api.httpGet('http://api.example.com/x') } catch (e) { scheme = e.code }
  api.log({ step: 'done' })
  return { got, text, httpError, rawStatus: raw.status, redirect, scheme }
}`,
  'functions/leak.ts': `export async function run() { return { key: triggerParams.key } }`,
}

const TABLE_CONFIG = {
  functions: Object.fromEntries(
    Object.keys(TABLE_FUNCTIONS).map((path) => [path.replace(/^functions\/|\.ts$/g, ''), { entry: path }]),
  ),
  triggers: {
    echo: {
      type: 'endpoint',
      function: 'echo',
      params: { region: 'eu', key: { secret: 'TABLE_KEY' } },
      cors: { origins: ['http://localhost:5173'] },
    },
    fail: { type: 'endpoint', function: 'fail', cors: { origins: ['http://localhost:5173'] } },
    hang: { type: 'endpoint', function: 'hang', timeoutMs: 300 },
    blocked: { type: 'endpoint', function: 'blocked' },
    upstream: { type: 'endpoint', function: 'upstream' },
    leak: { type: 'endpoint', function: 'leak', params: { key: { secret: 'TABLE_KEY' } } },
  },
  domains: ['api.example.com'],
  targets: { cf: { type: 'cloudflare', name: 'table-worker', compatibilityDate: '2025-09-01' } },
}

async function emitWorker(app: string): Promise<string> {
  const result = await sandbox.run(['deploy', '--target', 'cf', '--dry-run', '--json'], { cwd: app })
  expect(result.exitCode, result.stderr).toBe(0)
  return join(app, '.centrali', 'deploy', 'cf')
}

async function scaffold(template: string, folder = template): Promise<string> {
  const init = await sandbox.run(['init', folder, '--template', template, '--yes'])
  expect(init.exitCode, init.stderr).toBe(0)
  const app = join(sandbox.dir, folder)
  const configPath = join(app, 'centrali.json')
  const config = JSON.parse(await readFile(configPath, 'utf8')) as { targets?: Record<string, unknown> }
  config.targets = { ...config.targets, cf: { type: 'cloudflare', name: `${template}-worker` } }
  await writeFile(configPath, JSON.stringify(config, null, 2))
  return app
}

beforeAll(async () => {
  sandbox = await createSandbox()
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      seen.push(request)
      reply(request, res)
    })
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const upstreamPort = (upstream.address() as AddressInfo).port

  const table = join(sandbox.dir, 'table')
  await mkdir(join(table, 'functions'), { recursive: true })
  for (const [path, text] of Object.entries(TABLE_FUNCTIONS)) await writeFile(join(table, path), text)
  await writeFile(join(table, 'centrali.json'), JSON.stringify(TABLE_CONFIG, null, 2))
  const workers: Record<string, { dir: string; secrets: Record<string, string> }> = {
    table: { dir: await emitWorker(table), secrets: { TABLE_KEY: SECRETS.TABLE_KEY } },
  }
  for (const [template, secret] of [
    ['generic', 'API_KEY'],
    ['openai', 'OPENAI_API_KEY'],
    ['stripe', 'STRIPE_SECRET_KEY'],
  ] as const) {
    workers[template] = {
      dir: await emitWorker(await scaffold(template)),
      secrets: { [secret]: SECRETS[secret] },
    }
  }

  // One workerd, one socket per Worker (embed paths are relative to the config file); secrets as text bindings, as Worker secrets arrive.
  const services: string[] = []
  const sockets: string[] = []
  const definitions: string[] = []
  for (const [name, worker] of Object.entries(workers)) {
    const port = await freePort()
    bases[name] = `http://127.0.0.1:${port}`
    services.push(`(name = "${name}", worker = .${name}Worker)`)
    sockets.push(`(name = "${name}", address = "127.0.0.1:${port}", http = (), service = "${name}")`)
    const bindings = Object.entries(worker.secrets)
      .map(([key, value]) => `(name = "${key}", text = "${value}")`)
      .join(', ')
    definitions.push(`const ${name}Worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "${relative(sandbox.dir, join(worker.dir, 'worker.js'))}") ],
  compatibilityDate = "2025-09-01",
  globalOutbound = "upstream",
  bindings = [ ${bindings} ],
);`)
  }
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ ${services.join(', ')},
    (name = "upstream", external = (address = "127.0.0.1:${upstreamPort}", http = ())) ],
  sockets = [ ${sockets.join(', ')} ],
);
${definitions.join('\n')}
`
  const configPath = join(sandbox.dir, 'workerd.capnp')
  await writeFile(configPath, config)
  workerd = execa(WORKERD, ['serve', configPath], { reject: false, cleanup: true })
  const deadline = Date.now() + 20_000
  for (const base of Object.values(bases)) {
    for (;;) {
      const ok = await fetch(`${base}/healthz`).then(
        (response) => response.ok,
        () => false,
      )
      if (ok) break
      if (Date.now() > deadline || workerd.exitCode !== null) {
        throw new Error(`workerd did not start: ${String((await workerd).stderr)}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}, T)

afterAll(async () => {
  if (workerd && workerd.exitCode === null) workerd.kill('SIGKILL')
  await workerd?.catch(() => undefined)
  await new Promise((resolve) => upstream?.close(resolve))
  await sandbox?.cleanup()
})

async function post(
  worker: string,
  trigger: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number
  headers: Headers
  json: { error?: { code: string; message: string } } & Record<string, unknown>
}> {
  const response = await fetch(`${bases[worker]}/endpoints/${trigger}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, headers: response.headers, json: text === '' ? {} : JSON.parse(text) }
}

describe('the emitted Worker in workerd', () => {
  it('runs a function with the contract globals and fresh module state per request', async () => {
    for (let i = 0; i < 2; i++) {
      const { status, headers, json } = await post('table', 'echo', { payload: { n: i } })
      expect(status).toBe(200)
      expect(headers.get('x-request-id')).toMatch(REQUEST_ID)
      expect(json).toEqual({
        payload: { n: i },
        method: 'POST',
        requestId: headers.get('x-request-id'),
        region: 'eu',
        hasKey: true,
        loads: 1,
        frozen: true,
        absent: ['undefined', 'undefined', 'undefined', 'undefined', 'undefined'],
        present: ['function', 'function', 'function', 'function', 'function'],
      })
    }
  })

  it('answers errors with the codes of the HTTP contract', async () => {
    const notFound = await post('table', 'nope', { payload: 1 })
    expect([notFound.status, notFound.json.error?.code]).toEqual([404, 'TRIGGER_NOT_FOUND'])
    expect(notFound.json.error?.message).not.toMatch(/echo/)

    const badJson = await post('table', 'echo', '{not json')
    expect([badJson.status, badJson.json.error?.code]).toEqual([400, 'BAD_JSON'])

    const tooLarge = await post('table', 'echo', JSON.stringify({ payload: 'x'.repeat(1024 * 1024) }))
    expect([tooLarge.status, tooLarge.json.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE'])

    const failed = await post('table', 'fail', { payload: 'why' })
    expect(failed.status).toBe(500)
    expect(failed.json.error).toEqual({ code: 'FUNCTION_ERROR', message: 'boom: why' })

    const started = Date.now()
    const hung = await post('table', 'hang', { payload: null })
    expect([hung.status, hung.json.error?.code]).toEqual([504, 'FUNCTION_TIMEOUT'])
    expect(Date.now() - started).toBeLessThan(5_000)

    const health = await fetch(`${bases.table}/healthz`)
    expect(health.status).toBe(200)
    expect(health.headers.get('x-request-id')).toMatch(REQUEST_ID)
  })

  it('blocks a domain that is not allowed, before any byte is sent', async () => {
    const before = seen.length
    const blocked = await post('table', 'blocked', { payload: null })
    expect(blocked.status).toBe(502)
    expect(blocked.json.error?.code).toBe('EGRESS_HOST_DENIED')
    expect(blocked.json.error?.message).toContain('centrali domains add evil.example.net')
    expect(seen.slice(before)).toEqual([])
  })

  it('gives api the same semantics as dev: JSON and text bodies, HttpError, request(), redirects', async () => {
    const before = seen.length
    const { status, json } = await post('table', 'upstream', { payload: null })
    expect(status, JSON.stringify(json)).toBe(200)
    expect(json.got).toEqual({ ok: true, path: '/echo' })
    expect(json.text).toBe('plain text')
    expect(json.httpError).toMatchObject({
      name: 'HttpError',
      status: 404,
      body: { error: { message: 'no such thing' } },
    })
    expect(json.rawStatus).toBe(404)
    // A redirect to a host that is not allowed is checked again and blocked.
    expect(json.redirect).toEqual({ name: 'EgressBlockedError', code: 'EGRESS_HOST_DENIED' })
    expect(json.scheme).toBe('EGRESS_SCHEME_DENIED')
    const calls = seen.slice(before)
    expect(calls[0]).toMatchObject({ method: 'POST', url: '/echo', host: 'api.example.com', body: '{"a":1}' })
    expect(calls[0]!.headers['content-type']).toBe('application/json')
    expect(calls[0]!.headers['x-k']).toBe('v')
    expect(calls.every((call) => call.host === 'api.example.com')).toBe(true)
  })

  it('never returns a secret value in a response', async () => {
    const { status, json } = await post('table', 'leak', { payload: null })
    expect(status).toBe(200)
    expect(json).toEqual({ key: '[redacted:TABLE_KEY]' })
  })

  it('puts CORS headers on results, errors and preflights', async () => {
    const origin = { origin: 'http://localhost:5173' }
    const ok = await post('table', 'echo', { payload: 1 }, origin)
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    const failed = await post('table', 'fail', { payload: 1 }, origin)
    expect(failed.status).toBe(500)
    expect(failed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173')
    const preflight = await fetch(`${bases.table}/endpoints/echo`, {
      method: 'OPTIONS',
      headers: { ...origin, 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS')
    expect(preflight.headers.get('x-request-id')).toMatch(REQUEST_ID)
    const other = await post('table', 'echo', { payload: 1 }, { origin: 'https://evil.example.net' })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
    // As in dev and serve: a browser's request from another site that the trigger does not allow
    // is refused unrun; the same origin from a page that says it is its own site runs.
    const fromEvil = (site: string) =>
      post('table', 'echo', { payload: 1 }, { origin: 'https://evil.example.net', 'sec-fetch-site': site })
    const crossSite = await fromEvil('cross-site')
    expect(crossSite.status).toBe(403)
    expect(crossSite.json.error?.code).toBe('ORIGIN_NOT_ALLOWED')
    expect(crossSite.headers.get('access-control-allow-origin')).toBeNull()
    const sameOrigin = await fromEvil('same-origin')
    expect(sameOrigin.status).toBe(200)
  })

  it('runs the openai template with its key from a Worker secret', async () => {
    const before = seen.length
    const { status, json } = await post('openai', 'openai-chat', {
      payload: { messages: [{ role: 'user', content: 'Say hello' }] },
    })
    expect(status).toBe(200)
    expect(json).toEqual({ success: true, data: { choices: [{ message: { content: 'hi' } }] } })
    const call = seen.slice(before)[0]!
    expect(call).toMatchObject({ method: 'POST', url: '/v1/chat/completions', host: 'api.openai.com' })
    expect(call.headers.authorization).toBe(`Bearer ${SECRETS.OPENAI_API_KEY}`)
    expect(JSON.parse(call.body)).toMatchObject({ model: 'gpt-4o-mini' })
  })

  it('runs the stripe template with a form body and Basic auth', async () => {
    const before = seen.length
    const { status, json } = await post('stripe', 'create-checkout', {
      payload: { priceId: 'price_123', quantity: 2 },
    })
    expect(status).toBe(200)
    expect(json).toEqual({
      success: true,
      data: { url: 'https://checkout.stripe.com/c/pay/cs_test_1', id: 'cs_test_1' },
    })
    const call = seen.slice(before)[0]!
    expect(call).toMatchObject({ method: 'POST', url: '/v1/checkout/sessions', host: 'api.stripe.com' })
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(call.headers.authorization).toBe(`Basic ${btoa(`${SECRETS.STRIPE_SECRET_KEY}:`)}`)
    expect(new URLSearchParams(call.body).get('line_items[0][quantity]')).toBe('2')
  })

  it('runs the generic template through api.request', async () => {
    const before = seen.length
    const { status, json } = await post('generic', 'api-proxy', {
      payload: { path: '/v1/data', body: { hello: 'world' } },
    })
    expect(status).toBe(200)
    expect(json).toEqual({ success: true, data: { ok: true, path: '/v1/data' } })
    const call = seen.slice(before)[0]!
    expect(call).toMatchObject({
      method: 'POST',
      url: '/v1/data',
      host: 'api.example.com',
      body: '{"hello":"world"}',
    })
    expect(call.headers.authorization).toBe(`Bearer ${SECRETS.API_KEY}`)

    const missing = await post('generic', 'api-proxy', { payload: { path: '/missing' } })
    expect(missing.json).toMatchObject({ success: false, status: 404 })
  })
})

describe('deploy to cloudflare with wrangler', () => {
  it(
    'runs wrangler deploy, then secret bulk with the values on stdin only',
    async () => {
      const app = await scaffold('openai', 'deploy-openai')
      const set = await sandbox.run(['secrets', 'set', 'OPENAI_API_KEY'], {
        cwd: app,
        input: SECRETS.OPENAI_API_KEY,
      })
      expect(set.exitCode, set.stderr).toBe(0)

      const bin = join(sandbox.dir, 'stand-in-bin')
      await mkdir(bin, { recursive: true })
      const record = join(sandbox.dir, 'wrangler-calls.jsonl')
      await writeFile(
        join(bin, 'wrangler'),
        `#!${process.execPath}
const { appendFileSync } = require('node:fs')
let stdin = ''
process.stdin.on('data', (chunk) => (stdin += chunk))
process.stdin.on('end', () => {
  appendFileSync(${JSON.stringify(record)}, JSON.stringify({
    args: process.argv.slice(2),
    cwd: process.cwd(),
    token: process.env.CLOUDFLARE_API_TOKEN,
    account: process.env.CLOUDFLARE_ACCOUNT_ID,
    centrali: Object.keys(process.env).filter((name) => name.startsWith('CENTRALI_')),
    stdin,
  }) + '\\n')
  if (process.argv[2] === 'deploy') console.log('Deployed openai-worker\\n  https://openai-worker.example.workers.dev')
})
`,
      )
      await chmod(join(bin, 'wrangler'), 0o755)
      const config = JSON.parse(await readFile(join(app, 'centrali.json'), 'utf8')) as {
        targets: Record<string, Record<string, unknown>>
      }
      config.targets.cf!.accountIdEnv = 'MY_CF_ACCOUNT'
      await writeFile(join(app, 'centrali.json'), JSON.stringify(config, null, 2))

      const env = {
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        CLOUDFLARE_API_TOKEN: 'cf-token-for-test',
        MY_CF_ACCOUNT: 'account-123',
        // centrali's own keys, which wrangler is never to see.
        CENTRALI_RUNTIME_TOKEN: 'a-runtime-token-of-enough-length-000000',
        CENTRALI_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      }
      const result = await sandbox.run(['deploy', '--target', 'cf', '--yes', '--json'], { cwd: app, env })
      expect(result.exitCode, result.stderr).toBe(0)
      const output = result.json<{ secretsSent: string[]; url: string; endpoints: { url: string }[] }>()
      expect(output.secretsSent).toEqual(['OPENAI_API_KEY'])
      expect(output.url).toBe('https://openai-worker.example.workers.dev')
      expect(output.endpoints).toEqual([
        { trigger: 'openai-chat', url: 'https://openai-worker.example.workers.dev/endpoints/openai-chat' },
      ])

      const calls = (await readFile(record, 'utf8'))
        .trim()
        .split('\n')
        .map(
          (line) =>
            JSON.parse(line) as {
              args: string[]
              cwd: string
              token: string
              account: string
              centrali: string[]
              stdin: string
            },
        )
      expect(calls.map((call) => call.centrali)).toEqual([[], []])
      expect(calls.map((call) => call.args)).toEqual([
        ['deploy', '--config', 'wrangler.jsonc'],
        ['secret', 'bulk', '--config', 'wrangler.jsonc'],
      ])
      const deployDir = join(app, '.centrali', 'deploy', 'cf')
      for (const call of calls) {
        expect(call.cwd).toBe(deployDir)
        expect(call.token).toBe('cf-token-for-test')
        expect(call.account).toBe('account-123')
      }
      expect(JSON.parse(calls[1]!.stdin)).toEqual({ OPENAI_API_KEY: SECRETS.OPENAI_API_KEY })

      // The value is nowhere but that stdin: not in arguments, output, nor any file left behind.
      const forms = [
        SECRETS.OPENAI_API_KEY,
        Buffer.from(SECRETS.OPENAI_API_KEY).toString('base64'),
        Buffer.from(SECRETS.OPENAI_API_KEY).toString('hex'),
      ]
      const files = await readdir(deployDir, { recursive: true })
      expect(files.sort()).toEqual(['manifest.json', 'worker.js', 'wrangler.jsonc'])
      for (const form of forms) {
        for (const call of calls) expect(call.args.join(' ')).not.toContain(form)
        expect(result.stdout + result.stderr).not.toContain(form)
        for (const file of files) expect(await readFile(join(deployDir, file), 'utf8')).not.toContain(form)
      }
      const wrangler = await readFile(join(deployDir, 'wrangler.jsonc'), 'utf8')
      expect(wrangler).toContain('"name": "openai-worker"')
      expect(wrangler).toContain('"main": "worker.js"')
    },
    T,
  )

  it('says how to install wrangler when it is missing, and needs the API token', async () => {
    const app = await scaffold('generic', 'deploy-generic')
    await sandbox.run(['secrets', 'set', 'API_KEY'], { cwd: app, input: SECRETS.API_KEY })
    const emptyBin = join(sandbox.dir, 'empty-bin')
    await mkdir(emptyBin, { recursive: true })
    const noToken = await sandbox.run(['deploy', '--target', 'cf', '--yes', '--json'], {
      cwd: app,
      env: { PATH: emptyBin, CLOUDFLARE_API_TOKEN: undefined },
    })
    expect(noToken.exitCode).toBe(1)
    expect(noToken.json<{ error: { code: string } }>().error.code).toBe('CLOUDFLARE_TOKEN_MISSING')

    const noWrangler = await sandbox.run(['deploy', '--target', 'cf', '--yes', '--json'], {
      cwd: app,
      env: { PATH: emptyBin, CLOUDFLARE_API_TOKEN: 'x' },
    })
    expect(noWrangler.exitCode).toBe(1)
    const error = noWrangler.json<{ error: { code: string; hint: string } }>().error
    expect(error.code).toBe('WRANGLER_NOT_FOUND')
    expect(error.hint).toContain('npm i -D wrangler')
  })
})
