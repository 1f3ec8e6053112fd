import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, readdir, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import type { ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, readyUrl, startCli, type RunningCli, type Sandbox } from '../helpers/cli.js'
import { errorCode, errorMessage, portAccepts, preflight, request, type Answer } from '../helpers/http.js'
import { hotFunction, hotLib } from '../helpers/hot-function.js'
import { readDevEvents, type DevEvents, type EventOf } from '../helpers/dev-events.js'
import { endAll } from '../helpers/processes.js'
import { until } from '../helpers/until.js'
import { startUpstream, type Reply, type Seen, type Upstream } from '../helpers/upstream.js'

/**
 * `centrali dev` end to end: the built CLI as a long-running process in a temp project, its
 * NDJSON events read line by line from stdout, real HTTP requests to it, and a real HTTP server
 * on 127.0.0.1 standing in for the provider (reached through `--map host=origin`).
 */

const T = 20_000
/** How long to wait for one event or line before failing. */
const WAIT = 10_000
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

let sandbox: Sandbox
let app: string
const processes: ResultPromise[] = []
const upstreams: Upstream[] = []
let badLines: string[] = []
/** When the test last wrote each watched file (see `edit`). */
let written = new Map<string, number>()

beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  badLines = []
  written = new Map()
})

afterEach(async () => {
  // Always: no dev process outlives its test, whatever happened in it.
  await endAll(processes, upstreams)
  await sandbox.cleanup()
  // --json stdout is NDJSON and nothing else.
  expect(badLines).toEqual([])
})

// ---------------------------------------------------------------------------------------------
// The project on disk.

interface ProjectSpec {
  /** File path (relative to the project) → content. */
  files: Record<string, string>
  /** Function name → entry file. */
  functions: Record<string, string>
  /** Trigger name → function name and extra trigger settings. */
  triggers: Record<string, { function: string } & Record<string, unknown>>
  domains?: string[]
}

function configText(spec: Omit<ProjectSpec, 'files'>): string {
  const config = {
    functions: Object.fromEntries(Object.entries(spec.functions).map(([name, entry]) => [name, { entry }])),
    triggers: Object.fromEntries(
      Object.entries(spec.triggers).map(([name, trigger]) => [name, { type: 'endpoint', ...trigger }]),
    ),
    domains: spec.domains ?? [],
  }
  return `${JSON.stringify(config, null, 2)}\n`
}

/** One trigger, `echo`, whose function returns 1. */
const ECHO_PROJECT: ProjectSpec = {
  files: { 'functions/echo.js': 'async function run() { return 1 }\n' },
  functions: { echo: 'functions/echo.js' },
  triggers: { echo: { function: 'echo' } },
}

async function writeProject(spec: ProjectSpec): Promise<void> {
  for (const [path, content] of Object.entries(spec.files)) await writeFile(join(app, path), content)
  await writeFile(join(app, 'centrali.json'), configText(spec))
}

/**
 * Saves a file that the running dev watches, at least 100 ms after the previous save of the same
 * file, and returns the event mark taken just before writing. chokidar drops a change that comes
 * within 50 ms of the previous one for the same path: pacing keeps one save to one `reload`, so
 * waiting for it means the new code is in. Back-to-back saves are covered by the 'rapid saves' tests,
 * which do not pace.
 */
async function edit(dev: Dev, path: string, content: string): Promise<number> {
  const full = join(app, path)
  const wait = (written.get(full) ?? 0) + 100 - Date.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  const since = dev.mark()
  await writeFile(full, content)
  written.set(full, Date.now())
  return since
}

/** dev on a project of one trigger, `hot`, whose function returns `{ version: 1 }`. */
async function startHotDev(): Promise<Dev> {
  await writeProject({
    files: { 'functions/hot.js': 'async function run() { return { version: 1 } }\n' },
    functions: { hot: 'functions/hot.js' },
    triggers: { hot: { function: 'hot' } },
  })
  return startDev()
}

async function setSecret(name: string, value: string): Promise<void> {
  const result = await sandbox.run(['secrets', 'set', name], { cwd: app, input: value })
  expect(result.exitCode, result.stderr).toBe(0)
}

// ---------------------------------------------------------------------------------------------
// A stand-in provider: a real HTTP server on 127.0.0.1 that records what it receives.

async function upstreamFor(reply?: (request: Seen) => Reply): Promise<Upstream> {
  const upstream = await startUpstream(reply)
  upstreams.push(upstream)
  return upstream
}

// ---------------------------------------------------------------------------------------------
// The dev process.

interface Dev extends DevEvents {
  child: ResultPromise
  url: string
  port: number
  lines: string[]
  stderr(): string
  exit: Promise<{ exitCode: number | undefined; signal: string | undefined }>
}

const untilDev = <T>(
  check: () => T | undefined,
  describe: () => string,
  child?: ResultPromise,
  timeoutMs = WAIT,
) => until(check, describe, { child, name: 'dev', timeoutMs })

/** `portFlag: false` leaves the port to centrali.json's dev.port. */
async function startDev(args: readonly string[] = [], { json = true, portFlag = true } = {}): Promise<Dev> {
  const portArgs = portFlag ? ['--port', '0'] : []
  const dev = startCli(['dev', ...portArgs, ...(json ? ['--json'] : []), ...args], {
    cwd: app,
    env: sandbox.env,
  })
  const { child } = dev
  processes.push(child)
  // Without --json the lines are for people: none is an event.
  const events = json ? readDevEvents(dev, WAIT, (line) => badLines.push(line)) : noEvents(dev)

  const url = json
    ? (await events.next('ready')).url
    : await untilDev(
        () => readyUrl(dev.lines),
        () => `no Ready line${dev.show()}`,
        child,
      )
  return Object.assign(events, {
    child,
    url,
    port: Number(new URL(url).port),
    lines: dev.lines,
    stderr: dev.stderr,
    exit: dev.exit,
  })
}

/** The events of a dev started without --json: none. */
function noEvents(dev: RunningCli): DevEvents {
  return {
    events: [],
    mark: () => 0,
    next: () => Promise.reject(new Error(`dev runs without --json${dev.show()}`)),
  }
}

