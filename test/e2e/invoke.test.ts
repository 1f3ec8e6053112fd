import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, type CliResult, type RunOptions, type Sandbox } from '../helpers/cli.js'

/**
 * `centrali invoke` end to end: the built CLI in a temp project, calling a real HTTP server on
 * 127.0.0.1 that stands in for the provider (reached through `--map host=origin`).
 */

// The platform's recipes, character for character as issue 3 gives them (only the TypeScript
// template literal escapes \` and \${ differ from the file content).
const GENERIC_RECIPE = `async function run() {
const { path, body } = executionParams.payload || {};
const apiKey = triggerParams.apiKey;
if (!apiKey) {
return { success: false, error: 'API key not configured' };
}
try {
const response = await api.httpPost(
\`https://api.example.com\${path || '/v1/data'}\`,
body || {},
{
headers: {
'Authorization': \`Bearer \${apiKey}\`,
'Content-Type': 'application/json',
},
}
);
return { success: true, data: response };
} catch (error) {
api.log({ error: error.message, path });
return { success: false, error: error.message };
}
}
`

const OPENAI_RECIPE = `async function run() {
const apiKey = triggerParams.openaiKey;
const { messages, model } = executionParams.payload || {};
const response = await api.httpPost(
'https://api.openai.com/v1/chat/completions',
{ model: model || 'gpt-4', messages },
{ headers: { 'Authorization': \`Bearer \${apiKey}\` } }
);
return { success: true, data: response };
}
`

const STRIPE_RECIPE = `async function run() {
const secretKey = triggerParams.stripeSecretKey;
const { priceId, successUrl, cancelUrl } = executionParams.payload || {};
const response = await api.httpPost(
'https://api.stripe.com/v1/checkout/sessions',
new URLSearchParams({
'line_items[0][price]': priceId,
'line_items[0][quantity]': '1',
'mode': 'payment',
'success_url': successUrl,
'cancel_url': cancelUrl,
}).toString(),
{
headers: {
'Authorization': \`Basic \${btoa(secretKey + ':')}\`,
'Content-Type': 'application/x-www-form-urlencoded',
},
}
);
return { success: true, data: { url: response.url, id: response.id } };
}
`

// ---------------------------------------------------------------------------------------------
// A fake provider: a real HTTP server that records every request and connection.

interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

interface Reply {
  status?: number
  json?: unknown
  /** Never answer (the request is recorded, the connection stays open). */
  hang?: boolean
}

interface Provider {
  origin: string
  requests: SeenRequest[]
  readonly connections: number
  close(): Promise<void>
}

let providers: Provider[] = []

