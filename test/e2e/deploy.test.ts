import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import {
  createServer as createTcpServer,
  connect,
  type AddressInfo,
  type Server,
  type Socket,
} from 'node:net'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Manifest, UploadRequest, VersionInfo } from '../../src/runtime/protocol.js'
import { createSandbox, type CliResult, type Sandbox } from '../helpers/cli.js'
import { drivePty } from '../helpers/pty.js'

/**
 * `deploy`, `versions`, `rollback` and `secrets push` end to end: the built CLI against a stand-in
 * runtime, a real HTTP server on 127.0.0.1 that speaks the /v1 API of src/runtime/protocol.ts in
 * memory (bearer token, hash checks, versions, activation, secrets). It sits behind a TCP relay that
 * keeps every byte the CLI sends, headers included, so a test can say what never crossed the wire.
 */

const TOKEN = 'deploy-token-for-tests'
/** Each test spawns the CLI up to ten times; a busy two-core machine needs more than the default. */
const SPAWNS_MANY = { timeout: 60_000 }
/** A size as the CLI prints it. */
const SIZE = String.raw`\d+(\.\d)? (B|KiB)`

// ---------------------------------------------------------------------------------------------
// The stand-in runtime.

interface StoredVersion {
  info: Omit<VersionInfo, 'active'>
  manifest: Manifest
}

interface RecordedRequest {
  method: string
  path: string
  authorization: string | undefined
  body: string
}