function post(dev: Dev, trigger: string, payload: unknown = {}, headers: Record<string, string> = {}) {
  return request(`${dev.url}/endpoints/${trigger}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ payload }),
  })
}

const map = (host: string, upstream: Upstream) => ['--map', `${host}=${upstream.origin}`]

/** The processes whose parent is `pid` (Linux /proc). */
function childPids(pid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[1]) === pid) found.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return found
}

/** How dev exited, or 'hung' when it has not within `ms`. */
function exitWithin(dev: Dev, ms: number) {
  return Promise.race([dev.exit, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), ms))])
}

/** Waits (3 s at most) until none of `pids` is alive: nothing of dev's is left behind. */
function allGone(pids: number[]) {
  return untilDev(
    () => (pids.every((pid) => !alive(pid)) ? true : undefined),
    () => `still alive: ${pids.filter(alive).join(', ')}`,
    undefined,
    3_000,
  )
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------

describe('starting', () => {
  it(
    'human mode: "Ready on http://127.0.0.1:<port>" and one working curl line per endpoint',
    async () => {
      app = join(sandbox.dir, 'project')
      const init = await sandbox.run(['init', 'project', '--yes', '--template', 'generic'])
      expect(init.exitCode, init.stderr).toBe(0)
      // A second endpoint, so "one line per endpoint" is more than one line.
      const added = await sandbox.run(['functions', 'new', 'second', '--template', 'generic'], { cwd: app })
      expect(added.exitCode, added.stderr).toBe(0)
      const dev = await startDev([], { json: false })
      const port = dev.port
      expect(port).toBeGreaterThan(0)
      expect(dev.lines).toContain(`Ready on http://127.0.0.1:${port}`)
      const curls = await untilDev(
        () => {
          const found = dev.lines.filter((line) => line.includes('curl '))
          return found.length >= 2 ? found : undefined
        },
        () => dev.lines.join('\n'),
        dev.child,
      )
      expect(curls).toHaveLength(2)
      for (const trigger of ['api-proxy', 'second']) {
        const line = curls.find((candidate) => candidate.includes(`/endpoints/${trigger} `))
        expect(line, curls.join('\n')).toBeDefined()
        expect(line).toContain(
          `curl -s http://127.0.0.1:${port}/endpoints/${trigger} -H 'content-type: application/json' -d '{"payload":{"path":"/v1/data","body":{"hello":"world"}}}'`,
        )
        // The curl line points at a live endpoint (the template reports the missing secret).
        const answer = await post(dev, trigger)
        expect(answer.status).not.toBe(404)
      }
      // One line per invocation: time, trigger, status, duration against the timeout, the error.
      const line = await untilDev(
        () => dev.lines.find((candidate) => /^\d\d:\d\d:\d\d second 500 \d+ ms \/ 30000 ms/.test(candidate)),
        () => dev.lines.join('\n'),
        dev.child,
      )
      expect(line).toContain('SECRET_MISSING')
      // Human output has no JSON events on stdout.
      expect(dev.lines.some((line) => line.startsWith('{"type"'))).toBe(false)
    },
    T,
  )

  const occupied = async (run: (port: number) => Promise<void>) => {
    await writeProject(ECHO_PROJECT)
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    try {
      await run((blocker.address() as AddressInfo).port)
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()))
    }
  }

  it(
    'an occupied port: exit 1, PORT_IN_USE naming the port and --port',
    () =>
      occupied(async (port) => {
        const result = await sandbox.run(['dev', '--port', String(port)], { cwd: app })
        expect(result.exitCode).toBe(1)
        expect(result.stderr).toContain('PORT_IN_USE')
        expect(result.stderr).toContain(String(port))
        expect(result.stderr).toContain('--port')
      }),
    T,
  )

  it(
    'an occupied port with --json: exit 1 and the error as JSON on stdout, not silence',
    () =>
      occupied(async (port) => {
        // DESIGN §7: --json gives a machine-readable result; a tool driving dev must learn why it stopped.
        const result = await sandbox.run(['dev', '--port', String(port), '--json'], { cwd: app })
        expect(result.exitCode).toBe(1)
        expect(`${result.stdout}${result.stderr}`, 'dev --json printed nothing at all').toContain(
          'PORT_IN_USE',
        )
        expect(result.json<{ error: { code: string; message: string } }>().error).toMatchObject({
          code: 'PORT_IN_USE',
          message: expect.stringContaining(String(port)),
        })
      }),
    T,
  )

  it(
    'a client still sending its body when refused reads the answer, never a reset',
    async () => {
      await writeProject(ECHO_PROJECT)
      const dev = await startDev()
      // fetch sends the whole body before it gives the answer: when dev closed the connection with
      // the body still arriving, the reset reached it first, in 1 fetch of 3 to 5.
      const outcomes: string[] = []
      const send = async (path: string, mebibytes: number) => {
        try {
          const response = await fetch(`${dev.url}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: `{"payload":"${'x'.repeat(mebibytes * 1024 * 1024)}"}`,
          })
          const { error } = (await response.json()) as { error?: { code?: string } }
          outcomes.push(`${response.status} ${error?.code}`)
        } catch (error) {
          outcomes.push(`${(error as Error).message}: ${String((error as { cause?: unknown }).cause)}`)
        }
      }
      for (let round = 0; round < 8; round++) await send('/endpoints/echo', 8)
      for (let round = 0; round < 3; round++) await send('/endpoints/echo', 50)
      for (let round = 0; round < 4; round++) await send('/endpoints/no-such-trigger', 8)
      expect(outcomes).toEqual([
        ...Array<string>(11).fill('413 PAYLOAD_TOO_LARGE'),
        ...Array<string>(4).fill('404 TRIGGER_NOT_FOUND'),
      ])
    },
    T,
  )

  it(
    'a --port that is no port is a usage error (exit 2), and a --host that is no address of this machine is HOST_INVALID (exit 1)',
    async () => {
      await writeProject(ECHO_PROJECT)
      for (const port of ['70000', 'abc', '-1']) {
        const result = await sandbox.run(['dev', '--port', port, '--json'], { cwd: app })
        expect(result.exitCode, port).toBe(2)
        expect(result.json<{ error: { code: string; message: string } }>().error, port).toMatchObject({
          code: 'USAGE_ERROR',
          message: expect.stringMatching(/^--port: /),
        })
      }
      const nowhere = await sandbox.run(['dev', '--port', '0', '--host', '10.255.255.1'], { cwd: app })
      expect(nowhere.exitCode).toBe(1)
      expect(nowhere.stderr).toContain('Cannot listen on 10.255.255.1: it is not an address of this machine.')
      expect(nowhere.stderr).toContain('[HOST_INVALID]')
      // No bug report, and no warning about listening where dev never listened.
      expect(nowhere.stderr).not.toContain('This is a bug')
      expect(nowhere.stderr).not.toContain('listening on')
    },
    T,
  )

  it(
    'a --host on loopback other than 127.0.0.1: no warning, and the console URL printed is on that address and opens',
    async () => {
      await writeProject(ECHO_PROJECT)
      const dev = await startDev(['--host', '127.0.0.2'])
      const ready = dev.events.find((event) => event.type === 'ready')!
      expect(new URL(dev.url).hostname).toBe('127.0.0.2')
      expect(new URL(ready.console).hostname).toBe('127.0.0.2')
      expect((await request(ready.console)).status).toBe(200)
      expect((await post(dev, 'echo')).body).toBe(1)
      expect(dev.stderr()).not.toContain('listening on')
    },
    T,
  )

  it(
    'a non-loopback --host: a warning that anyone reaching the address can call the functions',
    async () => {
      await writeProject(ECHO_PROJECT)
      const open = await startDev(['--host', '0.0.0.0'])
      await untilDev(
        () => (open.stderr().includes('listening on 0.0.0.0') ? true : undefined),
        () => `no warning on stderr:\n${open.stderr()}`,
      )
      expect(open.stderr()).toContain('can call your functions with your secrets')
      expect((await post(open, 'echo')).body).toBe(1)
      // The default, loopback: no such warning.
      const local = await startDev()
      expect(new URL(local.url).hostname).toBe('127.0.0.1')
      expect(local.stderr()).not.toContain('listening on')
    },
    T,
  )
})

describe('the HTTP contract through dev', () => {
  it(
    '200 with the result; 404 listing triggers; 400; 413; 500; 504 (loop and silent upstream); 502; x-request-id; /healthz',
    async () => {
      const silent = await upstreamFor(() => ({ hang: true }))
      await writeProject({
        files: {
          'functions/echo.js': `async function run() {
  return { got: executionParams.payload, greeting: triggerParams.greeting, method: executionParams.method }
}
`,
          'functions/thrower.js': `async function run() { throw new Error('boom in run') }\n`,
          'functions/spin.js': 'async function run() { while (true) {} }\n',
          'functions/wait.js': `async function run() { return await api.httpGet('https://api.example.com/never') }\n`,
          'functions/blocked.js': `async function run() { return await api.httpGet('https://blocked.example.org/x') }\n`,
        },
        functions: {
          echo: 'functions/echo.js',
          thrower: 'functions/thrower.js',
          spin: 'functions/spin.js',
          wait: 'functions/wait.js',
          blocked: 'functions/blocked.js',
        },
        triggers: {
          echo: { function: 'echo', params: { greeting: 'hello' } },
          thrower: { function: 'thrower' },
          spin: { function: 'spin', timeoutMs: 300 },
          // Long enough for the call to reach the silent upstream even on a loaded machine.
          wait: { function: 'wait', timeoutMs: 1500 },
          blocked: { function: 'blocked' },
        },
        domains: ['api.example.com'],
      })
      const dev = await startDev(map('api.example.com', silent))
      const answers: Answer[] = []
      const keep = (answer: Answer) => (answers.push(answer), answer)

      const ok = keep(await post(dev, 'echo', { n: 1, s: 'x' }))
      expect(ok.status).toBe(200)
      expect(ok.body).toEqual({ got: { n: 1, s: 'x' }, greeting: 'hello', method: 'POST' })

      const unknown = keep(await post(dev, 'nope'))
      expect(unknown.status).toBe(404)
      expect(errorCode(unknown)).toBe('TRIGGER_NOT_FOUND')
      expect(errorMessage(unknown)).toContain('nope')
      expect(errorMessage(unknown)).toContain('Known triggers: echo, thrower, spin, wait, blocked')

      const badJson = keep(
        await request(`${dev.url}/endpoints/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"payload": nope',
        }),
      )
      expect(badJson.status).toBe(400)
      expect(errorCode(badJson)).toBe('BAD_JSON')

      const tooLarge = keep(
        await request(`${dev.url}/endpoints/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ payload: 'x'.repeat(1024 * 1024 + 16) }),
        }),
      )
      expect(tooLarge.status).toBe(413)
      expect(errorCode(tooLarge)).toBe('PAYLOAD_TOO_LARGE')

      // Valid JSON nested deeper than a structured clone can carry to the sandbox: refused, and
      // dev keeps serving (it once crashed on this).
      const depth = 100_000
      const tooDeep = keep(
        await request(`${dev.url}/endpoints/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: `{"payload":${'['.repeat(depth)}${']'.repeat(depth)}}`,
        }),
      )
      expect(tooDeep.status).toBe(400)
      expect(errorCode(tooDeep)).toBe('PAYLOAD_TOO_DEEP')

      const thrown = keep(await post(dev, 'thrower'))
      expect(thrown.status).toBe(500)
      expect(errorCode(thrown)).toBe('FUNCTION_ERROR')
      expect(errorMessage(thrown)).toContain('boom in run')

      // 'wait' first: 'spin' wedges its worker, and a fresh one takes a while to start.
      for (const trigger of ['wait', 'spin']) {
        const started = Date.now()
        const timedOut = keep(await post(dev, trigger))
        expect(timedOut.status, trigger).toBe(504)
        expect(errorCode(timedOut), trigger).toBe('FUNCTION_TIMEOUT')
        expect(Date.now() - started, trigger).toBeLessThan(5_000)
      }
      expect(silent.requests.map((seen) => seen.url)).toEqual(['/never'])

      const blocked = keep(await post(dev, 'blocked'))
      expect(blocked.status).toBe(502)
      expect(errorCode(blocked)).toBe('EGRESS_HOST_DENIED')
      expect(errorMessage(blocked)).toContain('blocked.example.org')

      // What a browser asks for by itself when the console is opened: a 404, and no event.
      const favicon = await request(`${dev.url}/favicon.ico`)
      expect(favicon.status).toBe(404)
      // The server is still fine after all that.
      const again = keep(await post(dev, 'echo', 2))
      expect(again).toMatchObject({ status: 200, body: { got: 2 } })

      const health = keep(await request(`${dev.url}/healthz`))
      expect(health.status).toBe(200)

      for (const answer of answers) expect(answer.requestId).toMatch(REQUEST_ID)
      expect(new Set(answers.map((answer) => answer.requestId)).size).toBe(answers.length)
      // Each invocation's events carry the request id the client got.
      for (const answer of [ok, thrown, blocked, again]) {
        const end = await dev.next('invocation.end', (event) => event.requestId === answer.requestId)
        expect(end.status).toBe(answer.status)
      }
      // A request answered before any function ran is an event too, with the code the client got.
      const refused = [
        [unknown, 'POST', '/endpoints/nope', 'nope'],
        [badJson, 'POST', '/endpoints/echo', 'echo'],
        [tooLarge, 'POST', '/endpoints/echo', 'echo'],
      ] as const
      for (const [answer, method, path, trigger] of refused) {
        const event = await dev.next('request.refused', (seen) => seen.requestId === answer.requestId)
        expect(event).toEqual({
          type: 'request.refused',
          requestId: answer.requestId,
          method,
          path,
          trigger,
          status: answer.status,
          error: { code: errorCode(answer), message: errorMessage(answer) },
        })
      }
      // Only those: an invocation, however it ended, /healthz and the favicon are not refused requests
      // (events keep their order: the favicon's would have come before the last invocation's end).
      expect(
        dev.events.filter((event) => event.type === 'request.refused').map((event) => event.requestId),
      ).toEqual(refused.map(([answer]) => answer.requestId))
    },
    T,
  )
})