async function startProvider(
  reply: (request: SeenRequest) => Reply = () => ({ json: {} }),
): Promise<Provider> {
  const requests: SeenRequest[] = []
  let connections = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const seen: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(seen)
      const answer = reply(seen)
      if (answer.hang) return
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(answer.json ?? {}))
    })
  })
  server.on('connection', () => {
    connections += 1
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const provider: Provider = {
    origin: `http://127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  providers.push(provider)
  return provider
}

// ---------------------------------------------------------------------------------------------
// The project under test.

let sandbox: Sandbox
let app: string

beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
})
afterEach(async () => {
  await Promise.all(providers.map((provider) => provider.close()))
  providers = []
  await sandbox.cleanup()
})

interface ProjectSpec {
  /** Function name → [entry file, code]. */
  functions: Record<string, [string, string]>
  /** Trigger name → function name and extra trigger settings. */
  triggers: Record<string, { function: string } & Record<string, unknown>>
  domains?: string[]
  dev?: Record<string, unknown>
}

async function writeProject(spec: ProjectSpec): Promise<void> {
  const functions: Record<string, { entry: string }> = {}
  for (const [name, [entry, code]] of Object.entries(spec.functions)) {
    await writeFile(join(app, entry), code)
    functions[name] = { entry }
  }
  const triggers = Object.fromEntries(
    Object.entries(spec.triggers).map(([name, trigger]) => [name, { type: 'endpoint', ...trigger }]),
  )
  const config = { functions, triggers, domains: spec.domains ?? [], ...(spec.dev ? { dev: spec.dev } : {}) }
  await writeFile(join(app, 'centrali.json'), `${JSON.stringify(config, null, 2)}\n`)
}

async function setSecret(name: string, value: string, cwd = app): Promise<void> {
  const result = await sandbox.run(['secrets', 'set', name], { cwd, input: value })
  expect(result.exitCode, result.stderr).toBe(0)
}

function invoke(trigger: string, args: readonly string[] = [], options: Partial<RunOptions> = {}) {
  return sandbox.run(['invoke', trigger, ...args], { cwd: app, ...options })
}

const map = (host: string, provider: Provider) => ['--map', `${host}=${provider.origin}`]

/** stdout parsed, with the stderr shown when it is not JSON or the exit code is unexpected. */
function resultOf<T = Record<string, unknown>>(result: CliResult, exitCode = 0): T {
  expect(result.exitCode, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(exitCode)
  return result.json<T>()
}

/** Every form a secret value takes on its way out. */
function secretForms(value: string): string[] {
  const base64 = Buffer.from(value, 'utf8').toString('base64')
  return [
    value,
    base64,
    base64.replace(/=+$/, ''),
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1),
    JSON.stringify(JSON.stringify(value)).slice(1, -1),
  ]
}

function expectNoLeak(result: CliResult, value: string): void {
  for (const form of secretForms(value)) {
    expect(result.stdout, `stdout contains ${form}`).not.toContain(form)
    expect(result.stderr, `stderr contains ${form}`).not.toContain(form)
  }
}

const T = 15_000

// ---------------------------------------------------------------------------------------------

describe('the platform recipes run unmodified', () => {
  const API_KEY = 'example-key-0123456789abcdef'
  const OPENAI_KEY = 'sk-proj-openai-0123456789abcdef'
  const STRIPE_KEY = 'sk_test_stripe0123456789abcdef'

  it(
    'generic: POST with a bearer token and a JSON body, to the payload path or /v1/data',
    async () => {
      const provider = await startProvider(() => ({ json: { id: 'item_1', created: true } }))
      await writeProject({
        functions: { generic: ['functions/generic.js', GENERIC_RECIPE] },
        triggers: { 'api-proxy': { function: 'generic', params: { apiKey: { secret: 'API_KEY' } } } },
        domains: ['api.example.com'],
      })
      await setSecret('API_KEY', API_KEY)

      const first = await invoke('api-proxy', [
        '--payload',
        JSON.stringify({ path: '/v1/items', body: { name: 'widget', count: 2 } }),
        ...map('api.example.com', provider),
      ])
      expect(resultOf(first)).toEqual({ success: true, data: { id: 'item_1', created: true } })
      expectNoLeak(first, API_KEY)
      expect(first.stderr).not.toContain('redacted')

      const second = await invoke('api-proxy', map('api.example.com', provider))
      expect(resultOf(second)).toEqual({ success: true, data: { id: 'item_1', created: true } })

      expect(provider.requests).toHaveLength(2)
      const [items, data] = provider.requests
      expect(items).toMatchObject({ method: 'POST', url: '/v1/items' })
      expect(items!.headers).toMatchObject({
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        host: 'api.example.com',
      })
      expect(JSON.parse(items!.body)).toEqual({ name: 'widget', count: 2 })
      expect(data).toMatchObject({ method: 'POST', url: '/v1/data' })
      expect(data!.headers).toMatchObject({ authorization: `Bearer ${API_KEY}`, host: 'api.example.com' })
      expect(JSON.parse(data!.body)).toEqual({})
    },
    T,
  )

  it(
    'generic: dev.map in centrali.json sends the call to the local origin as well',
    async () => {
      const provider = await startProvider(() => ({ json: { via: 'dev.map' } }))
      await writeProject({
        functions: { generic: ['functions/generic.js', GENERIC_RECIPE] },
        triggers: { 'api-proxy': { function: 'generic', params: { apiKey: { secret: 'API_KEY' } } } },
        domains: ['api.example.com'],
        dev: { map: { 'api.example.com': provider.origin } },
      })
      await setSecret('API_KEY', API_KEY)
      const result = await invoke('api-proxy', ['--payload', '{"path":"/v1/ping"}'])
      expect(resultOf(result)).toEqual({ success: true, data: { via: 'dev.map' } })
      expect(provider.requests.map((request) => [request.method, request.url, request.headers.host])).toEqual(
        [['POST', '/v1/ping', 'api.example.com']],
      )
    },
    T,
  )

  it(
    'openai: POST /v1/chat/completions with a bearer token, JSON { model, messages }, model gpt-4 by default',
    async () => {
      const completion = {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
      }
      const provider = await startProvider(() => ({ json: completion }))
      await writeProject({
        functions: { openai: ['functions/openai.js', OPENAI_RECIPE] },
        triggers: {
          'openai-chat': { function: 'openai', params: { openaiKey: { secret: 'OPENAI_API_KEY' } } },
        },
        domains: ['api.openai.com'],
      })
      await setSecret('OPENAI_API_KEY', OPENAI_KEY)
      const messages = [{ role: 'user', content: 'Say hello' }]

      const first = await invoke('openai-chat', [
        '--payload',
        JSON.stringify({ messages }),
        ...map('api.openai.com', provider),
      ])
      expect(resultOf(first)).toEqual({ success: true, data: completion })
      expectNoLeak(first, OPENAI_KEY)
      const second = await invoke('openai-chat', [
        '--payload',
        JSON.stringify({ messages, model: 'gpt-4o-mini' }),
        ...map('api.openai.com', provider),
      ])
      expect(resultOf(second)).toEqual({ success: true, data: completion })

      expect(provider.requests).toHaveLength(2)
      for (const request of provider.requests) {
        expect(request).toMatchObject({ method: 'POST', url: '/v1/chat/completions' })
        expect(request.headers).toMatchObject({
          authorization: `Bearer ${OPENAI_KEY}`,
          host: 'api.openai.com',
        })
        expect(request.headers['content-type']).toMatch(/^application\/json\b/)
      }
      expect(JSON.parse(provider.requests[0]!.body)).toEqual({ model: 'gpt-4', messages })
      expect(JSON.parse(provider.requests[1]!.body)).toEqual({ model: 'gpt-4o-mini', messages })
    },
    T,
  )

  it(
    'stripe: POST /v1/checkout/sessions with Basic auth and a form-encoded body',
    async () => {
      const session = {
        id: 'cs_test_a1',
        object: 'checkout.session',
        url: 'https://checkout.stripe.com/c/pay/cs_test_a1',
        amount_total: 2000,
      }
      const provider = await startProvider(() => ({ json: session }))
      await writeProject({
        functions: { stripe: ['functions/stripe.js', STRIPE_RECIPE] },
        triggers: {
          'create-checkout': {
            function: 'stripe',
            params: { stripeSecretKey: { secret: 'STRIPE_SECRET_KEY' } },
          },
        },
        domains: ['api.stripe.com'],
      })
      await setSecret('STRIPE_SECRET_KEY', STRIPE_KEY)
      const payload = {
        priceId: 'price_123',
        successUrl: 'https://shop.example/success?session={CHECKOUT_SESSION_ID}',
        cancelUrl: 'https://shop.example/cancel',
      }

      const result = await invoke('create-checkout', [
        '--payload',
        JSON.stringify(payload),
        ...map('api.stripe.com', provider),
      ])
      expect(resultOf(result)).toEqual({ success: true, data: { url: session.url, id: session.id } })
      expectNoLeak(result, STRIPE_KEY)

      expect(provider.requests).toHaveLength(1)
      const request = provider.requests[0]!
      expect(request).toMatchObject({ method: 'POST', url: '/v1/checkout/sessions' })
      expect(request.headers).toMatchObject({
        authorization: `Basic ${Buffer.from(`${STRIPE_KEY}:`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        host: 'api.stripe.com',
      })
      const form = {
        'line_items[0][price]': 'price_123',
        'line_items[0][quantity]': '1',
        mode: 'payment',
        success_url: payload.successUrl,
        cancel_url: payload.cancelUrl,
      }
      expect(request.body).toBe(new URLSearchParams(form).toString())
      expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual(form)
    },
    T,
  )

  it(
    'generic with its domain not allowed: the recipe reports the block and the fix; nothing is sent',
    async () => {
      const provider = await startProvider(() => ({ json: { id: 'must-not-happen' } }))
      await writeProject({
        functions: { generic: ['functions/generic.js', GENERIC_RECIPE] },
        triggers: { 'api-proxy': { function: 'generic', params: { apiKey: { secret: 'API_KEY' } } } },
        domains: [],
      })
      await setSecret('API_KEY', API_KEY)
      const result = await invoke('api-proxy', [
        '--payload',
        '{"path":"/v1/items"}',
        ...map('api.example.com', provider),
      ])
      const output = resultOf<{ success: boolean; error: string }>(result)
      expect(output.success).toBe(false)
      expect(output.error).toContain('api.example.com')
      expect(output.error).toContain('centrali domains add api.example.com')
      expect(provider.connections).toBe(0)
      expect(provider.requests).toHaveLength(0)
      // The recipe's api.log record, and the blocked call, on stderr.
      expect(result.stderr).toMatch(/log: \{"error":"[^\n]*api\.example\.com[^\n]*","path":"\/v1\/items"\}/)
      expect(result.stderr).toContain('EGRESS_HOST_DENIED')
      expectNoLeak(result, API_KEY)
    },
    T,
  )

  it(
    'generic with no apiKey param returns its own "API key not configured" and calls nothing',
    async () => {
      const provider = await startProvider()
      await writeProject({
        functions: { generic: ['functions/generic.js', GENERIC_RECIPE] },
        triggers: { 'api-proxy': { function: 'generic' } },
        domains: ['api.example.com'],
      })
      const result = await invoke('api-proxy', ['--payload', '{}', ...map('api.example.com', provider)])
      expect(resultOf(result)).toEqual({ success: false, error: 'API key not configured' })
      expect(provider.connections).toBe(0)
    },
    T,
  )
})