interface StandIn {
  url: string
  requests: RecordedRequest[]
  versions: StoredVersion[]
  bundles: Map<string, string>
  sourceMaps: Map<string, string>
  secrets: Map<string, { value: string; updatedAt: string }>
  active: string | null
  /** The version active before `active`. */
  previous: string | null
  /** Runs once an upload is stored, before its answer (a test makes "someone else" deploy there). */
  afterUpload?: () => void
  /** When set, activations answer with this error (a version that does not load, say). */
  refuseActivation?: { status: number; code: string; message: string }
  /** Every byte received on every connection, in order. */
  received(): Buffer
  connections: number
  close(): Promise<void>
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

async function startStandIn(): Promise<StandIn> {
  const chunks: Buffer[] = []
  const runtime: StandIn = {
    url: '',
    requests: [],
    versions: [],
    bundles: new Map(),
    sourceMaps: new Map(),
    secrets: new Map(),
    active: null,
    previous: null,
    received: () => Buffer.concat(chunks),
    connections: 0,
    close: async () => undefined,
  }

  const info = (version: StoredVersion): VersionInfo => ({
    ...version.info,
    active: version.info.id === runtime.active,
  })
  const send = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const fail = (response: ServerResponse, status: number, code: string, message: string) =>
    send(response, status, { error: { code, message } })

  const handle = (request: IncomingMessage, response: ServerResponse, body: string) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname
    const method = request.method ?? 'GET'
    runtime.requests.push({ method, path, authorization: request.headers.authorization, body })
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      return fail(response, 401, 'UNAUTHORIZED', 'missing or wrong bearer token')
    }
    const parse = <T>(): T | undefined => {
      try {
        return JSON.parse(body) as T
      } catch {
        fail(response, 400, 'BAD_JSON', 'the body is not JSON')
        return undefined
      }
    }
    let match: RegExpMatchArray | null
    if (method === 'POST' && path === '/v1/deployments') {
      const upload = parse<UploadRequest>()
      if (upload === undefined) return
      for (const [hash, code] of Object.entries(upload.bundles)) {
        if (sha256(code) !== hash) return fail(response, 400, 'BUNDLE_HASH_MISMATCH', `bundle ${hash}`)
      }
      let size = 0
      for (const [name, fn] of Object.entries(upload.manifest.functions)) {
        const code = upload.bundles[fn.bundle] ?? runtime.bundles.get(fn.bundle)
        if (code === undefined) return fail(response, 400, 'BUNDLE_MISSING', `function ${name}`)
        // The server trusts the bundle, not the client's size.
        fn.size = Buffer.byteLength(code)
        size += fn.size
      }
      for (const [hash, code] of Object.entries(upload.bundles)) runtime.bundles.set(hash, code)
      for (const [hash, map] of Object.entries(upload.sourceMaps ?? {})) runtime.sourceMaps.set(hash, map)
      const version: StoredVersion = {
        info: {
          id: `v${runtime.versions.length + 1}`,
          createdAt: new Date(Date.UTC(2030, 0, 1, 12, 0, runtime.versions.length)).toISOString(),
          size,
          functions: Object.keys(upload.manifest.functions),
          triggers: Object.keys(upload.manifest.triggers),
        },
        manifest: upload.manifest,
      }
      runtime.versions.push(version)
      runtime.afterUpload?.()
      return send(response, 201, { version: info(version) })
    }
    if (method === 'GET' && path === '/v1/versions') {
      return send(response, 200, {
        active: runtime.active,
        previous: runtime.previous,
        versions: runtime.versions.map(info).reverse(),
      })
    }
    if (method === 'POST' && (match = path.match(/^\/v1\/versions\/([^/]+)\/activate$/))) {
      const id = decodeURIComponent(match[1]!)
      // The optional body: { "expectedActive": "v4" | null }.
      const request = body === '' ? {} : parse<{ expectedActive?: unknown }>()
      if (request === undefined) return
      const { expectedActive } = request
      if (
        expectedActive !== undefined &&
        expectedActive !== null &&
        !(typeof expectedActive === 'string' && /^v[1-9]\d*$/.test(expectedActive))
      )
        return fail(response, 400, 'BAD_REQUEST', 'expectedActive must be a version id or null')
      if (expectedActive !== undefined && expectedActive !== runtime.active)
        return fail(response, 409, 'ACTIVE_CHANGED', `${runtime.active ?? 'No version'} is active now`)
      if (!runtime.versions.some((version) => version.info.id === id)) {
        return fail(response, 404, 'VERSION_NOT_FOUND', `no version ${id}`)
      }
      const refusal = runtime.refuseActivation
      if (refusal) return fail(response, refusal.status, refusal.code, refusal.message)
      const previous = runtime.active
      if (id === previous) return send(response, 200, { active: id, previous })
      runtime.active = id
      runtime.previous = previous
      return send(response, 200, { active: id, previous })
    }
    if (method === 'GET' && path === '/v1/manifest') {
      const active = runtime.versions.find((version) => version.info.id === runtime.active)
      if (active === undefined) return fail(response, 404, 'NO_ACTIVE_VERSION', 'nothing is active')
      return send(response, 200, { version: info(active), manifest: active.manifest })
    }
    if (method === 'GET' && path === '/v1/secrets') {
      const secrets = [...runtime.secrets].map(([name, { updatedAt }]) => ({ name, updatedAt }))
      return send(response, 200, { secrets })
    }
    if (method === 'PUT' && (match = path.match(/^\/v1\/secrets\/([A-Z_][A-Z0-9_]*)$/))) {
      const parsed = parse<{ value?: unknown }>()
      if (parsed === undefined) return
      if (typeof parsed.value !== 'string')
        return fail(response, 400, 'BAD_REQUEST', 'value must be a string')
      const updatedAt = new Date().toISOString()
      runtime.secrets.set(match[1]!, { value: parsed.value, updatedAt })
      return send(response, 200, { name: match[1], updatedAt })
    }
    return fail(response, 404, 'NOT_FOUND', `no route ${method} ${path}`)
  }

  const http = createHttpServer((request, response) => {
    const body: Buffer[] = []
    request.on('data', (chunk: Buffer) => body.push(chunk))
    request.on('end', () => handle(request, response, Buffer.concat(body).toString('utf8')))
  })
  await listen(http)
  const httpPort = (http.address() as AddressInfo).port

  // The relay: the CLI connects here; every byte is kept, then passed on to the HTTP server.
  const sockets = new Set<Socket>()
  const relay = createTcpServer((client) => {
    runtime.connections++
    const upstream = connect(httpPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => undefined)
    }
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await listen(relay)
  runtime.url = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`
  runtime.close = async () => {
    for (const socket of sockets) socket.destroy()
    http.closeAllConnections()
    await Promise.all([close(relay), close(http)])
  }
  return runtime
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

// ---------------------------------------------------------------------------------------------
// The project.

const FILES: Record<string, string> = {
  'functions/chat.ts': `import { greet } from './lib/greet'\nexport async function run() {\n  return { reply: greet(String(triggerParams.model)) }\n}\n`,
  'functions/lib/greet.ts': `export function greet(name: string): string {\n  return 'hello ' + name\n}\n`,
  'functions/pay.ts': `export async function run() {\n  return { ok: true, amount: 42 }\n}\n`,
}

interface ProjectConfig {
  functions: Record<string, { entry: string }>
  triggers: Record<string, Record<string, unknown>>
  domains: string[]
  targets: Record<string, Record<string, unknown>>
}

function baseConfig(url: string): ProjectConfig {
  return {
    functions: { chat: { entry: 'functions/chat.ts' }, pay: { entry: 'functions/pay.ts' } },
    triggers: {
      'chat-endpoint': {
        type: 'endpoint',
        function: 'chat',
        params: { apiKey: { secret: 'CHAT_API_KEY' }, model: 'small' },
      },
      'pay-endpoint': { type: 'endpoint', function: 'pay', params: { key: { secret: 'PAY_SECRET_KEY' } } },
    },
    domains: ['api.openai.com', 'api.stripe.com'],
    targets: { default: { type: 'runtime', url } },
  }
}

let sandbox: Sandbox
let app: string
let runtime: StandIn
let config: ProjectConfig

async function writeConfig(next: ProjectConfig): Promise<void> {
  config = next
  await writeFile(join(app, 'centrali.json'), JSON.stringify(next, null, 2))
}

async function writeFiles(files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(app, path)), { recursive: true })
    await writeFile(join(app, path), text)
  }
}

/** The CLI in the project, with the token set unless a test says otherwise. */
function centrali(args: readonly string[], env: Record<string, string | undefined> = {}, input?: string) {
  return sandbox.run(args, {
    cwd: app,
    env: { CENTRALI_TOKEN: TOKEN, ...env },
    ...(input === undefined ? {} : { input }),
  })
}

/** Both secrets the triggers use, present on the target, for tests about something else. */
function seedTargetSecrets(): void {
  for (const name of ['CHAT_API_KEY', 'PAY_SECRET_KEY']) {
    runtime.secrets.set(name, { value: `seeded-${name}`, updatedAt: new Date().toISOString() })
  }
}

const writes = () => runtime.requests.filter((request) => request.method !== 'GET')

beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  runtime = await startStandIn()
  await writeFiles(FILES)
  await writeConfig(baseConfig(runtime.url))
})

afterEach(async () => {
  await runtime.close()
  await sandbox.cleanup()
})

interface PlanJson {
  target: { name: string; url: string }
  active: string | null
  functions: {
    name: string
    change: string
    size: number | null
    previousSize: number | null
    hash: string | null
  }[]
  triggers: { name: string; change: string; fields: string[] }[]
  domains: { domain: string; change: string }[]
  secrets: { name: string; onTarget: boolean; usedBy: { trigger: string; param: string }[] }[]
  missingSecrets: string[]
}

interface DeployJson {
  target: { name: string; url: string }
  dryRun: boolean
  plan: PlanJson
  version: VersionInfo | null
  previous: string | null
  endpoints: { trigger: string; url: string }[]
  files: string
}

function errorOf(result: CliResult): { code: string; message: string; hint?: string } {
  return result.json<{ error: { code: string; message: string; hint?: string } }>().error
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name))
}

// ---------------------------------------------------------------------------------------------

describe('centrali deploy', SPAWNS_MANY, () => {
  it('--dry-run on a first deploy prints the plan, writes the bundles for inspection and uploads nothing', async () => {
    const result = await centrali(['deploy', '--dry-run'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toContain(`Plan for default (${runtime.url}): first deploy`)
    expect(result.stdout).toMatch(new RegExp(`\\+ chat +${SIZE} +new`))
    expect(result.stdout).toMatch(new RegExp(`\\+ pay +${SIZE} +new`))
    expect(result.stdout).toMatch(/\+ chat-endpoint +→ chat +added/)
    expect(result.stdout).toMatch(/\+ api\.stripe\.com +added/)
    expect(result.stdout).toMatch(/✖ CHAT_API_KEY +missing +used by chat-endpoint\.apiKey/)
    expect(result.stdout).toContain('centrali secrets push --target default CHAT_API_KEY PAY_SECRET_KEY')
    expect(result.stderr).toContain('✔ Bundling 2 functions')
    expect(result.stderr).toContain('Dry run: nothing was uploaded')

    // Only reads reached the runtime.
    expect(runtime.requests.map((request) => `${request.method} ${request.path}`).sort()).toEqual([
      'GET /v1/manifest',
      'GET /v1/secrets',
    ])
    expect(runtime.versions).toHaveLength(0)

    // What would be sent is on disk: the manifest names each bundle by the SHA-256 of its text.
    const dir = join(app, '.centrali/deploy/default')
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest
    for (const name of ['chat', 'pay']) {
      const code = await readFile(join(dir, 'functions', `${name}.js`), 'utf8')
      expect(manifest.functions[name]).toEqual({ bundle: sha256(code), size: Buffer.byteLength(code) })
      const map = JSON.parse(await readFile(join(dir, 'functions', `${name}.js.map`), 'utf8'))
      expect(map.version).toBe(3)
      expect(map.sources).toContain(`functions/${name}.ts`)
    }
    // Minified: the helper's body is on the same line as the rest of the bundle, no indentation.
    expect(await readFile(join(dir, 'functions/chat.js'), 'utf8')).not.toMatch(/\n {2}return/)
    expect(manifest.triggers['chat-endpoint']!.params).toEqual({
      apiKey: { secret: 'CHAT_API_KEY' },
      model: 'small',
    })
    expect(manifest.domains).toEqual(['api.openai.com', 'api.stripe.com'])
  })

  it('deploys: uploads bundles under their hashes, activates, prints the version and endpoint URLs', async () => {
    seedTargetSecrets()
    const result = await centrali(['deploy', '--yes'])
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toContain('Deployed v1 to default')
    expect(result.stdout).toContain(`chat-endpoint  ${runtime.url}/endpoints/chat-endpoint`)
    expect(result.stdout).toContain(`pay-endpoint   ${runtime.url}/endpoints/pay-endpoint`)
    expect(result.stdout.trimEnd().split('\n').at(-1)).toContain('/endpoints/pay-endpoint')
    for (const step of ['✔ Bundling 2 functions', '✔ Uploading to default (v1', '✔ Activating v1']) {
      expect(result.stderr).toContain(step)
    }

    expect(runtime.active).toBe('v1')
    const upload = JSON.parse(
      runtime.requests.find((request) => request.path === '/v1/deployments')!.body,
    ) as UploadRequest
    expect(Object.keys(upload.manifest.functions).sort()).toEqual(['chat', 'pay'])
    for (const fn of Object.values(upload.manifest.functions)) {
      expect(sha256(upload.bundles[fn.bundle]!)).toBe(fn.bundle)
      expect(JSON.parse(upload.sourceMaps![fn.bundle]!).version).toBe(3)
    }
    // Every request carried the token; the upload came before the activation.
    expect(runtime.requests.every((request) => request.authorization === `Bearer ${TOKEN}`)).toBe(true)
    expect(writes().map((request) => request.path)).toEqual(['/v1/deployments', '/v1/versions/v1/activate'])
  })

  it('on a terminal: asks before deploying (no sends nothing, exit 130; yes deploys) and shows a spinner', async () => {
    seedTargetSecrets()
    const env = { CENTRALI_TOKEN: TOKEN }
    const declined = await drivePty(app, { ...sandbox.env, ...env }, ['deploy'], [[/Deploy this to/, 'n\r']])
    expect(declined.exitCode, declined.output).toBe(130)
    expect(writes()).toEqual([])

    const accepted = await drivePty(app, { ...sandbox.env, ...env }, ['deploy'], [[/Deploy this to/, 'y\r']])
    expect(accepted.exitCode, accepted.output).toBe(0)
    expect(accepted.output).toContain('Deployed v1 to default')
    // The spinner redraws its line in place: a frame, then the line erased and marked done.
    expect(accepted.output).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/)
    expect(accepted.output).toContain('\r\u001B[K')
    expect(runtime.active).toBe('v1')
  })

  it('--json gives the plan, the version and the endpoints as one document', async () => {
    seedTargetSecrets()
    const result = await centrali(['deploy', '--yes', '--json'])
    expect(result.exitCode, result.stderr).toBe(0)
    const output = result.json<DeployJson>()
    expect(output).toMatchObject({
      target: { name: 'default', url: runtime.url },
      dryRun: false,
      previous: null,
      files: '.centrali/deploy/default',
      version: {
        id: 'v1',
        active: true,
        functions: ['chat', 'pay'],
        triggers: ['chat-endpoint', 'pay-endpoint'],
      },
      endpoints: [
        { trigger: 'chat-endpoint', url: `${runtime.url}/endpoints/chat-endpoint` },
        { trigger: 'pay-endpoint', url: `${runtime.url}/endpoints/pay-endpoint` },
      ],
    })
    expect(output.plan.active).toBeNull()
    expect(output.plan.functions.map((fn) => [fn.name, fn.change])).toEqual([
      ['chat', 'new'],
      ['pay', 'new'],
    ])
    expect(output.plan.secrets.map((secret) => [secret.name, secret.onTarget])).toEqual([
      ['CHAT_API_KEY', true],
      ['PAY_SECRET_KEY', true],
    ])
    expect(output.plan.missingSecrets).toEqual([])
    // stdout is the JSON document and nothing else; progress stays off stderr too.
    expect(result.stderr).toBe('')
  })

  it('--dry-run against an active version shows changed, unchanged and removed parts and uploads nothing', async () => {
    seedTargetSecrets()
    expect((await centrali(['deploy', '--yes'])).exitCode).toBe(0)
    const before = runtime.versions[0]!.manifest

    await writeFiles({
      'functions/chat.ts': FILES['functions/chat.ts']!.replace('greet(', "'v2: ' + greet("),
      'functions/extra.ts': 'export async function run() { return 1 }\n',
    })
    const next = baseConfig(runtime.url)
    next.functions = { chat: { entry: 'functions/chat.ts' }, extra: { entry: 'functions/extra.ts' } }
    next.triggers = {
      'chat-endpoint': {
        ...next.triggers['chat-endpoint']!,
        params: { apiKey: { secret: 'CHAT_API_KEY' }, model: 'large' },
        timeoutMs: 5000,
      },
      'extra-endpoint': { type: 'endpoint', function: 'extra' },
    }
    next.domains = ['api.openai.com', 'hooks.example.com']
    await writeConfig(next)
    const requestsBefore = runtime.requests.length

    const human = await centrali(['deploy', '--dry-run'])
    expect(human.exitCode, human.stderr).toBe(0)
    const chatDelta =
      (await readFile(join(app, '.centrali/deploy/default/functions/chat.js'))).length -
      before.functions.chat!.size
    expect(human.stdout).toContain(`against the active version v1`)
    expect(human.stdout).toMatch(new RegExp(`~ chat +${SIZE} → ${SIZE} \\(\\+${chatDelta} B\\) +changed`))
    expect(human.stdout).toMatch(new RegExp(`\\+ extra +${SIZE} +new`))
    expect(human.stdout).toMatch(new RegExp(`- pay +was ${SIZE} +removed`))
    expect(human.stdout).toMatch(/~ chat-endpoint +→ chat +changed: params, timeoutMs/)
    expect(human.stdout).toMatch(/\+ extra-endpoint +→ extra +added/)
    expect(human.stdout).toMatch(/- pay-endpoint +→ pay +removed/)
    expect(human.stdout).toMatch(/\+ hooks\.example\.com +added/)
    expect(human.stdout).toMatch(/- api\.stripe\.com +removed/)
    expect(human.stdout).toMatch(/= api\.openai\.com +unchanged/)

    const json = (await centrali(['deploy', '--dry-run', '--json'])).json<DeployJson>()
    expect(json.dryRun).toBe(true)
    expect(json.version).toBeNull()
    expect(json.plan.active).toBe('v1')
    expect(json.plan.functions.map((fn) => [fn.name, fn.change])).toEqual([
      ['chat', 'changed'],
      ['extra', 'new'],
      ['pay', 'removed'],
    ])
    expect(json.plan.triggers.map((trigger) => [trigger.name, trigger.change, trigger.fields])).toEqual([
      ['chat-endpoint', 'changed', ['params', 'timeoutMs']],
      ['extra-endpoint', 'added', []],
      ['pay-endpoint', 'removed', []],
    ])
    expect(json.plan.domains).toEqual([
      { domain: 'api.openai.com', change: 'unchanged' },
      { domain: 'hooks.example.com', change: 'added' },
      { domain: 'api.stripe.com', change: 'removed' },
    ])
    // Only reads since the deploy: nothing uploaded, nothing activated.
    expect(runtime.requests.slice(requestsBefore).every((request) => request.method === 'GET')).toBe(true)
    expect(runtime.versions).toHaveLength(1)
    expect(runtime.active).toBe('v1')

    // The same code again: every function unchanged.
    await writeConfig(baseConfig(runtime.url))
    await writeFiles(FILES)
    const same = await centrali(['deploy', '--dry-run', '--json'])
    const samePlan = same.json<DeployJson>().plan
    expect(samePlan.functions.every((fn) => fn.change === 'unchanged')).toBe(true)
    expect(samePlan.triggers.every((trigger) => trigger.change === 'unchanged')).toBe(true)
  })

  it('activates only over the version it planned against: a deploy that landed meanwhile stops it with ACTIVE_CHANGED', async () => {
    seedTargetSecrets()
    expect((await centrali(['deploy', '--yes'])).exitCode).toBe(0)
    // Someone else's deploy lands between this upload and its activation.
    runtime.afterUpload = () => {
      runtime.afterUpload = undefined
      const theirs = runtime.versions[0]!
      runtime.versions.push({ ...theirs, info: { ...theirs.info, id: 'v3' } })
      runtime.previous = runtime.active
      runtime.active = 'v3'
    }
    const result = await centrali(['deploy', '--yes', '--json'])
    expect(result.exitCode).toBe(1)
    expect(errorOf(result)).toMatchObject({
      code: 'ACTIVE_CHANGED',
      message:
        'v2 was uploaded but not activated: v3 is now active (someone deployed meanwhile); run deploy again',
    })
    const activation = writes().at(-1)!
    expect([activation.path, JSON.parse(activation.body)]).toEqual([
      '/v1/versions/v2/activate',
      { expectedActive: 'v1' },
    ])
    expect(runtime.active).toBe('v3')
    // The first deploy sent what it planned against too: nothing.
    expect(JSON.parse(writes()[1]!.body)).toEqual({ expectedActive: null })
  })

  it('an activation refused after the upload says the version was uploaded, not activated, and which one still serves', async () => {
    seedTargetSecrets()
    expect((await centrali(['deploy', '--yes'])).exitCode).toBe(0)
    runtime.refuseActivation = {
      status: 422,
      code: 'VERSION_CANNOT_LOAD',
      message: 'Version v2 cannot run: function chat does not load in the sandbox: Unexpected token',
    }
    const result = await centrali(['deploy', '--yes'])
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('[VERSION_CANNOT_LOAD]')
    expect(result.stderr).toContain('v2 was uploaded but not activated, so v1 still serves')
    expect(result.stderr).toContain('function chat does not load')
    expect(runtime.versions.map((version) => version.info.id)).toEqual(['v1', 'v2'])
    expect(runtime.active).toBe('v1')
  })

  it('a secret missing on the target stops the deploy with the secrets push that fixes it', async () => {
    runtime.secrets.set('CHAT_API_KEY', { value: 'x', updatedAt: new Date().toISOString() })
    const result = await centrali(['deploy', '--yes'])
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('SECRETS_MISSING_ON_TARGET')
    expect(result.stderr).toContain('PAY_SECRET_KEY')
    expect(result.stderr).toContain('centrali secrets push --target default PAY_SECRET_KEY')
    expect(result.stdout).toMatch(/✔ CHAT_API_KEY +set/)
    expect(writes()).toEqual([])
    const json = await centrali(['deploy', '--yes', '--json'])
    expect(json.exitCode).toBe(1)
    expect(errorOf(json)).toMatchObject({
      code: 'SECRETS_MISSING_ON_TARGET',
      hint: expect.stringContaining('centrali secrets push --target default PAY_SECRET_KEY'),
    })
    expect(runtime.versions).toHaveLength(0)
  })

  it('without a terminal and without --yes, deploy, rollback and secrets push stop (exit 2) before connecting', async () => {
    for (const args of [['deploy'], ['rollback'], ['secrets', 'push']]) {
      const result = await centrali(args)
      expect(result.exitCode, args.join(' ')).toBe(2)
      expect(result.stderr).toContain('--yes')
      expect(result.stderr).toContain('CONFIRMATION_REQUIRED')
      const json = await centrali([...args, '--json'])
      expect(json.exitCode).toBe(2)
      expect(errorOf(json).message).toContain('pass --yes')
    }
    expect(runtime.connections).toBe(0)
  })

  it('refuses plain http:// to a host that is not loopback, before sending anything', async () => {
    await writeConfig({
      ...config,
      targets: { default: { type: 'runtime', url: 'http://deploy.example.com:8788' } },
    })
    const result = await centrali(['deploy', '--dry-run', '--json'])
    expect(result.exitCode).toBe(1)
    const error = errorOf(result)
    expect(error.code).toBe('TARGET_URL_INSECURE')
    expect(error.message).toContain('deploy.example.com')
    expect(error.hint).toContain('https://')
    // Loopback by name is fine over http (it reaches the stand-in).
    const port = new URL(runtime.url).port
    await writeConfig({
      ...config,
      targets: { default: { type: 'runtime', url: `http://localhost:${port}/` } },
    })
    const local = await centrali(['deploy', '--dry-run', '--json'])
    expect(local.exitCode, local.stdout).toBe(0)
    expect(local.json<DeployJson>().target.url).toBe(`http://localhost:${port}`)
  })

  it('a missing token names the environment variable to set', async () => {
    const plain = await centrali(['deploy', '--dry-run'], { CENTRALI_TOKEN: undefined })
    expect(plain.exitCode).toBe(1)
    expect(plain.stderr).toContain('CENTRALI_TOKEN')
    expect(plain.stderr).toContain('DEPLOY_TOKEN_MISSING')

    await writeConfig({
      ...config,
      targets: { default: { type: 'runtime', url: runtime.url, tokenEnv: 'STAGING_TOKEN' } },
    })
    const custom = await centrali(['versions', '--json'])
    expect(custom.exitCode).toBe(1)
    expect(errorOf(custom)).toMatchObject({
      code: 'DEPLOY_TOKEN_MISSING',
      message: expect.stringContaining('STAGING_TOKEN'),
    })
    const withIt = await centrali(['versions', '--json'], { STAGING_TOKEN: TOKEN })
    expect(withIt.exitCode, withIt.stdout).toBe(0)
    expect(runtime.connections).toBe(1)
  })

  it('a token with a line break or a space inside is refused with DEPLOY_TOKEN_INVALID, never echoed or sent; spaces around it are trimmed', async () => {
    const token = 'deploy-token\nsk-pasted-along-9f8e7d'
    for (const args of [
      ['deploy', '--dry-run'],
      ['versions', '--json'],
      ['rollback', '--yes'],
    ]) {
      const result = await centrali(args, { CENTRALI_TOKEN: token })
      expect(result.exitCode, args.join(' ')).toBe(1)
      expect(result.stdout + result.stderr).toContain('DEPLOY_TOKEN_INVALID')
      expect(result.stdout + result.stderr).toContain('CENTRALI_TOKEN')
      for (const part of token.split('\n'))
        expect(result.stdout + result.stderr).not.toContain(part.slice(-10))
    }
    const spaced = await centrali(['versions', '--json'], { CENTRALI_TOKEN: 'deploy token-for-tests' })
    expect(errorOf(spaced).code).toBe('DEPLOY_TOKEN_INVALID')
    expect(runtime.connections).toBe(0)
    // Whitespace around it (a line break from an env file) is trimmed.
    const trimmed = await centrali(['versions', '--json'], { CENTRALI_TOKEN: `  ${TOKEN}\n` })
    expect(trimmed.exitCode, trimmed.stdout).toBe(0)
  })

  it('a 401 from the runtime is an auth error that points at the token variable', async () => {
    const result = await centrali(['deploy', '--dry-run'], { CENTRALI_TOKEN: 'not-the-token' })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('[UNAUTHORIZED]')
    expect(result.stderr).toContain('refused the deploy token (401)')
    expect(result.stderr).toContain('Check CENTRALI_TOKEN')
    expect(result.stderr).not.toContain('not-the-token')
    const json = await centrali(['versions', '--json'], { CENTRALI_TOKEN: 'not-the-token' })
    expect(errorOf(json)).toMatchObject({
      code: 'UNAUTHORIZED',
      hint: expect.stringContaining('CENTRALI_TOKEN'),
    })
  })

  it('target choice: --target, "default", the only one, else a usage error listing them; cloudflare deploys but has no versions', async () => {
    const runtimeTarget = { type: 'runtime', url: runtime.url }
    await writeConfig({ ...config, targets: { staging: runtimeTarget, prod: runtimeTarget } })
    const ambiguous = await centrali(['deploy', '--dry-run', '--json'])
    expect(ambiguous.exitCode).toBe(2)
    expect(errorOf(ambiguous)).toMatchObject({
      code: 'TARGET_REQUIRED',
      hint: expect.stringContaining('staging, prod'),
    })
    const unknown = await centrali(['versions', '--target', 'qa', '--json'])
    expect(unknown.exitCode).toBe(2)
    expect(errorOf(unknown)).toMatchObject({ code: 'TARGET_NOT_FOUND', hint: 'Targets: staging, prod.' })
    const chosen = await centrali(['deploy', '--dry-run', '--target', 'prod', '--json'])
    expect(chosen.json<DeployJson>().target.name).toBe('prod')
    expect(await readdir(join(app, '.centrali/deploy'))).toEqual(['prod'])

    await writeConfig({ ...config, targets: { edge: { type: 'cloudflare', name: 'my-worker' } } })
    const cloudflare = await centrali(['deploy', '--dry-run', '--json'])
    expect(cloudflare.exitCode, cloudflare.stderr).toBe(0)
    expect(cloudflare.json<{ dryRun: boolean; target: { name: string } }>()).toMatchObject({
      dryRun: true,
      target: { name: 'edge' },
    })
    const versions = await centrali(['versions', '--json'])
    expect(versions.exitCode).toBe(1)
    expect(errorOf(versions)).toMatchObject({
      code: 'TARGET_UNSUPPORTED',
      message: expect.stringContaining('"cloudflare"'),
      hint: expect.stringContaining('wrangler rollback'),
    })
  })

  it('a runtime that cannot be reached is named by its URL', async () => {
    await runtime.close()
    const result = await centrali(['deploy', '--dry-run', '--json'])
    expect(result.exitCode).toBe(1)
    expect(errorOf(result)).toMatchObject({
      code: 'RUNTIME_UNREACHABLE',
      message: expect.stringContaining(`${runtime.url}/v1/`),
    })
  })
})