describe('CORS', () => {
  it(
    '"*" with credentials: dev does not start, CONFIG_INVALID naming the file and triggers.<name>.cors',
    async () => {
      await writeProject({
        ...ECHO_PROJECT,
        triggers: { echo: { function: 'echo', cors: { origins: ['*'], credentials: true } } },
      })
      const result = await sandbox.run(['dev', '--port', '0', '--json'], { cwd: app })
      expect(result.exitCode).toBe(1)
      const { error } = result.json<{
        error: { code: string; problems: { file: string; path: string; line: number; message: string }[] }
      }>()
      expect(error.code).toBe('CONFIG_INVALID')
      expect(error.problems).toEqual([
        expect.objectContaining({
          file: 'centrali.json',
          path: 'triggers.echo.cors',
          message: expect.stringContaining(
            'expected the origins listed explicitly when "credentials" is true',
          ),
        }),
      ])
    },
    T,
  )

  it(
    '--cors \'*\' on a trigger with credentials: its listed origin keeps them, any other gets "*" without; an unknown trigger too',
    async () => {
      await writeProject({
        ...ECHO_PROJECT,
        triggers: {
          echo: { function: 'echo', cors: { origins: ['http://app.test'], credentials: true } },
        },
      })
      const dev = await startDev(['--cors', '*'])
      for (const trigger of ['echo', 'ecoh']) {
        for (const method of ['OPTIONS', 'POST']) {
          const from = (origin: string) =>
            request(`${dev.url}/endpoints/${trigger}`, {
              method,
              headers: { origin, 'access-control-request-method': 'POST' },
              ...(method === 'POST' ? { body: '{}' } : {}),
            })
          const what = `${method} ${trigger}`
          const foreign = await from('http://evil.test')
          expect(foreign.headers.get('access-control-allow-origin'), what).toBe('*')
          expect(foreign.headers.get('access-control-allow-credentials'), what).toBeNull()
          const app = await from('http://app.test')
          expect(app.headers.get('access-control-allow-origin'), what).toBe('http://app.test')
          expect(app.headers.get('access-control-allow-credentials'), what).toBe('true')
        }
      }
    },
    T,
  )

  it(
    'a preflight from an allowed origin asking for a header or a method the trigger does not allow: 204 with the CORS headers, and a cors.refused event naming it',
    async () => {
      await writeProject({
        ...ECHO_PROJECT,
        triggers: {
          echo: { function: 'echo', cors: { origins: ['http://app.test'], headers: ['x-custom'] } },
        },
      })
      const dev = await startDev()
      const ask = (method: string, headers: string) =>
        preflight(`${dev.url}/endpoints/echo`, 'http://app.test', method, headers)

      let since = dev.mark()
      const header = await ask('POST', 'content-type, x-user-token')
      expect(header.status).toBe(204)
      expect(header.headers.get('access-control-allow-origin')).toBe('http://app.test')
      expect(header.headers.get('access-control-allow-headers')).not.toContain('x-user-token')
      expect(await dev.next('cors.refused', () => true, since)).toEqual({
        type: 'cors.refused',
        trigger: 'echo',
        origin: 'http://app.test',
        reason:
          'the preflight from http://app.test asks to send the header x-user-token, which this trigger does not allow (it allows content-type, authorization, x-request-id, accept, accept-language, content-language, range, x-custom)',
        fix: 'add "x-user-token" to triggers.echo.cors.headers in centrali.json',
      })

      since = dev.mark()
      const method = await ask('PUT', 'content-type')
      expect(method.status).toBe(204)
      expect(method.headers.get('access-control-allow-origin')).toBe('http://app.test')
      expect(await dev.next('cors.refused', () => true, since)).toMatchObject({
        reason: 'the preflight from http://app.test asks for PUT; endpoints take POST only',
        fix: 'send the request with POST, the one method endpoints take',
      })

      // What the trigger allows, in any case and spacing, and the safelisted headers: nothing to say.
      since = dev.mark()
      expect((await ask('POST', 'Content-Type,X-Custom , accept-language')).status).toBe(204)
      expect((await post(dev, 'echo', {}, { origin: 'http://app.test', 'x-custom': '1' })).status).toBe(200)
      await dev.next('invocation.end', () => true, since)
      expect(dev.events.slice(since).filter((event) => event.type === 'cors.refused')).toEqual([])
    },
    T,
  )

  it(
    'preflights, headers on results, errors and timeouts; a foreign origin gets none and a cors.refused event; --cors adds one',
    async () => {
      const cors = {
        origins: ['http://app.test'],
        headers: ['x-custom'],
        credentials: true,
        maxAgeSeconds: 120,
      }
      await writeProject({
        files: {
          'functions/echo.js': 'async function run() { return { ok: true } }\n',
          'functions/thrower.js': `async function run() { throw new Error('nope') }\n`,
          'functions/spin.js': 'async function run() { while (true) {} }\n',
        },
        functions: { echo: 'functions/echo.js', thrower: 'functions/thrower.js', spin: 'functions/spin.js' },
        triggers: {
          echo: { function: 'echo', cors },
          thrower: { function: 'thrower', cors },
          spin: { function: 'spin', timeoutMs: 300, cors },
          plain: { function: 'echo' },
        },
      })
      const dev = await startDev(['--cors', 'http://other.test'])
      const endpoint = (trigger: string) => `${dev.url}/endpoints/${trigger}`

      const preflight = await request(endpoint('echo'), {
        method: 'OPTIONS',
        headers: {
          origin: 'http://app.test',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type, x-custom',
        },
      })
      expect(preflight.status).toBe(204)
      expect(preflight.requestId).toMatch(REQUEST_ID)
      expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.test')
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST')
      expect(preflight.headers.get('access-control-allow-headers')).toContain('content-type')
      expect(preflight.headers.get('access-control-allow-headers')).toContain('x-custom')
      expect(preflight.headers.get('access-control-allow-credentials')).toBe('true')
      expect(preflight.headers.get('access-control-max-age')).toBe('120')

      const fromApp = { origin: 'http://app.test' }
      const ok = await post(dev, 'echo', {}, fromApp)
      expect(ok.status).toBe(200)
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://app.test')
      expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id')

      const failed = await post(dev, 'thrower', {}, fromApp)
      expect(failed.status).toBe(500)
      expect(failed.headers.get('access-control-allow-origin')).toBe('http://app.test')
      const timedOut = await post(dev, 'spin', {}, fromApp)
      expect(timedOut.status).toBe(504)
      expect(timedOut.headers.get('access-control-allow-origin')).toBe('http://app.test')
      const badJson = await request(endpoint('echo'), { method: 'POST', headers: fromApp, body: '{' })
      expect(badJson.status).toBe(400)
      expect(badJson.headers.get('access-control-allow-origin')).toBe('http://app.test')

      // A page with the endpoint at its own origin, behind its dev server's proxy (Vite's
      // server.proxy passes its Origin on): it runs, and the browser refuses nothing, so dev is quiet.
      const since = dev.mark()
      const proxied = await post(
        dev,
        'echo',
        {},
        { origin: 'http://proxied.test', 'sec-fetch-site': 'same-origin' },
      )
      expect(proxied.status).toBe(200)
      // A foreign origin: no CORS headers at all, and dev says why the browser will refuse.
      const foreign = await post(dev, 'echo', {}, { origin: 'http://evil.test' })
      expect(foreign.status).toBe(200)
      expect([...foreign.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([])
      const refused = await dev.next('cors.refused', (event) => event.trigger === 'echo', since)
      expect(refused).toMatchObject({
        origin: 'http://evil.test',
        reason:
          'http://evil.test is not one of the origins allowed to call this trigger (http://app.test, http://other.test)',
        fix: 'add "http://evil.test" to triggers.echo.cors.origins in centrali.json, or start dev with --cors http://evil.test',
      })
      // Events keep their order: the proxied page's would have come before this one.
      expect(
        dev.events
          .slice(since)
          .filter((event) => event.type === 'cors.refused' && event.origin === 'http://proxied.test'),
      ).toEqual([])
      const foreignPreflight = await request(endpoint('echo'), {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST' },
      })
      expect(foreignPreflight.headers.get('access-control-allow-origin')).toBeNull()

      // --cors http://other.test: allowed on a trigger with its own origins and on one without.
      for (const trigger of ['echo', 'plain']) {
        const other = await post(dev, trigger, {}, { origin: 'http://other.test' })
        expect(other.status, trigger).toBe(200)
        expect(other.headers.get('access-control-allow-origin'), trigger).toBe('http://other.test')
        const otherPreflight = await request(endpoint(trigger), {
          method: 'OPTIONS',
          headers: { origin: 'http://other.test', 'access-control-request-method': 'POST' },
        })
        expect(otherPreflight.status, trigger).toBe(204)
        expect(otherPreflight.headers.get('access-control-allow-origin'), trigger).toBe('http://other.test')
      }
      // The trigger without cors still refuses app.test: --cors added one origin, nothing more.
      const plainFromApp = await post(dev, 'plain', {}, fromApp)
      expect(plainFromApp.headers.get('access-control-allow-origin')).toBeNull()

      // A misspelled trigger, from an origin some trigger (or --cors) allows: the preflight passes
      // and the 404 carries CORS headers, so the page reads TRIGGER_NOT_FOUND, not a network error.
      for (const origin of ['http://app.test', 'http://other.test']) {
        const typoPreflight = await request(endpoint('ecoh'), {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST' },
        })
        expect(typoPreflight.status, origin).toBe(204)
        expect(typoPreflight.headers.get('access-control-allow-origin'), origin).toBe(origin)
        const typo = await post(dev, 'ecoh', {}, { origin })
        expect(typo.status, origin).toBe(404)
        expect(errorCode(typo), origin).toBe('TRIGGER_NOT_FOUND')
        expect(typo.headers.get('access-control-allow-origin'), origin).toBe(origin)
      }
      // From an origin no trigger allows: no CORS headers, and the preflight is the plain 404.
      const typoPreflight = await request(endpoint('ecoh'), {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST' },
      })
      expect(typoPreflight.status).toBe(404)
      expect(typoPreflight.headers.get('access-control-allow-origin')).toBeNull()
      // The browser shows a bare CORS error there; dev names the misspelt trigger.
      expect(
        await dev.next('request.refused', (event) => event.requestId === typoPreflight.requestId),
      ).toMatchObject({
        method: 'OPTIONS',
        path: '/endpoints/ecoh',
        status: 404,
        error: { code: 'TRIGGER_NOT_FOUND' },
      })
      const typoForeign = await post(dev, 'ecoh', {}, { origin: 'http://evil.test' })
      expect(typoForeign.status).toBe(404)
      expect(typoForeign.headers.get('access-control-allow-origin')).toBeNull()
    },
    T,
  )
})

describe('hot reload', () => {
  it(
    'the function, a module it imports, a syntax error (stale build served) and its fix',
    async () => {
      await writeProject({
        files: { 'functions/hot.ts': hotFunction(1), 'functions/lib.ts': hotLib('a') },
        functions: { hot: 'functions/hot.ts' },
        triggers: { hot: { function: 'hot' } },
      })
      const dev = await startDev()
      const first = await post(dev, 'hot')
      expect(first.body).toEqual({ version: 1, label: 'a' })
      expect(first.headers.get('x-centrali-build')).toBeNull()

      // The function file.
      let since = await edit(dev, 'functions/hot.ts', hotFunction(2))
      const reload = await dev.next('reload', (event) => event.file === 'functions/hot.ts', since)
      expect(reload).toMatchObject({ what: 'function', function: 'hot' })
      expect(reload.durationMs).toBeGreaterThanOrEqual(0)
      expect((await post(dev, 'hot')).body).toEqual({ version: 2, label: 'a' })

      // A module it imports.
      since = await edit(dev, 'functions/lib.ts', hotLib('b'))
      expect(await dev.next('reload', (event) => event.file === 'functions/lib.ts', since)).toMatchObject({
        what: 'function',
        function: 'hot',
      })
      expect((await post(dev, 'hot')).body).toEqual({ version: 2, label: 'b' })

      // A syntax error on line 4: reported with file:line, the last good build keeps serving.
      since = await edit(dev, 'functions/hot.ts', hotFunction(3).replace('= 3', '= = 3'))
      const broken = await dev.next('build.error', (event) => event.function === 'hot', since)
      // The column of the second '=', and a code frame pointing at it.
      const brokenLine = '  const version: number = = 3'
      const column = brokenLine.lastIndexOf('=')
      expect(broken.problems[0]).toMatchObject({
        file: 'functions/hot.ts',
        line: 4,
        column,
        lineText: brokenLine,
      })
      expect(broken.message).toContain(`functions/hot.ts:4:${column + 1}: `)
      expect(broken.serving).toBe(true)
      expect(broken.message).toContain(`\n    ${brokenLine}\n    ${' '.repeat(column)}^`)
      const stale = await post(dev, 'hot')
      expect(stale.status, JSON.stringify(stale.body)).toBe(200)
      expect(stale.body).toEqual({ version: 2, label: 'b' })
      expect(stale.headers.get('x-centrali-build')).toBe('stale')
      const staleEnd = await dev.next('invocation.end', (event) => event.requestId === stale.requestId)
      expect(staleEnd.stale).toBe(true)
      // Nothing was reloaded since the error: the broken source never replaced the good build.
      const afterError = dev.events.slice(dev.events.indexOf(broken))
      expect(afterError.filter((event) => event.type === 'reload')).toEqual([])

      // A file that ends unfinished (its closing brace not typed yet): the error is at its own last
      // line, never in the lines the build appends after it.
      const unfinished = hotFunction(3).replace(/\}\n$/, '')
      since = await edit(dev, 'functions/hot.ts', unfinished)
      const cut = await dev.next('build.error', (event) => event.function === 'hot', since)
      expect(cut.problems).toEqual([
        {
          file: 'functions/hot.ts',
          line: unfinished.split('\n').length,
          column: 0,
          lineText: '',
          message: expect.stringContaining('end of file'),
        },
      ])
      expect(cut.message).not.toMatch(/__centrali|export \{ run/)

      // The fix recovers by itself.
      since = await edit(dev, 'functions/hot.ts', hotFunction(3))
      await dev.next('reload', (event) => event.file === 'functions/hot.ts', since)
      const fixed = await post(dev, 'hot')
      expect(fixed.body).toEqual({ version: 3, label: 'b' })
      expect(fixed.headers.get('x-centrali-build')).toBeNull()
      const fixedEnd = await dev.next('invocation.end', (event) => event.requestId === fixed.requestId)
      expect(fixedEnd.stale).toBe(false)
    },
    T,
  )

  it(
    'a function that has never built: its callers get BUILD_FAILED with where and why but not the line, which may hold a key',
    async () => {
      const key = 'sk_live_written_into_the_code_0123'
      await writeProject({
        files: { 'functions/broken.js': `async function run() {\n  const key = '${key}' + + ;\n}\n` },
        functions: { broken: 'functions/broken.js' },
        triggers: { broken: { function: 'broken' } },
      })
      const dev = await startDev()
      const failed = await dev.next('build.error', (event) => event.function === 'broken')
      expect(failed.serving).toBe(false)
      // dev's own output shows the line, as the person's editor does.
      expect(failed.message).toContain(key)
      const answer = await post(dev, 'broken')
      expect(answer.status).toBe(500)
      expect(errorCode(answer)).toBe('BUILD_FAILED')
      expect(errorMessage(answer)).toMatch(/^The function does not build: functions\/broken\.js:2:\d+: /)
      expect(JSON.stringify(answer.body)).not.toContain(key)
    },
    T,
  )

  it(
    'a restart serves the build cached by the last run, never one older than the files, and still reloads',
    async () => {
      const code = (version: number) => `import { label } from './lib'
export async function run() { return { version: ${version}, label } }
`
      await writeProject({
        files: { 'functions/cached.ts': code(1), 'functions/lib.ts': `export const label = 'a'\n` },
        functions: { cached: 'functions/cached.ts' },
        triggers: { cached: { function: 'cached' } },
      })
      const stopDev = async (dev: Dev) => {
        dev.child.kill('SIGTERM')
        expect((await dev.exit).exitCode).toBe(0)
      }
      let dev = await startDev()
      expect((await post(dev, 'cached')).body).toEqual({ version: 1, label: 'a' })
      await stopDev(dev)
      const cacheFiles = await readdir(join(app, '.centrali/build-cache'))
      expect(cacheFiles.length).toBe(1)

      // Restarted with nothing changed: the cached build serves, and an edit still reloads.
      dev = await startDev()
      expect((await post(dev, 'cached')).body).toEqual({ version: 1, label: 'a' })
      let since = await edit(dev, 'functions/lib.ts', `export const label = 'b'\n`)
      await dev.next('reload', (event) => event.file === 'functions/lib.ts', since)
      expect((await post(dev, 'cached')).body).toEqual({ version: 1, label: 'b' })
      since = await edit(dev, 'functions/cached.ts', code(2))
      await dev.next('reload', (event) => event.file === 'functions/cached.ts', since)
      expect((await post(dev, 'cached')).body).toEqual({ version: 2, label: 'b' })
      await stopDev(dev)

      // A module edited while dev was stopped: the cache is stale, and the new code serves.
      await edit(dev, 'functions/lib.ts', `export const label = 'c'\n`)
      dev = await startDev()
      expect((await post(dev, 'cached')).body).toEqual({ version: 2, label: 'c' })
      await stopDev(dev)
    },
    T,
  )

  it(
    'an invocation running across a reload finishes on the old code; the next request runs the new',
    async () => {
      const upstream = await upstreamFor(() => ({ json: { slow: true }, delayMs: 800 }))
      const code = (version: string) => `async function run() {
  if (executionParams.payload && executionParams.payload.wait) await api.httpGet('https://api.example.com/slow')
  return { version: '${version}' }
}
`
      await writeProject({
        files: { 'functions/swap.js': code('old') },
        functions: { swap: 'functions/swap.js' },
        triggers: { swap: { function: 'swap' } },
        domains: ['api.example.com'],
      })
      const dev = await startDev(map('api.example.com', upstream))
      const running = post(dev, 'swap', { wait: true })
      await untilDev(
        () => (upstream.requests.length > 0 ? true : undefined),
        () => 'the upstream got no request',
      )
      const since = await edit(dev, 'functions/swap.js', code('new'))
      await dev.next('reload', (event) => event.file === 'functions/swap.js', since)
      const after = await post(dev, 'swap', { wait: false })
      expect(after.body).toEqual({ version: 'new' })

      const before = await running
      expect(before.status).toBe(200)
      expect(before.body).toEqual({ version: 'old' })
      // It really was running when the reload happened.
      const end = await dev.next('invocation.end', (event) => event.requestId === before.requestId)
      const reloadAt = dev.events.findIndex((event) => event.type === 'reload')
      const endAt = dev.events.indexOf(end)
      expect(reloadAt).toBeGreaterThanOrEqual(0)
      expect(endAt).toBeGreaterThan(reloadAt)
    },
    T,
  )

  it(
    'an import written before its module (in a directory that exists, then in a new one, then two levels down): a build error; other files written meanwhile add nothing; the module, once created, is served and watched',
    async () => {
      const dev = await startHotDev()
      let since = await edit(
        dev,
        'functions/hot.js',
        `import { version } from './version.js'\nexport async function run() { return { version } }\n`,
      )
      await dev.next('build.error', (event) => event.function === 'hot', since)

      // Files that do not fix it (notes, an editor's backup): the build is tried again, quietly.
      since = dev.mark()
      await writeFile(join(app, 'functions/notes.txt'), 'to do\n')
      await writeFile(join(app, 'functions/hot.js~'), 'old\n')
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(dev.events.slice(since).filter((event) => event.type === 'build.error')).toEqual([])
      expect((await post(dev, 'hot')).body).toEqual({ version: 1 })

      since = await edit(dev, 'functions/version.js', 'export const version = 2\n')
      await dev.next('reload', (event) => event.file === 'functions/version.js', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 2 })
      // Now one of the function's modules: its edits reload.
      since = await edit(dev, 'functions/version.js', 'export const version = 3\n')
      await dev.next('reload', (event) => event.file === 'functions/version.js', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3 })

      // A module in a directory that does not exist yet: made, and the file written at once.
      since = await edit(
        dev,
        'functions/hot.js',
        `import { version } from './version.js'\nimport { extra } from './lib/extra.js'\nexport async function run() { return { version, extra } }\n`,
      )
      await dev.next('build.error', (event) => event.function === 'hot', since)
      since = dev.mark()
      await mkdir(join(app, 'functions/lib'))
      await writeFile(join(app, 'functions/lib/extra.js'), 'export const extra = true\n')
      await dev.next('reload', (event) => event.function === 'hot', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, extra: true })
      // And watched from then on.
      since = await edit(dev, 'functions/lib/extra.js', 'export const extra = false\n')
      await dev.next('reload', (event) => event.file === 'functions/lib/extra.js', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, extra: false })

      // Two levels of new directory at once (`mkdir -p`), the module written a while later.
      since = await edit(
        dev,
        'functions/hot.js',
        `import { version } from './version.js'\nimport { deep } from './deep/er/deep.js'\nexport async function run() { return { version, deep } }\n`,
      )
      await dev.next('build.error', (event) => event.function === 'hot', since)
      await mkdir(join(app, 'functions/deep/er'), { recursive: true })
      await new Promise((resolve) => setTimeout(resolve, 500))
      since = dev.mark()
      await writeFile(join(app, 'functions/deep/er/deep.js'), 'export const deep = 2\n')
      await dev.next('reload', (event) => event.function === 'hot', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, deep: 2 })
    },
    T,
  )

  it(
    'a console call (the sandbox has none): a warning with its file, line and what to use instead, on the build that has it',
    async () => {
      const dev = await startHotDev()
      const since = await edit(
        dev,
        'functions/hot.js',
        "async function run() {\n  console.log('debugging')\n  return { version: 2 }\n}\n",
      )
      await dev.next('reload', (event) => event.file === 'functions/hot.js', since)
      const warning = await dev.next('warning', () => true, since)
      expect(warning.message).toBe(
        "functions/hot.js:2:3: console does not exist in the sandbox, so this call throws; use api.log(value) or api.logError(value), which dev and the runtime show\n      console.log('debugging')\n      ^",
      )
      // As said: the call throws, and the stack points at it.
      const answer = await post(dev, 'hot')
      expect(answer.status).toBe(500)
      const end = await dev.next('invocation.end', (event) => event.requestId === answer.requestId, since)
      expect(end.error?.stack).toEqual(['at run (functions/hot.js:2:11)'])
    },
    T,
  )

  it(
    'while a function does not build, its files are looked at besides the watcher: a fix where dev does not watch (node_modules) is served too',
    async () => {
      await mkdir(join(app, 'node_modules/shout'), { recursive: true })
      await writeFile(
        join(app, 'node_modules/shout/package.json'),
        '{ "name": "shout", "main": "index.js" }\n',
      )
      await writeFile(
        join(app, 'node_modules/shout/index.js'),
        'module.exports = (text) => text.toUpperCase()\n',
      )
      await writeProject({
        files: {
          'functions/hot.js':
            "import shout from 'shout'\nexport async function run() { return shout('hi') }\n",
        },
        functions: { hot: 'functions/hot.js' },
        triggers: { hot: { function: 'hot' } },
      })
      const dev = await startDev()
      expect((await post(dev, 'hot')).body).toBe('HI')

      // The package broken, then the function saved: its build fails on the package's file.
      await writeFile(
        join(app, 'node_modules/shout/index.js'),
        'module.exports = (text) => text.toUpperCase(\n',
      )
      let since = await edit(
        dev,
        'functions/hot.js',
        "import shout from 'shout'\nexport async function run() { return shout('hey') }\n",
      )
      const failed = await dev.next('build.error', (event) => event.function === 'hot', since)
      expect(failed.message).toContain('node_modules/shout/index.js')
      // Fixed where no watcher looks, from a copy that keeps its old modification time (`cp -p`
      // from a backup; a write just after a build started can also carry an earlier time, the
      // file system's clock being coarse): the build is tried again, and the error is not said twice.
      since = dev.mark()
      const backup = join(sandbox.dir, 'index.js.backup') // outside the project: no watcher sees it
      await writeFile(backup, 'module.exports = (text) => text.toUpperCase() + "!"\n')
      const anHourAgo = new Date(Date.now() - 3_600_000)
      await utimes(backup, anHourAgo, anHourAgo)
      await rename(backup, join(app, 'node_modules/shout/index.js'))
      await dev.next('reload', (event) => event.function === 'hot', since)
      expect((await post(dev, 'hot')).body).toBe('HEY!')
      expect(dev.events.slice(since).filter((event) => event.type === 'build.error')).toEqual([])
    },
    T,
  )
})

