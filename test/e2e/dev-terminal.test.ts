import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ResultPromise } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSandbox, startCli, type Sandbox } from '../helpers/cli.js'
import { preflight, request, type Answer } from '../helpers/http.js'
import { hotFunction, hotLib } from '../helpers/hot-function.js'
import { endAll } from '../helpers/processes.js'
import { until } from '../helpers/until.js'
import { startUpstream, type Reply, type Seen, type Upstream } from '../helpers/upstream.js'

/**
 * `centrali dev` without --json: what a person reads in the terminal. The built CLI runs in a temp
 * project with stdout piped (not a terminal), its stdout read line by line, and a real HTTP server
 * on 127.0.0.1 stands in for the provider (reached through `--map host=origin`). NDJSON events are
 * covered by dev.test.ts; here every test asserts the exact text of the lines.
 */

const T = 20_000
/** How long to wait for one line before failing. */
const WAIT = 10_000
const ESC = '\u001B'

let sandbox: Sandbox
let app: string
const processes: ResultPromise[] = []
const upstreams: Upstream[] = []

beforeEach(async () => {
  sandbox = await createSandbox()
  app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
})

afterEach(async () => {
  // Always: no dev process outlives its test, whatever happened in it.
  await endAll(processes, upstreams)
  await sandbox.cleanup()
})

// ---------------------------------------------------------------------------------------------
// The project, the provider, the request.

interface ProjectSpec {
  /** File path (relative to the project) → content. */
  files: Record<string, string>
  /** Trigger name → its function's entry file and extra trigger settings (one function per trigger). */
  triggers: Record<string, { entry: string } & Record<string, unknown>>
  domains?: string[]
}

async function writeProject(spec: ProjectSpec): Promise<void> {
  for (const [path, content] of Object.entries(spec.files)) await writeFile(join(app, path), content)
  const functions: Record<string, { entry: string }> = {}
  const triggers: Record<string, Record<string, unknown>> = {}
  for (const [name, { entry, ...settings }] of Object.entries(spec.triggers)) {
    functions[name] = { entry }
    triggers[name] = { type: 'endpoint', function: name, ...settings }
  }
  const config = { functions, triggers, domains: spec.domains ?? [] }
  await writeFile(join(app, 'centrali.json'), `${JSON.stringify(config, null, 2)}\n`)
}

async function upstreamFor(reply?: (request: Seen) => Reply): Promise<Upstream> {
  const upstream = await startUpstream(reply)
  upstreams.push(upstream)
  return upstream
}

const map = (host: string, upstream: Upstream) => ['--map', `${host}=${upstream.origin}`]