describe('the built-in templates', () => {
  const cases = [
    {
      template: 'openai',
      trigger: 'openai-chat',
      secret: 'OPENAI_API_KEY',
      host: 'api.openai.com',
      path: '/v1/chat/completions',
      payload: { messages: [{ role: 'user', content: 'Say hello' }] },
      reply: { id: 'chatcmpl-9', choices: [{ message: { role: 'assistant', content: 'Hi' } }] },
      failure: 'bad key',
    },
    {
      template: 'stripe',
      trigger: 'create-checkout',
      secret: 'STRIPE_SECRET_KEY',
      host: 'api.stripe.com',
      path: '/v1/checkout/sessions',
      payload: { priceId: 'price_123', quantity: 2 },
      reply: { id: 'cs_test_9', url: 'https://checkout.stripe.com/c/pay/cs_test_9' },
      failure: 'bad key',
    },
    {
      template: 'generic',
      trigger: 'api-proxy',
      secret: 'API_KEY',
      host: 'api.example.com',
      path: '/v1/data',
      payload: { path: '/v1/data', body: { hello: 'world' } },
      reply: { stored: true },
      failure: 'upstream answered 401',
    },
  ]

  it.each(cases)(
    '$template: succeeds against the provider, and a 401 is success: false',
    async ({ template, trigger, secret, host, path, payload, reply, failure }) => {
      let status = 200
      const provider = await startProvider(() =>
        status === 200 ? { json: reply } : { status, json: { error: { message: 'bad key' } } },
      )
      const init = await sandbox.run(['init', 'x', '--template', template, '--yes'])
      expect(init.exitCode, init.stderr).toBe(0)
      const project = join(sandbox.dir, 'x')
      const key = `${template}-template-key-0123456789`
      await setSecret(secret, key, project)
      const args = ['--payload', JSON.stringify(payload), ...map(host, provider)]

      const ok = await invoke(trigger, args, { cwd: project })
      const okResult = resultOf<{ success: boolean; data: unknown }>(ok)
      expect(okResult.success).toBe(true)
      expect(okResult.data).toMatchObject(template === 'stripe' ? { id: 'cs_test_9' } : reply)
      expect(provider.requests).toHaveLength(1)
      expect(provider.requests[0]).toMatchObject({ method: 'POST', url: path })
      expect(provider.requests[0]!.headers.host).toBe(host)
      expect(provider.requests[0]!.headers.authorization).toBe(
        template === 'stripe' ? `Basic ${Buffer.from(`${key}:`).toString('base64')}` : `Bearer ${key}`,
      )
      expectNoLeak(ok, key)

      status = 401
      const denied = await invoke(trigger, args, { cwd: project })
      const deniedResult = resultOf<{ success: boolean; status?: number; error?: string }>(denied)
      expect(deniedResult.success).toBe(false)
      expect(deniedResult).toMatchObject({ status: 401, error: failure })
      expect(denied.stderr).toContain('"upstreamStatus":401')
      expect(provider.requests).toHaveLength(2)
      expectNoLeak(denied, key)
    },
    T,
  )
})