describe('rapid saves (no pacing: a save right after the previous one must not be lost)', () => {
  /** Requests until the trigger answers `expected` or `timeoutMs` passes; the last body. */
  async function served(dev: Dev, trigger: string, expected: unknown, timeoutMs = 3_000) {
    const deadline = Date.now() + timeoutMs
    let body: unknown
    do {
      body = (await post(dev, trigger)).body
      if (isDeepStrictEqual(body, expected)) break
      await new Promise((resolve) => setTimeout(resolve, 25))
    } while (Date.now() < deadline)
    return body
  }

  it(
    'a function saved again right after its reload (format on save): the second save is served',
    async () => {
      const code = (version: number) => `export async function run() { return { version: ${version} } }\n`
      await writeProject({
        files: { 'functions/fmt.ts': code(1) },
        functions: { fmt: 'functions/fmt.ts' },
        triggers: { fmt: { function: 'fmt' } },
      })
      const dev = await startDev()
      expect((await post(dev, 'fmt')).body).toEqual({ version: 1 })
      const since = dev.mark()
      await writeFile(join(app, 'functions/fmt.ts'), code(2))
      await dev.next('reload', (event) => event.file === 'functions/fmt.ts', since)
      await writeFile(join(app, 'functions/fmt.ts'), code(3))
      expect(await served(dev, 'fmt', { version: 3 })).toEqual({ version: 3 })
    },
    T,
  )

  it(
    'centrali.json saved again right after its reload: the second save is in force',
    async () => {
      const spec = (greeting: string) => ({
        functions: { greet: 'functions/greet.js' },
        triggers: { greet: { function: 'greet', params: { greeting } } },
      })
      await writeProject({
        files: { 'functions/greet.js': 'async function run() { return triggerParams.greeting }\n' },
        ...spec('one'),
      })
      const dev = await startDev()
      expect((await post(dev, 'greet')).body).toBe('one')
      const since = dev.mark()
      await writeFile(join(app, 'centrali.json'), configText(spec('two')))
      await dev.next('reload', (event) => event.what === 'config', since)
      await writeFile(join(app, 'centrali.json'), configText(spec('three')))
      expect(await served(dev, 'greet', 'three')).toBe('three')
    },
    T,
  )
})