function post(dev: HumanDev, trigger: string, headers: Record<string, string> = {}): Promise<Answer> {
  return request(`${dev.url}/endpoints/${trigger}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ payload: {} }),
  })
}

// ---------------------------------------------------------------------------------------------
// The dev process in human mode.

/**
 * The colour variables, always both given: the runner's own environment may set either, and an
 * undefined value removes it from the child's environment.
 */
interface Colour {
  NO_COLOR: string | undefined
  FORCE_COLOR: string | undefined
}
const PLAIN: Colour = { NO_COLOR: '1', FORCE_COLOR: undefined }
const FORCED: Colour = { NO_COLOR: undefined, FORCE_COLOR: '1' }

interface HumanDev {
  child: ResultPromise
  url: string
  /** stdout line by line, escapes and all. */
  lines: string[]
  stdout(): string
  stderr(): string
  /** The index the next line will have. */
  mark(): number
  /** The index of the first line from `since` on that `match` accepts. */
  waitLine(match: (line: string) => boolean, since?: number): Promise<number>
  /**
   * The line at `index` (an invocation's line) and the indented lines under it: an invocation's
   * lines go out in one write, so they are all there once the first is.
   */
  block(index: number): string[]
}

async function startHumanDev(colour: Colour, args: readonly string[] = []): Promise<HumanDev> {
  const dev = startCli(['dev', '--port', '0', ...args], { cwd: app, env: { ...sandbox.env, ...colour } })
  const { child, lines } = dev
  processes.push(child)
  const waitLine = (match: (line: string) => boolean, since = 0) =>
    until(
      () => {
        const found = lines.findIndex((line, index) => index >= since && match(line))
        return found === -1 ? undefined : found
      },
      () => `no such line${dev.show()}`,
      { child, name: 'dev', timeoutMs: WAIT },
    )
  const ready = await waitLine((line) => /^Ready on http:\/\/127\.0\.0\.1:\d+$/.test(line))
  return {
    child,
    url: lines[ready]!.slice('Ready on '.length),
    lines,
    stdout: dev.stdout,
    stderr: dev.stderr,
    mark: () => lines.length,
    waitLine,
    block: (index) => {
      const end = lines.findIndex((line, at) => at > index && !plain(line).startsWith('    '))
      return lines.slice(index, end === -1 ? undefined : end)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the lines.

/** A colour escape (the only kind dev writes); built from ESC, as lint bars it in a regex literal. */
const SGR = `${ESC}\\[\\d+m`
const plain = (line: string) => line.replace(new RegExp(SGR, 'g'), '')
const paint = (open: number, close: number) => (text: string) => `${ESC}[${open}m${text}${ESC}[${close}m`
const dim = paint(2, 22)
const red = paint(31, 39)
const green = paint(32, 39)
const yellow = paint(33, 39)

/**
 * An invocation's line: `HH:MM:SS trigger status N ms / timeout ms  #<request id's first 8>`,
 * then anything after it.
 */
const INVOCATION = /^(\d\d:\d\d:\d\d) (\S+) (\d{3}) (\d+) ms \/ (\d+) ms {2}#([0-9a-f]{8})(.*)$/
const isInvocationOf = (trigger: string) => (line: string) => INVOCATION.exec(plain(line))?.[2] === trigger

/**
 * Lines with what changes from run to run (the clock, durations) replaced by fixed text, so the
 * rest can be compared exactly.
 */
function normalise(line: string): string {
  return line
    .replace(new RegExp(`^((?:${SGR})?)\\d\\d:\\d\\d:\\d\\d`), '$1HH:MM:SS')
    .replace(/ \d+ ms( \/ \d+ ms {2})/, ' N ms$1')
    .replace(new RegExp(`#[0-9a-f]{8}((?:${SGR})?)`), '#ID$1')
    .replace(/^(\s+→ \S+ \S+ \S+) \d+ ms$/, '$1 N ms')
    .replace(new RegExp(` in \\d+ ms((?:${SGR})?)$`), ' in N ms$1')
}

/** The local wall-clock times (as dev prints them) from `from` to `to`, both ms since the epoch. */
function clockTimes(from: number, to: number): string[] {
  const times = new Set<string>()
  for (let at = from; at < to + 1000; at += 1000)
    times.add(new Date(Math.min(at, to)).toTimeString().slice(0, 8))
  return [...times]
}

// ---------------------------------------------------------------------------------------------

describe('an invocation', () => {
  it(
    'one line (time, trigger, status, duration / timeout), then its logs and its outbound calls indented under it',
    async () => {
      // The provider takes over a second, so the invocation ends in a later second than it starts.
      const upstream = await upstreamFor(() => ({ status: 201, json: { id: 'w-1' }, delayMs: 1100 }))
      await writeProject({
        files: {
          'functions/work.js': `async function run() {
  api.log({ step: 'start', n: 1 })
  const item = await api.httpPost('https://api.example.com/items', { name: 'widget' })
  api.log('created ' + item.id)
  api.logError('warned after the call')
  return { id: item.id }
}
`,
          'functions/boom.js': `async function run() {
  api.logError('about to fail')
  throw new Error('kaput')
}
`,
        },
        triggers: {
          work: { entry: 'functions/work.js', timeoutMs: 7000 },
          boom: { entry: 'functions/boom.js' },
        },
        domains: ['api.example.com'],
      })
      const dev = await startHumanDev(PLAIN, map('api.example.com', upstream))

      const since = dev.mark()
      const sent = Date.now()
      const answer = await post(dev, 'work')
      const received = Date.now()
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ id: 'w-1' })
      const block = dev.block(await dev.waitLine(isInvocationOf('work'), since))

      // The invocation's own line: exact apart from the clock and the duration, checked next.
      const [header, ...details] = block
      const [, time, , , duration] = INVOCATION.exec(header!)!
      // The id is the response's x-request-id, which a client's CentraliError.requestId carries.
      const requestId = answer.headers.get('x-request-id')!
      expect(header).toBe(`${time} work 200 ${duration} ms / 7000 ms  #${requestId.slice(0, 8)}`)
      // The time the invocation started, not when it ended.
      expect(clockTimes(sent - 1, received - Number(duration))).toContain(time)
      expect(Number(duration)).toBeLessThanOrEqual(received - sent + 5)

      // Under it, in the order the function made them: its logs (api.logError labelled `error`)
      // and its call, which came between the first and second log.
      expect(details.map(normalise)).toEqual([
        '    log {"step":"start","n":1}',
        '    → POST api.example.com 201 N ms',
        '    log created w-1',
        '    error warned after the call',
      ])
      // The call's duration is the call's: the provider took 1100 ms, within the invocation's time.
      const callMs = Number(/ (\d+) ms$/.exec(details[1]!)![1])
      expect(callMs).toBeGreaterThanOrEqual(1090)
      expect(callMs).toBeLessThanOrEqual(Number(duration))
      expect(upstream.requests.map((seen) => [seen.method, seen.url, seen.host])).toEqual([
        ['POST', '/items', 'api.example.com'],
      ])

      // A second invocation gets a line of its own; an error is named on it, and where it was
      // thrown comes last, in the file as written.
      const failed = await post(dev, 'boom')
      expect(failed.status).toBe(500)
      const failedAt = await dev.waitLine(isInvocationOf('boom'), since)
      expect(dev.block(failedAt).map(normalise)).toEqual([
        'HH:MM:SS boom 500 N ms / 30000 ms  #ID  FUNCTION_ERROR: kaput',
        '    error about to fail',
        '    at run (functions/boom.js:3:9)',
      ])
      // Nothing else: no JSON, one line per invocation, nothing on stderr.
      expect(dev.lines.slice(since).filter((line) => INVOCATION.test(line))).toHaveLength(2)
      expect(dev.lines.slice(since).map(normalise)).toEqual([
        ...block.map(normalise),
        'HH:MM:SS boom 500 N ms / 30000 ms  #ID  FUNCTION_ERROR: kaput',
        '    error about to fail',
        '    at run (functions/boom.js:3:9)',
      ])
      expect(dev.stderr()).toBe('')
    },
    T,
  )
})

describe('a request no function saw', () => {
  it(
    'one red line with the method, path, status, id and error: a misspelt trigger, a body that is not JSON',
    async () => {
      await writeProject({
        files: { 'functions/echo.js': 'async function run() { return executionParams.payload }\n' },
        triggers: { echo: { entry: 'functions/echo.js' } },
      })
      const dev = await startHumanDev(FORCED)
      const since = dev.mark()
      const typo = await post(dev, 'ecoh')
      expect(typo.status).toBe(404)
      const typoAt = await dev.waitLine((line) => plain(line).includes('/endpoints/ecoh'), since)
      expect(normalise(dev.lines[typoAt]!)).toBe(
        `${dim('HH:MM:SS')} POST /endpoints/ecoh ${red('404')}  ${dim('#ID')}  ${red('TRIGGER_NOT_FOUND: There is no trigger named "ecoh". Known triggers: echo.')}`,
      )
      expect(dev.lines[typoAt]).toContain(`#${typo.requestId?.slice(0, 8)}`)

      const badJson = await request(`${dev.url}/endpoints/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"payload": nope',
      })
      expect(badJson.status).toBe(400)
      const badAt = await dev.waitLine((line) => plain(line).includes(' 400 '), since)
      expect(plain(normalise(dev.lines[badAt]!))).toMatch(
        /^HH:MM:SS POST \/endpoints\/echo 400 {2}#ID {2}BAD_JSON: The request body is not JSON: .+\.$/,
      )
      // A caller's path cannot forge a line: a newline in it is shown escaped.
      const forged = await request(`${dev.url}/endpoints/x%0A12:00:00%20echo%20200`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      })
      expect(forged.status).toBe(404)
      const forgedAt = await dev.waitLine(
        (line) => plain(line).includes('TRIGGER_NOT_FOUND: There is no trigger named "x'),
        badAt + 1,
      )
      expect(plain(dev.lines[forgedAt]!)).toContain('There is no trigger named "x\\n12:00:00 echo 200"')
      // Exactly these three lines: a request that reached its function has its own line only.
      await post(dev, 'echo')
      await dev.waitLine(isInvocationOf('echo'), since)
      expect(dev.lines.slice(since).map((line) => plain(normalise(line)).split('  ')[0])).toEqual([
        'HH:MM:SS POST /endpoints/ecoh 404',
        'HH:MM:SS POST /endpoints/echo 400',
        'HH:MM:SS POST /endpoints/x%0A12:00:00%20echo%20200 404',
        'HH:MM:SS echo 200 N ms / 30000 ms',
      ])
    },
    T,
  )
})

describe('text a caller chose', () => {
  it(
    'a log or an error message with newlines and escape sequences is shown escaped: no forged line, no terminal control',
    async () => {
      await writeProject({
        files: {
          'functions/echo.js': `async function run() {
  api.log(executionParams.payload.text)
  api.log({ nested: executionParams.payload.text })
  throw new Error(executionParams.payload.text)
}
`,
        },
        triggers: { echo: { entry: 'functions/echo.js' } },
      })
      const dev = await startHumanDev(PLAIN)
      const since = dev.mark()
      // A forged invocation line after a newline, then: clear the screen, retitle the window, and a
      // right-to-left override.
      const text =
        'hello\n23:59:59 payments 200 1 ms / 30000 ms  #deadbeef\u001b[2J\u001b]0;pwned\u0007\u202egnp.exe'
      const answer = await request(`${dev.url}/endpoints/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: { text } }),
      })
      expect(answer.status).toBe(500)
      const at = await dev.waitLine(isInvocationOf('echo'), since)
      const shown =
        'hello\\n23:59:59 payments 200 1 ms / 30000 ms  #deadbeef\\u001b[2J\\u001b]0;pwned\\u0007\\u202egnp.exe'
      const [header, ...details] = dev.block(at)
      expect(normalise(header!)).toBe(`HH:MM:SS echo 500 N ms / 30000 ms  #ID  FUNCTION_ERROR: ${shown}`)
      expect(details).toEqual([
        `    log ${shown}`,
        // JSON escapes the C0 controls itself; the override is escaped on top.
        `    log {"nested":"hello\\n23:59:59 payments 200 1 ms / 30000 ms  #deadbeef\\u001b[2J\\u001b]0;pwned\\u0007\\u202egnp.exe"}`,
        '    at run (functions/echo.js:4:9)',
      ])
      expect(dev.lines.slice(since).filter((line) => line.startsWith('23:59:59 payments'))).toEqual([])
      // With NO_COLOR dev writes no escape of its own: any would be the caller's.
      // eslint-disable-next-line no-control-regex -- looking for control characters is the point
      expect(dev.lines.slice(since).join('\n')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/)
    },
    T,
  )
})

