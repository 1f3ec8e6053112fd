/**
 * `deploy` against a real `serve`: the whole life of a project on the self-hosted runtime, as a
 * team would live it. Two real processes (the runtime and the CLI), a real upstream on 127.0.0.1
 * reached through the runtime's own `--map`, and nothing mocked.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, readyUrl, startCli, type Sandbox } from '../helpers/cli.js'
import { until } from '../helpers/until.js'

const T = 90_000
const TOKEN = 'crt_runtime-e2e-token-0123456789abcdef'
const SECRET = 'sk-live-RUNTIME-e2e-7f3a9c1b5d2e8f40'

let sandbox: Sandbox
let app: string
let dataDir: string
let upstream: { url: string; server: Server; authorizations: string[] }
const children: ResultPromise[] = []

beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  dataDir = join(sandbox.dir, 'runtime-data')
  await mkdir(join(app, 'functions'), { recursive: true })
  const authorizations: string[] = []
  const server = createServer((request, response) => {
    authorizations.push(String(request.headers.authorization))
    request.resume()
    request.on('end', () => {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ upstream: true }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  upstream = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, authorizations }
})

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  await new Promise<void>((resolve) => upstream.server.close(() => resolve()))
  upstream.server.closeAllConnections()
  await sandbox.cleanup()
})

interface Runtime {
  child: ResultPromise
  url: string
  output(): string
  stop(): Promise<number | undefined>
}

async function startServe(): Promise<Runtime> {
  const serve = startCli(
    ['serve', '--port', '0', '--data-dir', dataDir, '--map', `api.example.com=${upstream.url}`],
    { cwd: sandbox.dir, env: { ...sandbox.env, CENTRALI_RUNTIME_TOKEN: TOKEN } },
  )
  const { child } = serve
  children.push(child)
  const url = await until(
    () => readyUrl(serve.lines),
    () => `serve did not start:${serve.show()}`,
    {
      child,
      name: 'serve',
      timeoutMs: 15_000,
    },
  )
  return {
    child,
    url,
    output: () => serve.stdout() + serve.stderr(),
    stop: async () => {
      child.kill('SIGTERM')
      return (await serve.exit).exitCode
    },
  }
}

const functionSource = (version: number) => `export async function run() {
  const reply = await api.httpPost('https://api.example.com/v1/echo', { n: ${version} }, {
    headers: { authorization: 'Bearer ' + triggerParams.apiKey },
  })
  return { version: ${version}, reply }
}
`

async function writeProject(runtimeUrl: string, version: number): Promise<void> {
  await writeFile(join(app, 'functions/hello.ts'), functionSource(version))
  await writeFile(
    join(app, 'centrali.json'),
    JSON.stringify(
      {
        functions: { hello: { entry: 'functions/hello.ts' } },
        triggers: {
          hello: { type: 'endpoint', function: 'hello', params: { apiKey: { secret: 'API_KEY' } } },
        },
        domains: ['api.example.com'],
        targets: { default: { type: 'runtime', url: runtimeUrl } },
      },
      null,
      2,
    ),
  )
}

const cli = (args: readonly string[], input?: string) =>
  sandbox.run(args, { cwd: app, env: { CENTRALI_TOKEN: TOKEN }, ...(input === undefined ? {} : { input }) })

async function deploy(): Promise<string> {
  const result = await cli(['deploy', '--yes', '--json'])
  expect(result.exitCode, result.stderr + result.stdout).toBe(0)
  const { version } = result.json<{ version: { id: string } | string }>()
  return typeof version === 'string' ? version : version.id
}

async function invoke(runtime: Runtime): Promise<{ status: number; body: { version?: number } }> {
  const response = await fetch(`${runtime.url}/endpoints/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload: {} }),
  })
  return { status: response.status, body: (await response.json()) as { version?: number } }
}

/** Every file under a folder, as bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => ({ path, bytes: readFileSync(path) }))
}

function secretForms(value: string): string[] {
  const bytes = Buffer.from(value)
  return [
    value,
    bytes.toString('base64'),
    bytes.toString('base64url'),
    bytes.toString('hex'),
    encodeURIComponent(value),
  ]
}

describe('deploy to a real centrali serve', () => {
  it(
    'deploy → invoke → new code → rollback → restart keeps the active version; the secret never leaks',
    async () => {
      let runtime = await startServe()
      await writeProject(runtime.url, 1)
      expect((await cli(['secrets', 'set', 'API_KEY'], SECRET)).exitCode).toBe(0)
      const pushed = await cli(['secrets', 'push', '--yes'])
      expect(pushed.exitCode, pushed.stderr).toBe(0)

      const first = await deploy()
      let answer = await invoke(runtime)
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ version: 1, reply: { upstream: true } })
      expect(upstream.authorizations).toContain(`Bearer ${SECRET}`)

      await writeProject(runtime.url, 2)
      const second = await deploy()
      expect(second).not.toBe(first)
      answer = await invoke(runtime)
      expect(answer.body.version).toBe(2)

      const rolledBack = await cli(['rollback', '--yes', '--json'])
      expect(rolledBack.exitCode, rolledBack.stderr).toBe(0)
      expect(JSON.stringify(rolledBack.json())).toContain(first)
      expect((await invoke(runtime)).body.version).toBe(1)

      // A restart serves the active version at once.
      expect(await runtime.stop()).toBe(0)
      const before = runtime.output()
      runtime = await startServe()
      expect((await invoke(runtime)).body.version).toBe(1)
      // The restarted runtime listens on another free port: the target follows it.
      await writeProject(runtime.url, 2)
      const versions = await cli(['versions', '--json'])
      expect(versions.exitCode, versions.stderr).toBe(0)
      expect(JSON.stringify(versions.json())).toContain(second)

      // The secret reached the upstream and nothing else: not the runtime's output or its files,
      // not the CLI's deploy folder, in any common encoding.
      const everything = [
        { path: 'serve output', bytes: Buffer.from(before + runtime.output()) },
        ...filesUnder(dataDir),
        ...filesUnder(join(app, '.centrali/deploy')),
      ]
      for (const { path, bytes } of everything) {
        const text = bytes.toString('latin1')
        for (const form of secretForms(SECRET)) expect(text.includes(form), `${form} in ${path}`).toBe(false)
      }
    },
    T,
  )

  it(
    'a deploy under steady load: no request fails and each sees wholly the old or the new version',
    async () => {
      const runtime = await startServe()
      await writeProject(runtime.url, 1)
      expect((await cli(['secrets', 'set', 'API_KEY'], SECRET)).exitCode).toBe(0)
      expect((await cli(['secrets', 'push', '--yes'])).exitCode).toBe(0)
      await deploy()
      await writeProject(runtime.url, 2)

      // Bounded load: 4 connections until the deploy is done, then a few more requests.
      let deploying = true
      const seen: { status: number; version?: number }[] = []
      const load = Promise.all(
        Array.from({ length: 4 }, async () => {
          let after = 0
          while (deploying || after++ < 5) {
            const answer = await invoke(runtime)
            seen.push({
              status: answer.status,
              ...(answer.body.version ? { version: answer.body.version } : {}),
            })
            if (seen.length > 5000) break
          }
        }),
      )
      await deploy()
      deploying = false
      await load

      expect(seen.length).toBeGreaterThan(20)
      expect(seen.filter((answer) => answer.status !== 200)).toEqual([])
      expect(new Set(seen.map((answer) => answer.version))).toEqual(new Set([1, 2]))
      // Once the new version answered, the old one never did again.
      const firstNew = seen.findIndex((answer) => answer.version === 2)
      expect(seen.slice(firstNew + 4 * 1).every((answer) => answer.version === 2)).toBe(true)
    },
    T,
  )

  it(
    'two concurrent deploys: at least one succeeds, the other only with ACTIVE_CHANGED; both versions are kept and the active one serves its code',
    async () => {
      const runtime = await startServe()
      await writeProject(runtime.url, 1)
      expect((await cli(['secrets', 'set', 'API_KEY'], SECRET)).exitCode).toBe(0)
      expect((await cli(['secrets', 'push', '--yes'])).exitCode).toBe(0)
      const results = await Promise.all([
        cli(['deploy', '--yes', '--json']),
        cli(['deploy', '--yes', '--json']),
      ])
      const uploaded: string[] = []
      let succeeded = 0
      for (const result of results) {
        if (result.exitCode === 0) {
          succeeded++
          uploaded.push(result.json<{ version: { id: string } }>().version.id)
          continue
        }
        // Both planned against "nothing active": the second activation finds the first one's version.
        expect(result.exitCode, result.stderr + result.stdout).toBe(1)
        const { error } = result.json<{ error: { code: string; message: string } }>()
        expect(error.code).toBe('ACTIVE_CHANGED')
        const match =
          /^(v\d+) was uploaded but not activated: (v\d+) is now active \(someone deployed meanwhile\); run deploy again$/.exec(
            error.message,
          )
        expect(match, error.message).not.toBeNull()
        uploaded.push(match![1]!)
      }
      expect(succeeded).toBeGreaterThanOrEqual(1)
      expect(new Set(uploaded).size).toBe(2)
      const versions = (await cli(['versions', '--json'])).json<{
        active: string
        versions: { id: string }[]
      }>()
      expect(versions.versions.map((version) => version.id).sort()).toEqual([...uploaded].sort())
      expect(uploaded).toContain(versions.active)
      const answer = await invoke(runtime)
      expect(answer.status).toBe(200)
      expect(answer.body.version).toBe(1)
    },
    T,
  )
})