describe('centrali.json reload', () => {
  it(
    'a new dev.port: a warning that dev keeps its port until restarted; the rest of the change is in force',
    async () => {
      const withDev = (port: number, greeting: string) => {
        const config = JSON.parse(
          configText({
            functions: { greet: 'functions/greet.js' },
            triggers: { greet: { function: 'greet', params: { greeting } } },
          }),
        ) as Record<string, unknown>
        return `${JSON.stringify({ ...config, dev: { port } }, null, 2)}\n`
      }
      await writeFile(
        join(app, 'functions/greet.js'),
        'async function run() { return triggerParams.greeting }\n',
      )
      await writeFile(join(app, 'centrali.json'), withDev(0, 'hello'))
      const dev = await startDev([], { portFlag: false })
      expect((await post(dev, 'greet')).body).toBe('hello')

      let since = await edit(dev, 'centrali.json', withDev(45_678, 'hi'))
      await dev.next('reload', (event) => event.what === 'config', since)
      const warning = dev.events.slice(since).find((event) => event.type === 'warning')
      expect(warning).toEqual({
        type: 'warning',
        message: `centrali.json: dev.port is now 45678; dev listens on ${new URL(dev.url).port} until it is restarted`,
      })
      expect((await post(dev, 'greet')).body).toBe('hi')

      // Another change that leaves dev.port as it is: nothing more about the port.
      since = await edit(dev, 'centrali.json', withDev(45_678, 'hey'))
      await dev.next('reload', (event) => event.what === 'config', since)
      expect(dev.events.slice(since).filter((event) => event.type === 'warning')).toEqual([])
      expect((await post(dev, 'greet')).body).toBe('hey')
    },
    T,
  )

  it(
    'a domain added, a param changed, a broken file reported while the old config serves, then fixed',
    async () => {
      const upstream = await upstreamFor((seen) => ({ json: { from: 'upstream', path: seen.url } }))
      const spec = (greeting: string, domains: string[]) => ({
        functions: { call: 'functions/call.js', greet: 'functions/greet.js' },
        triggers: {
          call: { function: 'call' },
          greet: { function: 'greet', params: { greeting } },
        },
        domains,
      })
      await writeProject({
        files: {
          'functions/call.js': `async function run() { return await api.httpGet('https://api.example.com/data') }\n`,
          'functions/greet.js': 'async function run() { return { greeting: triggerParams.greeting } }\n',
        },
        ...spec('hello', []),
      })
      const dev = await startDev(map('api.example.com', upstream))
      const pid = dev.child.pid!

      const denied = await post(dev, 'call')
      expect(denied.status).toBe(502)
      expect(errorCode(denied)).toBe('EGRESS_HOST_DENIED')
      expect(upstream.requests).toHaveLength(0)

      // `centrali domains add` in another process; dev picks it up without a restart.
      let since = dev.mark()
      const added = await sandbox.run(['domains', 'add', 'api.example.com'], { cwd: app })
      expect(added.exitCode, added.stderr).toBe(0)
      written.set(join(app, 'centrali.json'), Date.now())
      await dev.next('reload', (event) => event.what === 'config' && event.file === 'centrali.json', since)
      const allowed = await post(dev, 'call')
      expect(allowed.status).toBe(200)
      expect(allowed.body).toEqual({ from: 'upstream', path: '/data' })
      expect(upstream.requests.map((seen) => [seen.url, seen.host])).toEqual([['/data', 'api.example.com']])

      // A trigger param.
      expect((await post(dev, 'greet')).body).toEqual({ greeting: 'hello' })
      since = await edit(dev, 'centrali.json', configText(spec('bonjour', ['api.example.com'])))
      await dev.next('reload', (event) => event.what === 'config', since)
      expect((await post(dev, 'greet')).body).toEqual({ greeting: 'bonjour' })

      // Not JSON: reported, the last good config stays in force.
      since = await edit(dev, 'centrali.json', '{ "functions": { ')
      const notJson = await dev.next('config.error', () => true, since)
      expect(notJson.file).toBe('centrali.json')
      expect((await post(dev, 'greet')).body).toEqual({ greeting: 'bonjour' })
      expect((await post(dev, 'call')).status).toBe(200)

      // Valid JSON, invalid config: reported with the offending path.
      const invalid = JSON.parse(configText(spec('invalid', ['api.example.com']))) as {
        triggers: { greet: Record<string, unknown> }
      }
      invalid.triggers.greet.timeoutMs = -5
      since = await edit(dev, 'centrali.json', JSON.stringify(invalid, null, 2))
      // The save before may still be reported once more (dev re-checks a changed file 80 ms on,
      // see edit()): the event for this save is the one about its content.
      const badValue = await dev.next(
        'config.error',
        (event) => !event.message.includes('JSON syntax'),
        since,
      )
      expect(`${badValue.message}${JSON.stringify(badValue.problems)}`).toContain('timeoutMs')
      expect((await post(dev, 'greet')).body).toEqual({ greeting: 'bonjour' })

      // The fix recovers by itself.
      since = await edit(dev, 'centrali.json', configText(spec('hi again', ['api.example.com'])))
      await dev.next('reload', (event) => event.what === 'config', since)
      expect((await post(dev, 'greet')).body).toEqual({ greeting: 'hi again' })
      expect((await post(dev, 'call')).status).toBe(200)
      // Same process all along.
      expect(dev.child.pid).toBe(pid)
      expect(dev.events.filter((event) => event.type === 'ready')).toHaveLength(1)
    },
    T,
  )
})