describe('centrali secrets push', SPAWNS_MANY, () => {
  it('sends the values the triggers need, after which deploy goes through', async () => {
    await centrali(['secrets', 'set', 'CHAT_API_KEY'], {}, 'chat-value-1')
    await centrali(['secrets', 'set', 'PAY_SECRET_KEY'], {}, 'pay-value-2')
    await centrali(['secrets', 'set', 'UNUSED_KEY'], {}, 'unused-value-3')
    const blocked = await centrali(['deploy', '--yes', '--json'])
    expect(errorOf(blocked).code).toBe('SECRETS_MISSING_ON_TARGET')

    const pushed = await centrali(['secrets', 'push', '--yes', '--json'])
    expect(pushed.exitCode, pushed.stderr).toBe(0)
    expect(pushed.json()).toMatchObject({
      target: { name: 'default', url: runtime.url },
      pushed: [
        { name: 'CHAT_API_KEY', replaced: false },
        { name: 'PAY_SECRET_KEY', replaced: false },
      ],
      notSetLocally: [],
    })
    // Without names: only what the triggers refer to.
    expect([...runtime.secrets.keys()].sort()).toEqual(['CHAT_API_KEY', 'PAY_SECRET_KEY'])
    expect(runtime.secrets.get('CHAT_API_KEY')!.value).toBe('chat-value-1')
    expect(runtime.secrets.get('PAY_SECRET_KEY')!.value).toBe('pay-value-2')

    // Named: that one only, shown as replaced when the target had it.
    const named = await centrali(['secrets', 'push', 'UNUSED_KEY', 'CHAT_API_KEY', '--yes'])
    expect(named.exitCode, named.stderr).toBe(0)
    expect(named.stdout).toMatch(/UNUSED_KEY +added/)
    expect(named.stdout).toMatch(/CHAT_API_KEY +replaced/)
    expect(named.stderr).toContain('✔ Sending UNUSED_KEY')

    const deployed = await centrali(['deploy', '--yes'])
    expect(deployed.exitCode, deployed.stderr).toBe(0)
    expect(deployed.stdout).toContain('Deployed v1')
    for (const result of [pushed, named, deployed]) {
      for (const value of ['chat-value-1', 'pay-value-2', 'unused-value-3']) {
        expect(result.stdout + result.stderr).not.toContain(value)
      }
    }
  })

  it('a name that is not set locally is an error, and nothing is sent', async () => {
    await centrali(['secrets', 'set', 'CHAT_API_KEY'], {}, 'chat-value')
    const result = await centrali(['secrets', 'push', 'CHAT_API_KEY', 'PAY_SECRET_KEY', '--yes', '--json'])
    expect(result.exitCode).toBe(1)
    expect(errorOf(result)).toMatchObject({
      code: 'SECRET_NOT_SET',
      message: expect.stringContaining('PAY_SECRET_KEY'),
      hint: expect.stringContaining('centrali secrets set PAY_SECRET_KEY'),
    })
    // A value typed where a name goes is refused without being echoed.
    const typo = await centrali(['secrets', 'push', 'sk-live-typed-by-mistake', '--yes'])
    expect(typo.exitCode).toBe(1)
    expect(typo.stderr).toContain('SECRET_NAME_INVALID')
    expect(typo.stdout + typo.stderr).not.toContain('sk-live-typed-by-mistake')
    expect(runtime.connections).toBe(0)
  })
})