describe('payloads and output', () => {
  const ECHO = `async function run() {
  return { payload: executionParams.payload, method: executionParams.method }
}
`
  beforeEach(async () => {
    await writeProject({
      functions: { echo: ['functions/echo.js', ECHO] },
      triggers: {
        echo: { function: 'echo' },
        'echo-example': { function: 'echo', examplePayload: { from: 'the example' } },
      },
    })
  })

  it(
    "no payload given sends the trigger's examplePayload and says so; a payload given, even null, wins",
    async () => {
      const fromExample = await invoke('echo-example', [], { input: '' })
      expect(resultOf(fromExample)).toMatchObject({ payload: { from: 'the example' } })
      expect(fromExample.stderr).toContain('payload: the examplePayload of echo-example in centrali.json')
      expect(
        (await invoke('echo-example', ['--json'], { input: '' })).json<Record<string, unknown>>(),
      ).toMatchObject({ ok: true, examplePayload: true, result: { payload: { from: 'the example' } } })

      const given = await invoke('echo-example', ['--payload', 'null'])
      expect(resultOf(given)).toMatchObject({ payload: null })
      expect(given.stderr).not.toContain('examplePayload')
      const piped = await invoke('echo-example', ['--json'], { input: '{"from":"stdin"}' })
      expect(piped.json<Record<string, unknown>>()).not.toHaveProperty('examplePayload')
      expect(piped.json<Record<string, unknown>>()).toMatchObject({ result: { payload: { from: 'stdin' } } })
    },
    T,
  )

  it(
    'an examplePayload over 1 MiB, sent because no payload was given, is named as such in the error',
    async () => {
      await writeProject({
        functions: { echo: ['functions/echo.js', ECHO] },
        triggers: { big: { function: 'echo', examplePayload: { text: 'x'.repeat(1024 * 1024) } } },
      })
      const error = (await invoke('big', ['--json'], { input: '' })).json<{
        error: { code: string; message: string; hint?: string }
      }>().error
      expect(error.code).toBe('PAYLOAD_TOO_LARGE')
      expect(error.message).toContain('The examplePayload of big in centrali.json is 1048587 bytes')
      expect(error.hint).toContain('--payload')
    },
    T,
  )

  it(
    '--payload JSON, --payload @file.json, stdin, and nothing',
    async () => {
      expect(resultOf(await invoke('echo', ['--payload', '{"from":"flag","n":[1,2]}']))).toEqual({
        payload: { from: 'flag', n: [1, 2] },
        method: 'POST',
      })

      await mkdir(join(app, 'requests'))
      await writeFile(join(app, 'requests/req.json'), '{ "from": "file", "nested": { "ok": true } }\n')
      expect(resultOf(await invoke('echo', ['--payload', '@requests/req.json']))).toMatchObject({
        payload: { from: 'file', nested: { ok: true } },
      })
      // Relative to --cwd, not only to the process's folder.
      expect(
        resultOf(await invoke('echo', ['--cwd', app, '-p', '@requests/req.json'], { cwd: sandbox.dir })),
      ).toMatchObject({ payload: { from: 'file' } })

      expect(resultOf(await invoke('echo', [], { input: '{"from":"stdin"}\n' }))).toMatchObject({
        payload: { from: 'stdin' },
      })
      expect(resultOf(await invoke('echo', [], { input: '' }))).toMatchObject({ payload: null })
    },
    T,
  )

  it(
    'a payload that is not JSON is a usage error (exit 2) that says where it came from',
    async () => {
      const flag = await invoke('echo', ['--payload', '{from: flag}'])
      expect(flag.exitCode).toBe(2)
      expect(flag.stderr).toContain('PAYLOAD_INVALID')
      expect(flag.stderr).toMatch(/payload from --payload is not JSON/)
      expect(flag.stdout).toBe('')

      await writeFile(join(app, 'bad.json'), '{"unterminated": ')
      const file = await invoke('echo', ['--payload', '@bad.json'])
      expect(file.exitCode).toBe(2)
      expect(file.stderr).toMatch(/payload from bad\.json is not JSON/)

      const stdin = await invoke('echo', [], { input: 'not json' })
      expect(stdin.exitCode).toBe(2)
      expect(stdin.stderr).toMatch(/payload from stdin is not JSON/)

      const missing = await invoke('echo', ['--payload', '@nope.json'])
      expect(missing.exitCode).toBe(2)
      expect(missing.stderr).toContain('PAYLOAD_UNREADABLE')
      expect(missing.stderr).toContain('nope.json')

      const json = await invoke('echo', ['--json', '--payload', '[1,'])
      expect(json.exitCode).toBe(2)
      expect(json.json<{ error: { code: string } }>().error.code).toBe('PAYLOAD_INVALID')
    },
    T,
  )

  it(
    '--json: { ok, result, logs, calls, durationMs, trigger, requestId, redactions }',
    async () => {
      const provider = await startProvider((request) => ({ json: { received: JSON.parse(request.body) } }))
      await writeProject({
        functions: {
          call: [
            'functions/call.js',
            `async function run() {
  api.log({ got: executionParams.payload })
  const upstream = await api.httpPost('https://api.example.com/v1/echo?token=abc123', { seen: executionParams.payload })
  api.logError('second record')
  return { upstream, requestId: executionParams.requestId }
}
`,
          ],
        },
        triggers: { 'call-upstream': { function: 'call' } },
        domains: ['api.example.com'],
      })
      const result = await invoke('call-upstream', [
        '--json',
        '--payload',
        '{"q":"hi"}',
        ...map('api.example.com', provider),
      ])
      const output = resultOf<{
        ok: boolean
        result: { upstream: unknown; requestId: string }
        logs: { time: string; level: string; requestId: string; trigger: string; value: unknown }[]
        calls: { method: string; url: string; host: string; status: number; durationMs: number }[]
        durationMs: number
        trigger: string
        requestId: string
        redactions: unknown[]
      }>(result)
      expect(Object.keys(output).sort()).toEqual(
        ['calls', 'durationMs', 'logs', 'ok', 'redactions', 'requestId', 'result', 'trigger'].sort(),
      )
      expect(output.ok).toBe(true)
      expect(output.trigger).toBe('call-upstream')
      expect(output.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      expect(output.result).toEqual({
        upstream: { received: { seen: { q: 'hi' } } },
        requestId: output.requestId,
      })
      expect(output.durationMs).toBeTypeOf('number')
      expect(output.durationMs).toBeGreaterThanOrEqual(0)
      expect(output.redactions).toEqual([])

      expect(output.logs).toHaveLength(2)
      expect(output.logs[0]).toMatchObject({
        level: 'info',
        requestId: output.requestId,
        trigger: 'call-upstream',
        value: { got: { q: 'hi' } },
      })
      expect(output.logs[1]).toMatchObject({
        level: 'error',
        requestId: output.requestId,
        value: 'second record',
      })
      for (const record of output.logs) {
        expect(Object.keys(record).sort()).toEqual(['level', 'requestId', 'time', 'trigger', 'value'])
        expect(new Date(record.time).toISOString()).toBe(record.time)
      }

      expect(output.calls).toHaveLength(1)
      expect(output.calls[0]).toMatchObject({
        method: 'POST',
        url: 'https://api.example.com/v1/echo',
        host: 'api.example.com',
        status: 200,
      })
      expect(output.calls[0]!.durationMs).toBeTypeOf('number')
      // The query string reached the provider, but is not in the call record (it may carry keys).
      expect(provider.requests.map((request) => request.url)).toEqual(['/v1/echo?token=abc123'])
      expect(result.stdout).not.toContain('abc123')
    },
    T,
  )

  it(
    'human output: the result on stdout, logs and calls on stderr',
    async () => {
      const provider = await startProvider(() => ({ json: { pong: true } }))
      await writeProject({
        functions: {
          ping: [
            'functions/ping.js',
            `async function run() {
  api.log('about to ping')
  return await api.httpGet('https://api.example.com/v1/ping')
}
`,
          ],
        },
        triggers: { ping: { function: 'ping' } },
        domains: ['api.example.com'],
      })
      const result = await invoke('ping', map('api.example.com', provider))
      expect(resultOf(result)).toEqual({ pong: true })
      expect(result.stderr).toContain('log: about to ping')
      expect(result.stderr).toMatch(/→ GET https:\/\/api\.example\.com\/v1\/ping 200 \d+ ms/)
      expect(result.stdout).not.toContain('about to ping')
      expect(provider.requests.map((request) => [request.method, request.url])).toEqual([['GET', '/v1/ping']])
    },
    T,
  )

  it(
    'human output: what the function chose to print is shown with its control characters escaped',
    async () => {
      await writeProject({
        functions: {
          shout: [
            'functions/shout.js',
            `async function run() {
  const text = 'one\\n✔ forged line\\u001b[2J\\u202e'
  api.log(text)
  return { text }
}
`,
          ],
        },
        triggers: { shout: { function: 'shout' } },
      })
      const result = await invoke('shout')
      expect(result.exitCode).toBe(0)
      expect(result.stderr).toContain('log: one\\n✔ forged line\\u001b[2J\\u202e')
      expect(result.stderr.split('\n').filter((line) => line.startsWith('✔ forged'))).toEqual([])
      // The result stays JSON of the same value; only what a terminal would act on is escaped.
      expect(result.stdout).toContain('"text": "one\\n✔ forged line\\u001b[2J\\u202e"')
      expect(JSON.parse(result.stdout)).toEqual({ text: 'one\n✔ forged line\u001b[2J\u202e' })
      expect(result.stdout + result.stderr).not.toContain('\u001b')
      expect(result.stdout + result.stderr).not.toContain('\u202e')
    },
    T,
  )
})

describe('redaction', () => {
  // Characters that change under URL encoding, base64 that is not a plain prefix, a quote that
  // changes under JSON escaping.
  const SECRET = 'sk-live-a/b+c=d?e&f"g'
  const LEAKY = `async function run() {
  api.log(triggerParams.key)
  api.log(btoa(triggerParams.key))
  api.log('as json: ' + JSON.stringify({ key: triggerParams.key }))
  api.logError({ nested: [triggerParams.key] })
  return { k: triggerParams.key, enc: encodeURIComponent(triggerParams.key) }
}
`

  beforeEach(async () => {
    await writeProject({
      functions: { leaky: ['functions/leaky.js', LEAKY] },
      triggers: { leaky: { function: 'leaky', params: { key: { secret: 'LEAKY_SECRET' } } } },
    })
    await setSecret('LEAKY_SECRET', SECRET)
  })

  it(
    'no form of a secret value reaches stdout or stderr; [redacted:NAME] instead, and a warning says where',
    async () => {
      const result = await invoke('leaky')
      expect(resultOf(result)).toEqual({ k: '[redacted:LEAKY_SECRET]', enc: '[redacted:LEAKY_SECRET]' })
      expectNoLeak(result, SECRET)
      expect(result.stderr).toContain('log: [redacted:LEAKY_SECRET]')
      expect(result.stderr).toContain('log: as json: {"key":"[redacted:LEAKY_SECRET]"}')
      for (const where of ['result', 'logs[0]', 'logs[1]', 'logs[2]', 'logs[3]']) {
        expect(result.stderr).toContain(`warning the value of secret LEAKY_SECRET appeared in ${where}`)
      }
    },
    T,
  )

  it(
    '--json lists the redactions by name and place, never the value',
    async () => {
      const result = await invoke('leaky', ['--json'])
      const output = resultOf<{
        result: unknown
        logs: { value: unknown }[]
        redactions: { secret: string; where: string }[]
      }>(result)
      expectNoLeak(result, SECRET)
      expect(output.result).toEqual({ k: '[redacted:LEAKY_SECRET]', enc: '[redacted:LEAKY_SECRET]' })
      expect(output.logs.map((record) => record.value)).toEqual([
        '[redacted:LEAKY_SECRET]',
        '[redacted:LEAKY_SECRET]',
        'as json: {"key":"[redacted:LEAKY_SECRET]"}',
        { nested: ['[redacted:LEAKY_SECRET]'] },
      ])
      expect(output.redactions).toEqual(
        ['result', 'logs[0]', 'logs[1]', 'logs[2]', 'logs[3]'].map((where) => ({
          secret: 'LEAKY_SECRET',
          where,
        })),
      )
      // Warnings still reach stderr in --json mode.
      expect(result.stderr).toContain('appeared in result')
    },
    T,
  )

  it(
    'a thrown error message and a Basic auth header carrying the secret are redacted too',
    async () => {
      // 22 characters: base64(key + ':') does not start with base64(key) without its padding.
      const key = 'sk-live-a/b+c=d?e&f"gh'
      await setSecret('LEAKY_SECRET', key)
      await writeFile(
        join(app, 'functions/leaky.js'),
        `async function run() {
  api.log('Authorization: Basic ' + btoa(triggerParams.key + ':'))
  throw new Error('bad key ' + triggerParams.key)
}
`,
      )
      const result = await invoke('leaky')
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('FUNCTION_ERROR')
      expect(result.stderr).toContain('bad key [redacted:LEAKY_SECRET]')
      expectNoLeak(result, key)
      // The whole Basic credential (which decodes to the key) must not be printed either.
      expect(result.stderr).not.toContain(Buffer.from(`${key}:`).toString('base64').replace(/=+$/, ''))
      expect(result.stderr).toContain('Authorization: Basic [redacted:LEAKY_SECRET]')
    },
    T,
  )
})

describe('errors and exit codes', () => {
  it(
    'a thrown error: exit 1, FUNCTION_ERROR and where it was thrown on stderr; --json gives ok: false with the code and the stack',
    async () => {
      await writeProject({
        functions: {
          thrower: [
            'functions/thrower.ts',
            `function fail(why: string): never {\n  throw new Error(why)\n}\nexport async function run() {\n  fail('boom in run')\n}\n`,
          ],
        },
        triggers: { thrower: { function: 'thrower' } },
      })
      const stack = ['at fail (functions/thrower.ts:2:9)', 'at run (functions/thrower.ts:5:3)']
      const human = await invoke('thrower')
      expect(human.exitCode).toBe(1)
      expect(human.stderr).toMatch(
        /boom in run.*\[FUNCTION_ERROR\]\n {4}at fail \(functions\/thrower\.ts:2:9\)\n {4}at run /,
      )
      expect(human.stdout).toBe('')

      const json = await invoke('thrower', ['--json'])
      expect(json.exitCode).toBe(1)
      const output = json.json<{ ok: boolean; error: { code: string; message: string; stack: string[] } }>()
      expect(output.ok).toBe(false)
      expect(output.error).toEqual({ code: 'FUNCTION_ERROR', message: 'boom in run', status: 500, stack })
    },
    T,
  )

  it(
    'a timeout while waiting on a provider that never answers: exit 1, FUNCTION_TIMEOUT, promptly',
    async () => {
      const provider = await startProvider(() => ({ hang: true }))
      await writeProject({
        functions: {
          slow: [
            'functions/slow.js',
            `async function run() { return await api.httpGet('https://api.example.com/slow') }\n`,
          ],
        },
        triggers: { slow: { function: 'slow', timeoutMs: 500 } },
        domains: ['api.example.com'],
      })
      // The call's deadline is the invocation's: whichever timer fires first must not decide the
      // code, so try a few times.
      const codes: string[] = []
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const started = Date.now()
        const result = await invoke('slow', ['--json', ...map('api.example.com', provider)])
        expect(Date.now() - started).toBeLessThan(4_000)
        expect(result.exitCode).toBe(1)
        const output = result.json<{ ok: boolean; error: { code: string } }>()
        expect(output.ok).toBe(false)
        codes.push(output.error.code)
      }
      expect(provider.requests.map((request) => request.url)).toEqual(['/slow', '/slow', '/slow'])
      expect(codes).toEqual(['FUNCTION_TIMEOUT', 'FUNCTION_TIMEOUT', 'FUNCTION_TIMEOUT'])
    },
    T,
  )

  it(
    'a synchronous endless loop: exit 1, FUNCTION_TIMEOUT',
    async () => {
      await writeProject({
        functions: { spin: ['functions/spin.js', 'async function run() { while (true) {} }\n'] },
        triggers: { spin: { function: 'spin', timeoutMs: 500 } },
      })
      const started = Date.now()
      const result = await invoke('spin')
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('[FUNCTION_TIMEOUT]')
      expect(result.stderr).toContain('500 ms')
      expect(Date.now() - started).toBeLessThan(8_000)
    },
    T,
  )

  it(
    'an uncaught blocked call: exit 1 with its EGRESS_ code, the host and the fix; nothing is sent',
    async () => {
      const provider = await startProvider(() => ({ json: { stolen: true } }))
      await writeProject({
        functions: {
          other: [
            'functions/other.js',
            `async function run() { return await api.httpGet('https://evil.example.net/x') }\n`,
          ],
          local: [
            'functions/local.js',
            `async function run() { return await api.httpGet('${provider.origin}/x') }\n`,
          ],
        },
        triggers: { other: { function: 'other' }, local: { function: 'local' } },
        domains: ['api.example.com'],
      })
      const human = await invoke('other', map('evil.example.net', provider))
      expect(human.exitCode).toBe(1)
      expect(human.stderr).toContain('[EGRESS_HOST_DENIED]')
      expect(human.stderr).toContain('evil.example.net')
      expect(human.stderr).toContain('centrali domains add evil.example.net')
      expect(human.stdout).toBe('')

      const json = await invoke('other', ['--json', ...map('evil.example.net', provider)])
      expect(json.exitCode).toBe(1)
      expect(json.json<{ ok: boolean; error: { code: string } }>()).toMatchObject({
        ok: false,
        error: { code: 'EGRESS_HOST_DENIED' },
      })

      // The provider's own address, called directly, is not a way around the guard.
      const direct = await invoke('local')
      expect(direct.exitCode).toBe(1)
      expect(direct.stderr).toMatch(/\[EGRESS_[A-Z_]+\]/)
      expect(provider.connections).toBe(0)
    },
    T,
  )

  it(
    'an unknown trigger: exit 1, TRIGGER_NOT_FOUND listing the known ones',
    async () => {
      await writeProject({
        functions: { echo: ['functions/echo.js', 'async function run() { return 1 }\n'] },
        triggers: { alpha: { function: 'echo' }, beta: { function: 'echo' } },
      })
      const result = await invoke('gamma')
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('[TRIGGER_NOT_FOUND]')
      expect(result.stderr).toContain('gamma')
      expect(result.stderr).toContain('Known triggers: alpha, beta')
      // An inherited property name is not a trigger.
      const proto = await invoke('constructor')
      expect(proto.exitCode).toBe(1)
      expect(proto.stderr).toContain('[TRIGGER_NOT_FOUND]')
    },
    T,
  )

  it(
    'a secret that is not set: exit 1, SECRET_MISSING naming the trigger, the param and the command',
    async () => {
      const provider = await startProvider()
      await writeProject({
        functions: { generic: ['functions/generic.js', GENERIC_RECIPE] },
        triggers: { 'api-proxy': { function: 'generic', params: { apiKey: { secret: 'API_KEY' } } } },
        domains: ['api.example.com'],
      })
      const result = await invoke('api-proxy', map('api.example.com', provider))
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('[SECRET_MISSING]')
      expect(result.stderr).toContain('api-proxy')
      expect(result.stderr).toContain('apiKey')
      expect(result.stderr).toContain('centrali secrets set API_KEY')
      expect(provider.connections).toBe(0)
    },
    T,
  )

  it(
    'a tampered secrets store: exit 1, SECRET_TAMPERED naming the secret; the function does not run',
    async () => {
      const provider = await startProvider()
      await writeProject({
        functions: { generic: ['functions/generic.js', GENERIC_RECIPE] },
        triggers: { 'api-proxy': { function: 'generic', params: { apiKey: { secret: 'API_KEY' } } } },
        domains: ['api.example.com'],
      })
      const value = 'tamper-me-0123456789'
      await setSecret('API_KEY', value)
      const storePath = join(app, '.centrali/secrets.json')
      const store = JSON.parse(await readFile(storePath, 'utf8')) as {
        secrets: Record<string, { data: string }>
      }
      const data = Buffer.from(store.secrets.API_KEY!.data, 'base64')
      data[0] = data[0]! ^ 0x01
      store.secrets.API_KEY!.data = data.toString('base64')
      await writeFile(storePath, JSON.stringify(store, null, 2))

      const result = await invoke('api-proxy', map('api.example.com', provider))
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('[SECRET_TAMPERED]')
      expect(result.stderr).toContain('API_KEY')
      expectNoLeak(result, value)
      expect(provider.connections).toBe(0)
    },
    T,
  )

  it(
    'a syntax error: exit 1, BUILD_FAILED with file:line:column',
    async () => {
      await writeProject({
        functions: {
          broken: ['functions/broken.js', 'async function run() {\n  const x = 1\n  const = 5\n}\n'],
        },
        triggers: { broken: { function: 'broken' } },
      })
      const result = await invoke('broken')
      expect(result.exitCode).toBe(1)
      expect(result.stderr).toContain('[BUILD_FAILED]')
      expect(result.stderr).toContain('functions/broken.js:3:9')
      const json = await invoke('broken', ['--json'])
      expect(json.exitCode).toBe(1)
      expect(json.json<{ error: { code: string; message: string } }>().error).toMatchObject({
        code: 'BUILD_FAILED',
        message: expect.stringContaining('functions/broken.js:3:9'),
      })
    },
    T,
  )
})