describe('functions added while dev runs', () => {
  it(
    'a function added to centrali.json is served and reloads on edits, of its file and of a symlinked module; an edit reloads only the function it touches',
    async () => {
      await mkdir(join(app, 'shared'))
      await writeProject({
        files: {
          'functions/first.js': 'async function run() { return { first: 1 } }\n',
          'shared/label.js': `export const label = 'a'\n`,
        },
        functions: { first: 'functions/first.js' },
        triggers: { first: { function: 'first' } },
      })
      // A module reached through a symlink, as a monorepo's linked package is.
      await symlink(join(app, 'shared/label.js'), join(app, 'functions/label.js'))
      const dev = await startDev()
      expect((await post(dev, 'first')).body).toEqual({ first: 1 })

      const added = (version: number) => `import { label } from './label.js'
export async function run() { return { added: ${version}, label } }
`
      await writeFile(join(app, 'functions/added.js'), added(1))
      let since = await edit(
        dev,
        'centrali.json',
        configText({
          functions: { first: 'functions/first.js', added: 'functions/added.js' },
          triggers: { first: { function: 'first' }, added: { function: 'added' } },
        }),
      )
      await dev.next('reload', (event) => event.what === 'config', since)
      // Its first build is said as its own file's, not as a second reload of centrali.json.
      expect(dev.events.slice(since).filter((event) => event.type === 'reload')).toEqual([
        expect.objectContaining({ what: 'function', function: 'added', file: 'functions/added.js' }),
        expect.objectContaining({ what: 'config', file: 'centrali.json' }),
      ])
      expect((await post(dev, 'added')).body).toEqual({ added: 1, label: 'a' })

      // The new function's own file is watched from now on.
      since = await edit(dev, 'functions/added.js', added(2))
      await dev.next('reload', (event) => event.file === 'functions/added.js', since)
      expect((await post(dev, 'added')).body).toEqual({ added: 2, label: 'a' })

      // The module behind the symlink: only the function importing it is rebuilt.
      since = await edit(dev, 'shared/label.js', `export const label = 'b'\n`)
      const reload = await dev.next('reload', (event) => event.function === 'added', since)
      expect(reload.what).toBe('function')
      expect((await post(dev, 'added')).body).toEqual({ added: 2, label: 'b' })
      expect((await post(dev, 'first')).body).toEqual({ first: 1 })
      const reloaded = dev.events.slice(since).filter((event) => event.type === 'reload')
      expect(reloaded.map((event) => (event as EventOf<'reload'>).function)).not.toContain('first')
    },
    T,
  )

  it(
    "a new function's file edited the moment centrali.json names it (within chokidar's 50 ms, which drops such a change): the edit is served",
    async () => {
      const dev = await startHotDev()
      const fresh = (version: number) => `export async function run() { return { fresh: ${version} } }\n`
      const functions: Record<string, string> = { hot: 'functions/hot.js' }
      const triggers: Record<string, { function: string }> = { hot: { function: 'hot' } }
      // A few times over, since the window is a matter of milliseconds.
      for (const name of ['fresh1', 'fresh2', 'fresh3', 'fresh4']) {
        const file = `functions/${name}.js`
        functions[name] = file
        triggers[name] = { function: name }
        // centrali.json's last save well behind (chokidar would drop this one too), then the file,
        // centrali.json naming it, and the edit, each at once.
        await new Promise((resolve) => setTimeout(resolve, 200))
        const since = dev.mark()
        await writeFile(join(app, file), fresh(1))
        await writeFile(join(app, 'centrali.json'), configText({ functions, triggers }))
        await dev.next('reload', (event) => event.what === 'config', since)
        // After the config's reload, which follows the new function's first build (said as its file's).
        const edited = dev.mark()
        await writeFile(join(app, file), fresh(2))
        await dev.next('reload', (event) => event.file === file, edited)
        expect((await post(dev, name)).body, name).toEqual({ fresh: 2 })
      }
    },
    T,
  )

  it(
    'a secrets store created while dev runs: the missing secret is said at start and is a clear error, then the value set is used; a secret centrali.json comes to need is said then',
    async () => {
      const keyed = {
        files: {
          'functions/keyed.js': 'async function run() { return { length: triggerParams.key.length } }\n',
        },
        functions: { keyed: 'functions/keyed.js' },
        triggers: { keyed: { function: 'keyed', params: { key: { secret: 'LATE_KEY' } } } },
      }
      await writeProject(keyed)
      const dev = await startDev()
      const warning = (secret: string, trigger = 'keyed', param = 'key') =>
        `trigger ${trigger} needs the secret ${secret} (param "${param}"), which is not set; its requests fail with SECRET_MISSING until you run \`centrali secrets set ${secret}\``
      expect((await dev.next('warning', (event) => event.message.includes('LATE_KEY'))).message).toBe(
        warning('LATE_KEY'),
      )
      const missing = await post(dev, 'keyed')
      expect(missing.status).toBe(500)
      expect(errorMessage(missing)).toContain('LATE_KEY')
      expect(errorMessage(missing)).toContain('centrali secrets set LATE_KEY')

      const since = dev.mark()
      await setSecret('LATE_KEY', 'late-value-0123456789')
      const found = await post(dev, 'keyed')
      expect(found.status, JSON.stringify(found.body)).toBe(200)
      expect(found.body).toEqual({ length: 'late-value-0123456789'.length })
      await dev.next('reload', (event) => event.what === 'secrets', since)

      // A second trigger, on the secret now set and on one that is not: only the latter is said.
      const before = dev.mark()
      await writeFile(
        join(app, 'centrali.json'),
        configText({
          ...keyed,
          triggers: {
            ...keyed.triggers,
            other: {
              function: 'keyed',
              params: { key: { secret: 'LATE_KEY' }, extra: { secret: 'OTHER_KEY' } },
            },
          },
        }),
      )
      await dev.next('reload', (event) => event.what === 'config', before)
      expect((await dev.next('warning', () => true, before)).message).toBe(
        warning('OTHER_KEY', 'other', 'extra'),
      )
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(dev.events.slice(before).filter((event) => event.type === 'warning')).toHaveLength(1)
    },
    T,
  )
})