describe('secret values never travel with a deploy', SPAWNS_MANY, () => {
  // Distinctive values, with characters that each encoding changes.
  const SECRETS = {
    CHAT_API_KEY: 'sk-live-Qz7/Vb+3xR=chat"key"&more?',
    PAY_SECRET_KEY: 'whsec_Pm4~Lk9+Tn2/pay key=é',
  }
  const forms = (value: string): string[] => [
    value,
    JSON.stringify(value).slice(1, -1),
    Buffer.from(value).toString('base64'),
    Buffer.from(value).toString('base64url'),
    Buffer.from(value).toString('hex'),
    Buffer.from(value).toString('hex').toUpperCase(),
    encodeURIComponent(value),
    encodeURI(value),
    new URLSearchParams({ v: value }).toString().slice(2),
  ]
  const leaks = (haystack: string | Buffer): string[] => {
    const text =
      typeof haystack === 'string' ? haystack : haystack.toString('latin1') + haystack.toString('utf8')
    return Object.values(SECRETS).flatMap((value) =>
      forms(value).filter(
        (form) => text.includes(form) || text.includes(Buffer.from(form).toString('latin1')),
      ),
    )
  }

  it('the deploy requests, the files it writes and every output hold no secret value in any encoding', async () => {
    const outputs: CliResult[] = []
    for (const [name, value] of Object.entries(SECRETS)) {
      outputs.push(await centrali(['secrets', 'set', name], {}, value))
    }
    const pushMark = runtime.received().length
    outputs.push(await centrali(['secrets', 'push', '--yes']))
    expect(outputs.at(-1)!.exitCode, outputs.at(-1)!.stderr).toBe(0)
    // The detector works: the push itself did carry the values (JSON-escaped) to the runtime.
    const pushBytes = runtime.received().subarray(pushMark)
    expect(leaks(pushBytes).length).toBeGreaterThan(0)
    expect(runtime.secrets.get('CHAT_API_KEY')!.value).toBe(SECRETS.CHAT_API_KEY)
    expect(runtime.secrets.get('PAY_SECRET_KEY')!.value).toBe(SECRETS.PAY_SECRET_KEY)

    const deployMark = runtime.received().length
    outputs.push(await centrali(['deploy', '--dry-run']))
    outputs.push(await centrali(['deploy', '--yes']))
    outputs.push(await centrali(['deploy', '--yes', '--json']))
    outputs.push(await centrali(['versions']))
    outputs.push(await centrali(['rollback', '--yes']))
    for (const result of outputs) expect(result.exitCode, result.stderr).toBe(0)
    expect(runtime.active).toBe('v1')

    const deployBytes = runtime.received().subarray(deployMark)
    expect(deployBytes.length).toBeGreaterThan(1000)
    expect(deployBytes.toString('latin1')).toContain('POST /v1/deployments')
    expect(leaks(deployBytes)).toEqual([])
    // The manifest went with references in place of the values.
    for (const version of runtime.versions) {
      expect(version.manifest.triggers['chat-endpoint']!.params!.apiKey).toEqual({ secret: 'CHAT_API_KEY' })
    }
    for (const code of [...runtime.bundles.values(), ...runtime.sourceMaps.values()])
      expect(leaks(code)).toEqual([])

    const files = await listFiles(join(app, '.centrali/deploy'))
    expect(files.length).toBeGreaterThanOrEqual(5)
    for (const file of files) expect(leaks(await readFile(file)), file).toEqual([])

    for (const result of outputs) {
      expect(leaks(result.stdout)).toEqual([])
      expect(leaks(result.stderr)).toEqual([])
    }
  })
})