describe('a blocked call', () => {
  const blockedProject = async () => {
    const upstream = await upstreamFor()
    await writeProject({
      files: {
        'functions/blocked.js': `async function run() {
  try {
    await api.httpGet('https://blocked.example.org/secret-path')
    return { blocked: false }
  } catch (error) {
    api.logError(error.code)
    return { blocked: error.code }
  }
}
`,
      },
      triggers: { blocked: { entry: 'functions/blocked.js', timeoutMs: 5000 } },
      domains: ['api.example.com'],
    })
    // Mapped, so that a call let through would reach the upstream: it must see none.
    return { upstream, args: map('blocked.example.org', upstream) }
  }
  const MESSAGE =
    'Blocked call to blocked.example.org: the host is not in centrali.json "domains". Allow it with: centrali domains add blocked.example.org'

  it.each([
    { name: 'NO_COLOR=1', colour: PLAIN },
    { name: 'NO_COLOR=1 over FORCE_COLOR=1', colour: { NO_COLOR: '1', FORCE_COLOR: '1' } },
    { name: 'neither, stdout a pipe', colour: { NO_COLOR: undefined, FORCE_COLOR: undefined } },
  ])(
    'shows the host and the fix `centrali domains add <host>`; $name: no escape anywhere',
    async ({ colour }) => {
      const { upstream, args } = await blockedProject()
      const dev = await startHumanDev(colour, args)
      const since = dev.mark()
      const answer = await post(dev, 'blocked')
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ blocked: 'EGRESS_HOST_DENIED' })
      const block = dev.block(await dev.waitLine(isInvocationOf('blocked'), since))
      expect(block.map(normalise)).toEqual([
        'HH:MM:SS blocked 200 N ms / 5000 ms  #ID',
        `    ✖ blocked GET blocked.example.org: ${MESSAGE}`,
        '    error EGRESS_HOST_DENIED',
      ])
      expect(upstream.requests).toEqual([])
      expect(dev.stdout()).not.toContain(ESC)
      expect(dev.stderr()).not.toContain(ESC)
    },
    T,
  )

  it(
    'FORCE_COLOR=1 (NO_COLOR unset): the blocked line in red, the status green, the error log red, the time dim',
    async () => {
      const { upstream, args } = await blockedProject()
      const dev = await startHumanDev(FORCED, args)
      const since = dev.mark()
      expect((await post(dev, 'blocked')).body).toEqual({ blocked: 'EGRESS_HOST_DENIED' })
      const block = dev.block(await dev.waitLine(isInvocationOf('blocked'), since))
      expect(block.map(normalise)).toEqual([
        `${dim('HH:MM:SS')} blocked ${green('200')} N ms / 5000 ms  ${dim('#ID')}`,
        red(`    ✖ blocked GET blocked.example.org: ${MESSAGE}`),
        `    ${red('error')} EGRESS_HOST_DENIED`,
      ])
      expect(upstream.requests).toEqual([])
    },
    T,
  )
})