describe('isolation and the build cache', () => {
  it(
    'the process environment never reaches the function',
    async () => {
      await writeProject({
        functions: {
          peek: [
            'functions/peek.js',
            `async function run() {
  let viaFunction
  try {
    viaFunction = new Function('return typeof process')()
  } catch (error) {
    viaFunction = 'threw'
  }
  return {
    typeofProcess: typeof process,
    typeofFetch: typeof fetch,
    viaFunction,
    names: JSON.stringify(Object.getOwnPropertyNames(globalThis)),
    params: JSON.stringify({ executionParams, triggerParams }),
    env: typeof process === 'object' ? JSON.stringify(process.env) : null,
  }
}
`,
          ],
        },
        triggers: { peek: { function: 'peek', params: { plain: 'value' } } },
      })
      const result = await invoke('peek', ['--json'], { env: { LEAKY_TOKEN: 'xyz' } })
      const output = resultOf<{
        result: {
          typeofProcess: string
          typeofFetch: string
          viaFunction: string
          names: string
          env: string | null
        }
      }>(result)
      expect(output.result).toMatchObject({
        typeofProcess: 'undefined',
        typeofFetch: 'undefined',
        viaFunction: 'undefined',
        env: null,
      })
      const names = JSON.parse(output.result.names) as string[]
      // The list is real: the function's own globals are in it.
      expect(names).toEqual(expect.arrayContaining(['api', 'executionParams', 'triggerParams', 'JSON']))
      for (const absent of ['process', 'require', 'fetch', 'Buffer', 'global'])
        expect(names).not.toContain(absent)
      expect(result.stdout).not.toContain('xyz')
      expect(result.stderr).not.toContain('xyz')
    },
    T,
  )

  it(
    'require is absent (DESIGN §2), so feature detection takes the no-require path',
    async () => {
      await writeProject({
        functions: {
          detect: [
            'functions/detect.js',
            `async function run() {
  // The usual optional-dependency check of isomorphic packages.
  const name = 'optional-native-addon'
  const optional = typeof require === 'function' ? require(name) : null
  return { typeofRequire: typeof require, optional }
}
`,
          ],
        },
        triggers: { detect: { function: 'detect' } },
      })
      const result = await invoke('detect')
      expect(resultOf(result)).toEqual({ typeofRequire: 'undefined', optional: null })
    },
    T,
  )

  it(
    'invoking twice reuses the build; editing the function or a module it imports runs the new code',
    async () => {
      await writeProject({
        functions: {
          versioned: [
            'functions/versioned.js',
            `import { version } from './lib.js'\nexport async function run() { return { version, tag: 'a' } }\n`,
          ],
        },
        triggers: { versioned: { function: 'versioned' } },
      })
      await writeFile(join(app, 'functions/lib.js'), 'export const version = 1\n')

      expect(resultOf(await invoke('versioned'))).toEqual({ version: 1, tag: 'a' })
      const cacheDir = join(app, '.centrali/build-cache')
      const entries = await readdir(cacheDir)
      expect(entries).toHaveLength(1)
      const builtAt = (await stat(join(cacheDir, entries[0]!))).mtimeMs

      expect(resultOf(await invoke('versioned'))).toEqual({ version: 1, tag: 'a' })
      expect((await stat(join(cacheDir, entries[0]!))).mtimeMs).toBe(builtAt)

      // Same size, new content.
      await writeFile(
        join(app, 'functions/versioned.js'),
        `import { version } from './lib.js'\nexport async function run() { return { version, tag: 'b' } }\n`,
      )
      expect(resultOf(await invoke('versioned'))).toEqual({ version: 1, tag: 'b' })

      await writeFile(join(app, 'functions/lib.js'), 'export const version = 2\n')
      expect(resultOf(await invoke('versioned'))).toEqual({ version: 2, tag: 'b' })
    },
    T,
  )
})