describe('files deleted and written again (a git checkout, an editor that saves by delete and create)', () => {
  it(
    'a function file and a module it imports: a build error while gone, the new code once back, and later edits still reload',
    async () => {
      const source = (version: number) => `import { label } from './label.js'
export async function run() { return { version: ${version}, label } }
`
      await writeProject({
        files: { 'functions/hot.js': source(1), 'functions/label.js': `export const label = 'a'\n` },
        functions: { hot: 'functions/hot.js' },
        triggers: { hot: { function: 'hot' } },
      })
      const dev = await startDev()
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'a' })

      // The function's file: gone, then back.
      let since = dev.mark()
      await rm(join(app, 'functions/hot.js'))
      await dev.next('build.error', (event) => event.function === 'hot', since)
      const stale = await post(dev, 'hot')
      expect(stale.body).toEqual({ version: 1, label: 'a' })
      expect(stale.headers.get('x-centrali-build')).toBe('stale')
      since = await edit(dev, 'functions/hot.js', source(2))
      await dev.next('reload', (event) => event.file === 'functions/hot.js', since)
      const back = await post(dev, 'hot')
      expect(back.body).toEqual({ version: 2, label: 'a' })
      expect(back.headers.get('x-centrali-build')).toBeNull()
      // Watched still: the next edit is served too.
      since = await edit(dev, 'functions/hot.js', source(3))
      await dev.next('reload', (event) => event.file === 'functions/hot.js', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, label: 'a' })

      // A module it imports: gone, then back, then edited.
      since = dev.mark()
      await rm(join(app, 'functions/label.js'))
      await dev.next('build.error', (event) => event.function === 'hot', since)
      since = await edit(dev, 'functions/label.js', `export const label = 'b'\n`)
      await dev.next('reload', (event) => event.file === 'functions/label.js', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, label: 'b' })
      since = await edit(dev, 'functions/label.js', `export const label = 'c'\n`)
      await dev.next('reload', (event) => event.file === 'functions/label.js', since)
      expect((await post(dev, 'hot')).body).toEqual({ version: 3, label: 'c' })
    },
    T,
  )

  it(
    'centrali.json, and the directory of the secrets store: deleted, made again, and watched from then on',
    async () => {
      const project = (label: string) => ({
        functions: { params: 'functions/params.js' },
        triggers: { params: { function: 'params', params: { label, key: { secret: 'API_KEY' } } } },
      })
      await writeProject({
        files: {
          'functions/params.js':
            'async function run() { return { label: triggerParams.label, key: triggerParams.key.length } }\n',
        },
        ...project('one'),
      })
      await setSecret('API_KEY', 'first-value')
      const dev = await startDev()
      expect((await post(dev, 'params')).body).toEqual({ label: 'one', key: 'first-value'.length })

      // centrali.json: gone (reported, the last good one stays in force), then back, then edited.
      let since = dev.mark()
      await rm(join(app, 'centrali.json'))
      await dev.next('config.error', () => true, since)
      expect((await post(dev, 'params')).body).toEqual({ label: 'one', key: 'first-value'.length })
      since = await edit(dev, 'centrali.json', configText(project('two')))
      await dev.next('reload', (event) => event.what === 'config', since)
      expect((await post(dev, 'params')).body).toEqual({ label: 'two', key: 'first-value'.length })
      since = await edit(dev, 'centrali.json', configText(project('three')))
      await dev.next('reload', (event) => event.what === 'config', since)
      expect((await post(dev, 'params')).body).toEqual({ label: 'three', key: 'first-value'.length })

      // The store's directory removed whole, then the secret set again: a new directory and store,
      // still watched (the reload), and the new value used.
      await rm(join(app, '.centrali'), { recursive: true })
      since = dev.mark()
      await setSecret('API_KEY', 'the-second-value')
      await dev.next('reload', (event) => event.what === 'secrets', since)
      expect((await post(dev, 'params')).body).toEqual({ label: 'three', key: 'the-second-value'.length })
      since = dev.mark()
      await setSecret('API_KEY', 'a-third-value-now')
      await dev.next('reload', (event) => event.what === 'secrets', since)
      expect((await post(dev, 'params')).body).toEqual({ label: 'three', key: 'a-third-value-now'.length })
    },
    T,
  )
})

describe('secrets', () => {
  const FIRST = 'first-secret-value-0123'
  const SECOND = 'second-secret-value-is-longer-456789'

  it(
    'the key from CENTRALI_SECRETS_KEY decrypts the secrets, and no process dev starts (esbuild) inherits it',
    async () => {
      sandbox.env.CENTRALI_SECRETS_KEY = randomBytes(32).toString('base64')
      try {
        await writeProject({
          files: {
            'functions/measure.js': 'async function run() { return { length: triggerParams.key.length } }\n',
          },
          functions: { measure: 'functions/measure.js' },
          triggers: { measure: { function: 'measure', params: { key: { secret: 'API_KEY' } } } },
        })
        await setSecret('API_KEY', 'sk-test-0123456789')
        const dev = await startDev()
        expect((await post(dev, 'measure')).body).toEqual({ length: 18 })
        // esbuild's service, started by the build.
        const children = childPids(dev.child.pid!)
        expect(children.length).toBeGreaterThan(0)
        for (const pid of children) {
          const environment = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
          expect(environment.filter((entry) => entry.startsWith('CENTRALI_'))).toEqual([])
          expect(environment.some((entry) => entry.startsWith('XDG_CONFIG_HOME='))).toBe(true)
        }
      } finally {
        sandbox.env.CENTRALI_SECRETS_KEY = undefined
      }
    },
    T,
  )

  it(
    'a secret set while dev runs is used by the next request; a returned secret is redacted with a warning',
    async () => {
      await writeProject({
        files: {
          'functions/measure.js': `async function run() {
  const key = triggerParams.key
  return { length: key.length, last: key.charCodeAt(key.length - 1) }
}
`,
          'functions/leak.js': 'async function run() { return { key: triggerParams.key } }\n',
        },
        functions: { measure: 'functions/measure.js', leak: 'functions/leak.js' },
        triggers: {
          measure: { function: 'measure', params: { key: { secret: 'API_KEY' } } },
          leak: { function: 'leak', params: { key: { secret: 'API_KEY' } } },
        },
      })
      await setSecret('API_KEY', FIRST)
      const dev = await startDev()
      expect((await post(dev, 'measure')).body).toEqual({
        length: FIRST.length,
        last: FIRST.charCodeAt(FIRST.length - 1),
      })

      const since = dev.mark()
      await setSecret('API_KEY', SECOND)
      // No waiting for any event: the request after `secrets set` returns runs with the new value.
      const measured = await post(dev, 'measure')
      expect(measured.status).toBe(200)
      expect(measured.body).toEqual({ length: SECOND.length, last: SECOND.charCodeAt(SECOND.length - 1) })
      await dev.next('reload', (event) => event.what === 'secrets', since)

      const leaked = await post(dev, 'leak')
      expect(leaked.status).toBe(200)
      expect(leaked.body).toEqual({ key: '[redacted:API_KEY]' })
      const warning = await dev.next('warning', (event) => event.message.includes('API_KEY'), since)
      expect(warning.message).toContain('[redacted:API_KEY]')
      // The values are nowhere in dev's output.
      for (const value of [FIRST, SECOND]) {
        expect(dev.lines.join('\n')).not.toContain(value)
        expect(dev.stderr()).not.toContain(value)
      }
    },
    T,
  )
})