describe('secrets', () => {
  const SECRET = 'sk-test-4f9a1c77e2b5d3a8'

  it(
    'a secret sent upstream and logged: its value is nowhere in stdout or stderr, [redacted:NAME] is shown instead',
    async () => {
      const upstream = await upstreamFor(() => ({ json: { ok: true } }))
      await writeProject({
        files: {
          'functions/keyed.js': `async function run() {
  const key = triggerParams.apiKey
  api.log('using ' + key)
  api.logError({ key, length: key.length })
  const answer = await api.httpGet('https://api.example.com/me', { headers: { authorization: 'Bearer ' + key } })
  return { ok: answer.ok }
}
`,
        },
        triggers: { keyed: { entry: 'functions/keyed.js', params: { apiKey: { secret: 'API_KEY' } } } },
        domains: ['api.example.com'],
      })
      const set = await sandbox.run(['secrets', 'set', 'API_KEY'], { cwd: app, input: SECRET })
      expect(set.exitCode, set.stderr).toBe(0)
      const dev = await startHumanDev(PLAIN, map('api.example.com', upstream))

      const since = dev.mark()
      const answer = await post(dev, 'keyed')
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ ok: true })
      // The provider got the real value: the function really used it.
      expect(upstream.requests.map((seen) => seen.authorization)).toEqual([`Bearer ${SECRET}`])

      await dev.waitLine(isInvocationOf('keyed'), since)
      // One warning naming every place the value was found, before the invocation's line; the logs show the marker.
      expect(dev.lines.slice(since).map(normalise)).toEqual([
        '▲ the value of secret API_KEY appeared in logs[0], logs[1] of keyed; it was replaced with [redacted:API_KEY]',
        'HH:MM:SS keyed 200 N ms / 30000 ms  #ID',
        '    log using [redacted:API_KEY]',
        `    error {"key":"[redacted:API_KEY]","length":${SECRET.length}}`,
        '    → GET api.example.com 200 N ms',
      ])
      for (const form of [SECRET, Buffer.from(SECRET).toString('base64')]) {
        expect(dev.stdout()).not.toContain(form)
        expect(dev.stderr()).not.toContain(form)
      }
    },
    T,
  )
})