describe('centrali versions and rollback', SPAWNS_MANY, () => {
  beforeEach(async () => {
    seedTargetSecrets()
    expect((await centrali(['deploy', '--yes'])).exitCode).toBe(0)
    await writeFiles({ 'functions/pay.ts': FILES['functions/pay.ts']!.replace('42', '43') })
    expect((await centrali(['deploy', '--yes'])).exitCode).toBe(0)
    expect((await centrali(['deploy', '--yes'])).exitCode).toBe(0)
  })

  it('versions lists every version, newest first, with its time, size and the active one', async () => {
    const human = await centrali(['versions'])
    expect(human.exitCode, human.stderr).toBe(0)
    const lines = human.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^VERSION +CREATED \(UTC\) +SIZE +FUNCTIONS$/)
    expect(lines[1]).toMatch(new RegExp(`^v3 +2030-01-01 12:00:02 +${SIZE} +chat, pay +active$`))
    expect(lines[2]).toMatch(/^v2 +2030-01-01 12:00:01 +.* chat, pay$/)
    expect(lines[3]).toMatch(/^v1 +2030-01-01 12:00:00 /)
    expect(lines).toHaveLength(4)

    const json = await centrali(['versions', '--json'])
    const listing = json.json<{ target: { name: string }; active: string; versions: VersionInfo[] }>()
    expect(listing.target.name).toBe('default')
    expect(listing.active).toBe('v3')
    expect(listing.versions.map((version) => [version.id, version.active])).toEqual([
      ['v3', true],
      ['v2', false],
      ['v1', false],
    ])
    expect(listing.versions[2]!.size).toBe(runtime.versions[0]!.info.size)
  })

  it('rollback without a version activates the one active before the current one; a second rollback undoes the first', async () => {
    // v1 was active before v2, but v3 replaced v2: the rollback goes to v2, never to a version that
    // did not serve just before.
    await centrali(['rollback', 'v1', '--yes'])
    await centrali(['deploy', '--yes'])
    expect([runtime.active, runtime.previous]).toEqual(['v4', 'v1'])
    const first = await centrali(['rollback', '--yes'])
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.stderr).toContain('v1 is now active on default (was v4)')
    expect(first.stdout).toContain('Active on default: v1')
    expect(first.stdout).toContain(`${runtime.url}/endpoints/chat-endpoint`)
    expect(runtime.active).toBe('v1')

    const second = await centrali(['rollback', '--yes', '--json'])
    expect(second.json()).toMatchObject({ active: { id: 'v4', active: true }, previous: 'v1', changed: true })
    expect(runtime.active).toBe('v4')
    const listing = (await centrali(['versions', '--json'])).json<{ active: string; previous: string }>()
    expect([listing.active, listing.previous]).toEqual(['v4', 'v1'])
  })

  it('rollback with nothing before the active version is an error that lists the versions', async () => {
    // As on a runtime where only v3 was ever activated.
    runtime.previous = null
    const result = await centrali(['rollback', '--yes', '--json'])
    expect(result.exitCode).toBe(1)
    expect(errorOf(result)).toMatchObject({
      code: 'NO_PREVIOUS_VERSION',
      message: 'default has no previous version: nothing to roll back to.',
      hint: expect.stringContaining('Versions: v3, v2, v1'),
    })
    expect(runtime.active).toBe('v3')
    // Three deploys activated something; the refused rollback did not.
    expect(writes().filter((request) => request.path.endsWith('/activate'))).toHaveLength(3)
  })

  it('rollback VERSION (v1, or 1) activates that one; the active one is a no-op; an unknown one lists what exists', async () => {
    const named = await centrali(['rollback', '1', '--yes', '--json'])
    expect(named.exitCode, named.stdout).toBe(0)
    expect(named.json()).toMatchObject({
      active: { id: 'v1', active: true },
      previous: 'v3',
      changed: true,
      endpoints: [
        { trigger: 'chat-endpoint', url: `${runtime.url}/endpoints/chat-endpoint` },
        { trigger: 'pay-endpoint', url: `${runtime.url}/endpoints/pay-endpoint` },
      ],
    })
    expect(runtime.active).toBe('v1')
    // A deploy plan now compares against v1, whose pay function differs from the files.
    const plan = (await centrali(['deploy', '--dry-run', '--json'])).json<DeployJson>().plan
    expect(plan.active).toBe('v1')
    expect(plan.functions.map((fn) => [fn.name, fn.change])).toEqual([
      ['chat', 'unchanged'],
      ['pay', 'changed'],
    ])

    const same = await centrali(['rollback', 'v1', '--yes'])
    expect(same.exitCode).toBe(0)
    expect(same.stderr).toContain('v1 is already active')
    const unknown = await centrali(['rollback', 'v9', '--yes', '--json'])
    expect(unknown.exitCode).toBe(1)
    expect(errorOf(unknown)).toMatchObject({
      code: 'VERSION_NOT_FOUND',
      hint: expect.stringContaining('v3, v2, v1'),
    })
    expect(writes().filter((request) => request.path.endsWith('/activate'))).toHaveLength(4)
  })
})