describe('events', () => {
  it(
    'invocation.start, log, egress (allowed and blocked with the fix) and invocation.end',
    async () => {
      const upstream = await upstreamFor(() => ({ status: 201, json: { created: true } }))
      await writeProject({
        files: {
          'functions/work.js': `async function run() {
  api.log({ step: 'before' })
  const created = await api.httpPost('https://api.example.com/items', { name: 'widget' })
  let blocked = null
  try {
    await api.httpGet('https://blocked.example.org/secret-path')
  } catch (error) {
    blocked = error.code || error.message
  }
  // A port the allowlist does not name, and an IP literal: each fix is the command that allows it.
  for (const url of ['https://api.example.com:8443/v1', 'https://1.1.1.1/v1']) {
    try { await api.httpGet(url) } catch {}
  }
  api.logError('after the calls')
  return { created, blocked }
}
`,
        },
        functions: { work: 'functions/work.js' },
        triggers: { work: { function: 'work', timeoutMs: 7000 } },
        domains: ['api.example.com'],
      })
      const dev = await startDev(map('api.example.com', upstream))
      const answer = await post(dev, 'work')
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({ created: { created: true } })
      const id = answer.requestId!
      const end = await dev.next('invocation.end', (event) => event.requestId === id)
      const mine = dev.events.filter((event) => 'requestId' in event && event.requestId === id)
      // In the order things happened: the logs and the calls as the function made them.
      expect(mine.map((event) => event.type)).toEqual([
        'invocation.start',
        'log',
        'egress',
        'egress',
        'egress',
        'egress',
        'log',
        'invocation.end',
      ])
      expect(mine[0]).toEqual({ type: 'invocation.start', requestId: id, trigger: 'work' })

      expect(end).toMatchObject({ trigger: 'work', status: 200, timeoutMs: 7000, stale: false })
      expect(end.durationMs).toBeGreaterThanOrEqual(0)
      expect(end.durationMs).toBeLessThan(7000)
      expect(end.error).toBeUndefined()

      const logs = mine.filter((event): event is EventOf<'log'> => event.type === 'log')
      expect(logs.map((event) => [event.level, event.value, event.trigger])).toEqual([
        ['info', { step: 'before' }, 'work'],
        ['error', 'after the calls', 'work'],
      ])

      const egress = mine.filter((event): event is EventOf<'egress'> => event.type === 'egress')
      expect(egress).toHaveLength(4)
      expect(egress[0]).toMatchObject({
        method: 'POST',
        host: 'api.example.com',
        status: 201,
        blocked: false,
        trigger: 'work',
      })
      expect(egress[0]!.url).toContain('api.example.com/items')
      expect(egress[0]!.durationMs).toBeGreaterThanOrEqual(0)
      expect(egress[0]!.fix).toBeUndefined()
      expect(egress[1]).toMatchObject({
        method: 'GET',
        host: 'blocked.example.org',
        blocked: true,
        fix: 'centrali domains add blocked.example.org',
        error: { code: 'EGRESS_HOST_DENIED' },
      })
      expect(egress[1]!.status).toBeUndefined()
      expect(egress[1]!.error!.message).toContain(egress[1]!.fix)
      expect(
        egress.slice(2).map((event) => [event.host, event.blocked, event.error?.code, event.fix]),
      ).toEqual([
        ['api.example.com:8443', true, 'EGRESS_PORT_DENIED', 'centrali domains add api.example.com:8443'],
        ['1.1.1.1', true, 'EGRESS_HOST_DENIED', 'centrali domains add --ip 1.1.1.1'],
      ])

      // Only the allowed call went out.
      expect(upstream.requests.map((seen) => [seen.method, seen.url])).toEqual([['POST', '/items']])
    },
    T,
  )

  it(
    "a failing invocation: invocation.end with its status, its error code, and where it threw in the project's files (never in the response)",
    async () => {
      const check = `export function check(value: number): number {
  if (value > 1) throw new RangeError(\`kaput: \${value}\`)
  return value
}
`
      const thrower = `import { check } from './check'

export async function run() {
  await Promise.resolve()
  return check(2)
}
`
      await writeProject({
        files: { 'functions/thrower.ts': thrower, 'functions/check.ts': check },
        functions: { thrower: 'functions/thrower.ts' },
        triggers: { thrower: { function: 'thrower', timeoutMs: 1234 } },
      })
      const dev = await startDev()
      const answer = await post(dev, 'thrower')
      expect(answer.status).toBe(500)
      expect(answer.body).toEqual({ error: { code: 'FUNCTION_ERROR', message: 'kaput: 2' } })
      const end = await dev.next('invocation.end', (event) => event.requestId === answer.requestId)
      // Lines and columns (1-based) of the TypeScript as written: the error made, then the call.
      const column = (text: string, line: number, part: string) =>
        text.split('\n')[line - 1]!.indexOf(part) + 1
      expect(end).toEqual({
        type: 'invocation.end',
        requestId: answer.requestId,
        trigger: 'thrower',
        status: 500,
        durationMs: expect.any(Number),
        timeoutMs: 1234,
        stale: false,
        error: {
          code: 'FUNCTION_ERROR',
          message: 'kaput: 2',
          stack: [
            `at check (functions/check.ts:2:${column(check, 2, 'new RangeError')})`,
            `at run (functions/thrower.ts:5:${column(thrower, 5, 'check(2)')})`,
          ],
        },
      })
    },
    T,
  )

  it(
    'a blocked call the function did not catch: its error code and where it made the call, besides the egress event with the fix',
    async () => {
      const source = `export async function run() {
  const reply = await api.httpPost('https://api.not-listed.example/v1', { q: 1 })
  return reply
}
`
      await writeProject({
        files: { 'functions/leaky.ts': source },
        functions: { leaky: 'functions/leaky.ts' },
        triggers: { leaky: { function: 'leaky' } },
      })
      const dev = await startDev()
      const answer = await post(dev, 'leaky')
      expect(answer.status).toBe(502)
      expect(errorCode(answer)).toBe('EGRESS_HOST_DENIED')
      expect(JSON.stringify(answer.body)).not.toContain('functions/leaky.ts')
      const egress = await dev.next('egress', (event) => event.requestId === answer.requestId)
      expect(egress).toMatchObject({ blocked: true, fix: 'centrali domains add api.not-listed.example' })
      const end = await dev.next('invocation.end', (event) => event.requestId === answer.requestId)
      expect(end.error).toMatchObject({
        code: 'EGRESS_HOST_DENIED',
        stack: [`at run (functions/leaky.ts:2:${source.split('\n')[1]!.indexOf('await') + 1})`],
      })
    },
    T,
  )
})

describe('shutdown', () => {
  it(
    'SIGTERM right after a save, while the rebuild may be running: exit 0 every time (a build stopped by the shutdown is no error)',
    async () => {
      const dev = await startHotDev()
      // Several times over, since the rebuild's window is a matter of milliseconds.
      for (let version = 2; version <= 9; version++) {
        const current = version === 2 ? dev : await startDev()
        await writeFile(
          join(app, 'functions/hot.js'),
          `async function run() { return { version: ${version} } }\n`,
        )
        await new Promise((resolve) => setTimeout(resolve, (version % 4) * 5))
        current.child.kill('SIGTERM')
        const exit = await exitWithin(current, 8_000)
        expect(exit, `version ${version}, stderr:\n${current.stderr()}`).toEqual({
          exitCode: 0,
          signal: undefined,
        })
      }
    },
    // Eight starts and stops of dev: about 10 s alone, twice that on a loaded machine.
    45_000,
  )

  it(
    'SIGTERM while a request runs: it completes with 200, then exit 0 with no port and no child left',
    async () => {
      const upstream = await upstreamFor(() => ({ json: { late: true }, delayMs: 800 }))
      await writeProject({
        files: {
          'functions/slow.js': `async function run() { return await api.httpGet('https://api.example.com/slow') }\n`,
        },
        functions: { slow: 'functions/slow.js' },
        triggers: { slow: { function: 'slow' } },
        domains: ['api.example.com'],
      })
      const dev = await startDev(map('api.example.com', upstream))
      // dev's own processes (esbuild's service), to check none outlives it.
      const children = childPids(dev.child.pid!)
      expect(children.length).toBeGreaterThan(0)
      const running = post(dev, 'slow')
      await untilDev(
        () => (upstream.requests.length > 0 ? true : undefined),
        () => 'the upstream got no request',
      )
      const signalled = Date.now()
      dev.child.kill('SIGTERM')
      const answer = await running
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ late: true })

      const exit = await exitWithin(dev, 8_000)
      expect(exit, `stderr:\n${dev.stderr()}`).toEqual({ exitCode: 0, signal: undefined })
      expect(Date.now() - signalled).toBeLessThan(6_000)
      expect(await portAccepts(dev.port)).toBe(false)
      // No process of dev's (esbuild) is left behind.
      await allGone(children)
    },
    T,
  )

  it(
    'SIGTERM with an invocation longer than the 5 s grace: no new connection meanwhile, then it is cut off with 503 POOL_CLOSED and dev exits cleanly',
    async () => {
      await writeProject({
        files: {
          'functions/endless.js':
            'async function run() { await new Promise((resolve) => setTimeout(resolve, 60000)); return 1 }\n',
        },
        functions: { endless: 'functions/endless.js' },
        triggers: { endless: { function: 'endless', timeoutMs: 120000 } },
      })
      const dev = await startDev()
      const children = childPids(dev.child.pid!)
      const running = post(dev, 'endless').then(
        (answer) => answer,
        (error: Error) => `failed: ${error.message}`,
      )
      await dev.next('invocation.start', (event) => event.trigger === 'endless')
      const signalled = Date.now()
      // Not through execa's kill(), which follows up with SIGKILL after 5 s.
      process.kill(dev.child.pid!, 'SIGTERM')
      // Draining: the listening socket is closed at once, so a new caller is refused, not queued.
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(await portAccepts(dev.port)).toBe(false)

      const exit = await exitWithin(dev, 12_000)
      const waited = Date.now() - signalled
      expect(exit, `stderr:\n${dev.stderr()}`).toEqual({ exitCode: 0, signal: undefined })
      // It waited out the grace, and not much more.
      expect(waited).toBeGreaterThanOrEqual(4_900)
      expect(waited).toBeLessThan(9_000)
      // The cut-off request is told so (not left with an empty reply), as dev reported it.
      const answer = await running
      expect(answer).toMatchObject({
        status: 503,
        body: { error: { code: 'POOL_CLOSED', message: expect.any(String) } },
      })
      const end = await dev.next('invocation.end', (event) => event.trigger === 'endless')
      expect(end).toMatchObject({ status: 503, requestId: (answer as Answer).requestId })
      await allGone(children)
    },
    T,
  )

  it(
    'SIGINT: exit 130, port closed',
    async () => {
      await writeProject(ECHO_PROJECT)
      const dev = await startDev()
      expect((await post(dev, 'echo')).body).toBe(1)
      dev.child.kill('SIGINT')
      const exit = await exitWithin(dev, 8_000)
      expect(exit, `stderr:\n${dev.stderr()}`).toEqual({ exitCode: 130, signal: undefined })
      expect(await portAccepts(dev.port)).toBe(false)
    },
    T,
  )
})

describe('load', () => {
  it(
    '200 concurrent requests to a trivial function all succeed with their own result',
    async () => {
      await writeProject({
        files: { 'functions/echo.js': 'async function run() { return { i: executionParams.payload.i } }\n' },
        functions: { echo: 'functions/echo.js' },
        triggers: { echo: { function: 'echo' } },
      })
      const dev = await startDev()
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => post(dev, 'echo', { i })))
      const failures = answers.filter((answer) => answer.status !== 200)
      expect(failures.map((answer) => [answer.status, answer.body])).toEqual([])
      expect(answers.map((answer) => (answer.body as { i: number }).i)).toEqual(
        Array.from({ length: 200 }, (_, i) => i),
      )
      expect(new Set(answers.map((answer) => answer.requestId)).size).toBe(200)
      // Every one of them is reported.
      await untilDev(
        () =>
          dev.events.filter((event) => event.type === 'invocation.end').length === 200 ? true : undefined,
        () => `${dev.events.filter((event) => event.type === 'invocation.end').length} invocation.end events`,
      )
    },
    T,
  )
})