describe('hot reload', () => {
  it(
    'a save of the function, then of a module it imports: "reloaded functions/<file> in N ms" for each',
    async () => {
      await writeProject({
        files: { 'functions/hot.ts': hotFunction(1), 'functions/lib.ts': hotLib('a') },
        triggers: { hot: { entry: 'functions/hot.ts' } },
      })
      const dev = await startHumanDev(PLAIN)
      expect((await post(dev, 'hot')).body).toEqual({ version: 1, label: 'a' })
      const reloaded = (file: string) => (line: string) => line.startsWith(`reloaded ${file} `)

      let since = dev.mark()
      await writeFile(join(app, 'functions/hot.ts'), hotFunction(2))
      const first = await dev.waitLine(reloaded('functions/hot.ts'), since)
      expect(dev.lines[first]).toMatch(/^reloaded functions\/hot\.ts in \d+ ms$/)
      expect(Number(/in (\d+) ms$/.exec(dev.lines[first]!)![1])).toBeLessThan(WAIT)
      expect((await post(dev, 'hot')).body).toEqual({ version: 2, label: 'a' })

      // At least 100 ms after the first save (chokidar folds saves of one path within 50 ms).
      await new Promise((resolve) => setTimeout(resolve, 100))
      since = dev.mark()
      await writeFile(join(app, 'functions/lib.ts'), hotLib('b'))
      const second = await dev.waitLine(reloaded('functions/lib.ts'), since)
      expect(dev.lines[second]).toMatch(/^reloaded functions\/lib\.ts in \d+ ms$/)
      expect((await post(dev, 'hot')).body).toEqual({ version: 2, label: 'b' })

      // Every reload line has that form (a save may be reported twice: dev re-checks a changed
      // file 80 ms later), and nothing else was printed about the saves.
      await dev.waitLine(isInvocationOf('hot'), second)
      const printed = dev.lines.filter((line) => !INVOCATION.test(line) && !line.startsWith('  '))
      expect(printed[0]).toMatch(/^Ready on /)
      expect(printed.slice(1).map(normalise)).toEqual(
        expect.arrayContaining(['reloaded functions/hot.ts in N ms', 'reloaded functions/lib.ts in N ms']),
      )
      for (const line of printed.slice(1))
        expect(line).toMatch(/^reloaded functions\/(hot|lib)\.ts in \d+ ms$/)
    },
    T,
  )
})

describe('a trigger centrali.json gains', () => {
  it(
    'gets its ready-to-paste curl line, with its example payload, as at start-up',
    async () => {
      await writeProject({
        files: { 'functions/first.js': 'async function run() { return 1 }\n' },
        triggers: { first: { entry: 'functions/first.js' } },
      })
      const dev = await startHumanDev(PLAIN)
      const since = dev.mark()
      await writeProject({
        files: { 'functions/second.js': 'async function run() { return executionParams.payload }\n' },
        triggers: {
          first: { entry: 'functions/first.js' },
          second: { entry: 'functions/second.js', examplePayload: { says: "it's new" } },
        },
      })
      const at = await dev.waitLine((line) => line.startsWith('  second  curl '), since)
      expect(dev.lines[at]).toBe(
        `  second  curl -s ${dev.url}/endpoints/second -H 'content-type: application/json' -d '{"payload":{"says":"it'\\''s new"}}'`,
      )
      // Said once, after the reload of centrali.json; the trigger already there gets no line.
      expect(dev.lines.slice(since).filter((line) => line.includes(' curl '))).toEqual([dev.lines[at]])
      expect(
        dev.lines.slice(since).findIndex((line) => line.startsWith('reloaded centrali.json')),
      ).toBeLessThan(at - since)
    },
    T,
  )
})

describe('errors in the files', () => {
  it(
    'a syntax error: file:line:column, a code frame, and that the last good build still serves; a broken centrali.json: the last good one stays',
    async () => {
      await writeProject({
        files: { 'functions/hot.ts': 'export async function run() {\n  return { version: 1 }\n}\n' },
        triggers: { hot: { entry: 'functions/hot.ts' } },
      })
      const dev = await startHumanDev(PLAIN)
      expect((await post(dev, 'hot')).body).toEqual({ version: 1 })

      let since = dev.mark()
      await writeFile(
        join(app, 'functions/hot.ts'),
        'export async function run() {\n  return { version: = 2 }\n}\n',
      )
      const serving = await dev.waitLine(
        (line) => line.includes('still serving the last good build of hot'),
        since,
      )
      const report = dev.lines.slice(since, serving + 1)
      const broken = '  return { version: = 2 }'
      const column = broken.indexOf('= 2')
      expect(report.join('\n')).toContain(`functions/hot.ts:2:${column + 1}: `)
      // The frame: the line as written, then a caret under the column, both indented by four.
      expect(report).toContain(`    ${broken}`)
      expect(report).toContain(`    ${' '.repeat(column)}^`)
      expect(dev.lines[serving]).toBe('  still serving the last good build of hot')
      const stale = await post(dev, 'hot')
      expect(stale.body).toEqual({ version: 1 })
      const staleLine = dev.lines[await dev.waitLine(isInvocationOf('hot'), serving)]!
      expect(normalise(staleLine)).toBe(
        'HH:MM:SS hot 200 N ms / 30000 ms  #ID  (stale build: the newest code does not build)',
      )

      since = dev.mark()
      await writeFile(join(app, 'centrali.json'), '{ "functions": ')
      const kept = await dev.waitLine(
        (line) => line.includes('the last good centrali.json stays in force'),
        since,
      )
      expect(dev.lines.slice(since, kept).join('\n')).toContain('centrali.json')
      expect(dev.lines[kept]).toBe('  the last good centrali.json stays in force')
      expect((await post(dev, 'hot')).body).toEqual({ version: 1 })
    },
    T,
  )
})

describe('a function that has never built', () => {
  it(
    'its build error says that there is no build to serve, not that the last good one still serves',
    async () => {
      await writeProject({
        files: { 'functions/broken.js': 'async function run() {\n  return = 1\n}\n' },
        triggers: { broken: { entry: 'functions/broken.js' } },
      })
      const dev = await startHumanDev(PLAIN)
      const at = await dev.waitLine((line) => line.includes('has no build to serve'))
      expect(dev.lines[at]).toBe(
        '  broken has no build to serve: its triggers answer 500 BUILD_FAILED until it builds',
      )
      expect(dev.lines.join('\n')).not.toContain('still serving the last good build')
    },
    T,
  )
})

describe('CORS', () => {
  it(
    'a request from an origin the trigger does not allow: a line saying why the browser will refuse it and how to allow it, once per origin',
    async () => {
      await writeProject({
        files: { 'functions/echo.js': 'async function run() { return { ok: true } }\n' },
        triggers: {
          echo: { entry: 'functions/echo.js', cors: { origins: ['http://app.test'] } },
          open: { entry: 'functions/echo.js' },
        },
      })
      const dev = await startHumanDev(PLAIN)
      let since = dev.mark()

      // Not cross-origin (no Origin header) and an allowed origin: nothing to say.
      expect((await post(dev, 'echo')).status).toBe(200)
      const allowed = await post(dev, 'echo', { origin: 'http://app.test' })
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.test')
      // A foreign origin: the request runs, the response has no CORS headers, and dev says why.
      const foreign = await post(dev, 'echo', { origin: 'http://evil.test' })
      expect(foreign.status).toBe(200)
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull()
      // A preflight from it, and the request again: refused the same way, and not said again.
      const preflight = await request(`${dev.url}/endpoints/echo`, {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST' },
      })
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
      expect(
        (await post(dev, 'echo', { origin: 'http://evil.test' })).headers.get('access-control-allow-origin'),
      ).toBeNull()
      // Another foreign origin is said once too.
      expect((await post(dev, 'echo', { origin: 'http://other.test' })).status).toBe(200)
      // A trigger with no cors at all.
      const none = await post(dev, 'open', { origin: 'http://app.test' })
      expect(none.status).toBe(200)
      expect(none.headers.get('access-control-allow-origin')).toBeNull()

      // The stream is in order: once the last line is there, so is everything before it.
      await dev.waitLine(
        (line) => line.startsWith('  to allow it: add "http://app.test" to triggers.open'),
        since,
      )
      const refusal = (trigger: string, origin: string, reason: string) => [
        `▲ ${trigger}: a browser will refuse this response: ${reason}`,
        `  to allow it: add "${origin}" to triggers.${trigger}.cors.origins in centrali.json, or start dev with --cors ${origin}`,
      ]
      expect(dev.lines.slice(since).map(normalise)).toEqual([
        'HH:MM:SS echo 200 N ms / 30000 ms  #ID',
        'HH:MM:SS echo 200 N ms / 30000 ms  #ID',
        'HH:MM:SS echo 200 N ms / 30000 ms  #ID',
        ...refusal(
          'echo',
          'http://evil.test',
          'http://evil.test is not one of the origins allowed to call this trigger (http://app.test)',
        ),
        'HH:MM:SS echo 200 N ms / 30000 ms  #ID',
        'HH:MM:SS echo 200 N ms / 30000 ms  #ID',
        ...refusal(
          'echo',
          'http://other.test',
          'http://other.test is not one of the origins allowed to call this trigger (http://app.test)',
        ),
        'HH:MM:SS open 200 N ms / 30000 ms  #ID',
        ...refusal(
          'open',
          'http://app.test',
          'http://app.test is not allowed: the trigger has no "cors" origins',
        ),
      ])

      // Once centrali.json has changed, a refusal that still holds is said again.
      since = dev.mark()
      await writeFile(join(app, 'centrali.json'), (await readFile(join(app, 'centrali.json'), 'utf8')) + '\n')
      await dev.waitLine((line) => line.startsWith('reloaded centrali.json'), since)
      expect((await post(dev, 'echo', { origin: 'http://evil.test' })).status).toBe(200)
      const again = await dev.waitLine((line) => line.startsWith('▲ echo: '), since)
      expect(dev.lines.slice(again, again + 2)).toEqual(
        refusal(
          'echo',
          'http://evil.test',
          'http://evil.test is not one of the origins allowed to call this trigger (http://app.test)',
        ),
      )
    },
    T,
  )

  it(
    'a preflight asking for a header or a method the trigger does not allow: a line naming it, and how to fix it',
    async () => {
      await writeProject({
        files: { 'functions/echo.js': 'async function run() { return { ok: true } }\n' },
        triggers: { echo: { entry: 'functions/echo.js', cors: { origins: ['http://app.test'] } } },
      })
      const dev = await startHumanDev(PLAIN)
      const since = dev.mark()
      const ask = (method: string, headers: string) =>
        preflight(`${dev.url}/endpoints/echo`, 'http://app.test', method, headers)
      expect((await ask('POST', 'content-type, x-user-token')).status).toBe(204)
      // Said once per trigger and reason.
      expect((await ask('POST', 'x-user-token')).status).toBe(204)
      expect((await ask('PUT', 'content-type')).status).toBe(204)
      await dev.waitLine((line) => line.startsWith('  to allow it: send the request with POST'), since)
      expect(dev.lines.slice(since)).toEqual([
        '▲ echo: a browser will refuse this response: the preflight from http://app.test asks to send the header x-user-token, which this trigger does not allow (it allows content-type, authorization, x-request-id, accept, accept-language, content-language, range)',
        '  to allow it: add "x-user-token" to triggers.echo.cors.headers in centrali.json',
        '▲ echo: a browser will refuse this response: the preflight from http://app.test asks for PUT; endpoints take POST only',
        '  to allow it: send the request with POST, the one method endpoints take',
      ])
    },
    T,
  )

  it(
    'FORCE_COLOR=1: the refusal line is yellow',
    async () => {
      await writeProject({
        files: { 'functions/echo.js': 'async function run() { return { ok: true } }\n' },
        triggers: { echo: { entry: 'functions/echo.js', cors: { origins: ['http://app.test'] } } },
      })
      const dev = await startHumanDev(FORCED)
      const since = dev.mark()
      expect((await post(dev, 'echo', { origin: 'http://evil.test' })).status).toBe(200)
      const at = await dev.waitLine((line) => plain(line).startsWith('▲ echo: '), since)
      expect(dev.lines[at]).toBe(
        yellow(
          '▲ echo: a browser will refuse this response: http://evil.test is not one of the origins allowed to call this trigger (http://app.test)',
        ),
      )
    },
    T,
  )
})
