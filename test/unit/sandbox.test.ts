import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { BridgeRequest } from '../../src/sandbox/protocol.js'
import type { SandboxPool } from '../../src/sandbox/pool.js'
import { mapCodeFrames } from '../../src/build/source-map.js'
import { BuildError } from '../../src/build/bundle.js'
import { buildSources, createTestPool, invoke } from '../helpers/sandbox.js'

let pool: SandboxPool
const calls: BridgeRequest[] = []
beforeAll(() => {
  pool = createTestPool((request) => {
    calls.push(request)
    if (new URL(request.url).pathname === '/blocked') {
      // As the egress guard refuses a call: an Error with a code and the host.
      throw Object.assign(new Error('api.example.com is not in domains'), {
        code: 'EGRESS_HOST_DENIED',
        host: 'api.example.com',
      })
    }
    if (new URL(request.url).pathname === '/echo-key') {
      // An upstream that repeats the key it was sent in its error, after as much padding as asked.
      const pad = Number(new URL(request.url).searchParams.get('pad'))
      const key = request.headers.authorization?.replace('Bearer ', '') ?? ''
      return {
        status: 401,
        statusText: 'Unauthorized',
        headers: {},
        body: { error: { message: `${'x'.repeat(pad)} bad key ${key}` } },
      }
    }
    if (new URL(request.url).pathname === '/fail') {
      return { status: 401, statusText: 'Unauthorized', headers: {}, body: { error: { message: 'bad key' } } }
    }
    return { status: 200, statusText: 'OK', headers: {}, body: { url: request.url, method: request.method } }
  })
})
afterAll(async () => {
  await pool.close()
})

/** Runs `body` as the body of `async function run()` and returns the outcome. */
async function runBody(body: string, payload: unknown = null, params: Record<string, string> = {}) {
  const build = await buildSources({ 'fn.js': `async function run() {\n${body}\n}` })
  return invoke(pool, build, payload, params)
}

async function valueOf(body: string): Promise<unknown> {
  const outcome = await runBody(body)
  expect(outcome.error).toBeUndefined()
  return outcome.value
}

describe('function forms', () => {
  it.each([
    ['classic script', 'fn.js', 'async function run() { return "classic" }'],
    ['exported', 'fn.js', 'export async function run() { return "exported" }'],
    ['export default', 'fn.js', 'export default async function run() { return "default" }'],
    [
      'TypeScript',
      'fn.ts',
      'interface Out { v: string }\nexport async function run(): Promise<Out> { return { v: "ts" } }',
    ],
  ])('runs a %s', async (_name, file, source) => {
    const outcome = await invoke(pool, await buildSources({ [file]: source }))
    expect(outcome.ok).toBe(true)
    expect(outcome.value).toBeTruthy()
  })

  it('bundles local modules', async () => {
    const build = await buildSources({
      'fn.ts': "import { greet } from './lib'\nexport async function run() { return greet('x') }",
      'lib.ts': 'export const greet = (name: string) => `hello ${name}`',
    })
    expect((await invoke(pool, build)).value).toBe('hello x')
  })

  it('bundles npm packages from node_modules', async () => {
    const build = await buildSources({
      'fn.ts':
        "import slugify from 'tiny-slug'\nexport async function run() { return slugify('Hello World') }",
      'node_modules/tiny-slug/package.json':
        '{ "name": "tiny-slug", "version": "1.0.0", "main": "index.js" }',
      'node_modules/tiny-slug/index.js':
        "module.exports = (text) => text.toLowerCase().replace(/\\s+/g, '-')",
    })
    expect((await invoke(pool, build)).value).toBe('hello-world')
  })

  it("names each console call in the project's own files (the sandbox has no console), not in its packages or comments", async () => {
    const build = await buildSources({
      'fn.ts': `import { helper } from './lib'
import quiet from 'noisy'
export async function run() {
  // console.log('commented out')
  console.log('here')
  return helper() + quiet()
}
`,
      'lib.ts': "export const helper = () => {\n    console.error('there')\n    return 1\n}\n",
      'node_modules/noisy/package.json': '{ "name": "noisy", "version": "1.0.0", "main": "index.js" }',
      'node_modules/noisy/index.js':
        "module.exports = () => { if (typeof console === 'object') console.warn('x'); return 2 }",
    })
    const message =
      'console does not exist in the sandbox, so this call throws; use api.log(value) or api.logError(value), which dev and the runtime show'
    // In the order esbuild read the files: an imported module before the file importing it.
    expect(build.warnings).toEqual([
      { file: 'lib.ts', line: 2, column: 4, lineText: "    console.error('there')", message },
      { file: 'fn.ts', line: 5, column: 2, lineText: "  console.log('here')", message },
    ])
    // Without a console call anywhere: no warnings, and no file read to look for one.
    expect((await buildSources({ 'fn.js': 'async function run() { return 1 }' })).warnings).toBeUndefined()
  })

  it('refuses a file without run() at build time', async () => {
    await expect(buildSources({ 'fn.js': 'async function main() {}' })).rejects.toMatchObject({
      code: 'BUILD_FAILED',
      message: expect.stringContaining('does not declare `async function run()`'),
    })
  })

  it('a file that ends inside something unfinished: the error is at its own last line, never in lines centrali adds', async () => {
    const cases = [
      // An unclosed block, template and comment: each swallows what the build appends after the file.
      { source: 'async function run() {\n  return 1\n', line: 3, message: 'Unexpected end of file' },
      { source: 'export async function run() { return `abc', line: 1, message: 'Unterminated' },
      { source: 'export async function run() { /* note', line: 1, message: '"*/"' },
      {
        source: "import { a } from './lib'\nasync function run() { return a",
        line: 2,
        message: 'end of file',
      },
    ]
    for (const { source, line, message } of cases) {
      const lastLine = source.split('\n')[line - 1]!
      const error = (await buildSources({ 'fn.ts': source, 'lib.ts': 'export const a = 1' }).catch(
        (caught: unknown) => caught,
      )) as BuildError
      expect(error, source).toBeInstanceOf(BuildError)
      expect(error.problems, source).toEqual([
        {
          file: 'fn.ts',
          line,
          column: lastLine.length,
          lineText: lastLine,
          message: expect.stringContaining(message),
        },
      ])
      expect(error.message, source).toContain(`fn.ts:${line}:${lastLine.length + 1}: `)
      expect(error.message, source).not.toMatch(/__centrali|export \{ run/)
    }
    // No run at all: said of the file, with no line of centrali's shown as the user's.
    const noRun = (await buildSources({ 'fn.js': 'async function main() {}' }).catch(
      (caught: unknown) => caught,
    )) as BuildError
    expect(noRun.problems).toEqual([
      { file: 'fn.js', message: 'the file does not declare `async function run()`' },
    ])
    expect(noRun.message).toContain('\n  fn.js: the file does not declare')
  })

  it('refuses to bundle a file that holds secrets: the store, the key, a .env file', async () => {
    const imports = [
      "import store from './.centrali/secrets.json'",
      "import env from './.env' with { type: 'text' }",
      "import env from './.env.local' with { type: 'text' }",
      "import key from './config/centrali/secrets.key' with { type: 'text' }",
      "import key from './data/master.key' with { type: 'text' }",
    ]
    for (const line of imports) {
      const error = (await buildSources({
        'fn.js': `${line}\nasync function run() { return 1 }`,
        '.centrali/secrets.json': '{"version":1,"secrets":{}}',
        '.env': 'API_KEY=sk-live-abc',
        '.env.local': 'API_KEY=sk-live-abc',
        'config/centrali/secrets.key': 'a2V5',
        'data/master.key': 'a2V5',
      }).catch((caught: unknown) => caught)) as BuildError
      expect(error, line).toBeInstanceOf(BuildError)
      expect(error.message, line).toMatch(
        /a function may not import [^:]+: .*give the function a secret through its trigger's params/,
      )
      expect(error.message, line).not.toContain('sk-live-abc')
    }
    // An ordinary JSON or text file still bundles.
    const build = await buildSources({
      'fn.js': "import data from './data.json'\nasync function run() { return data }",
      'data.json': '{"ok":true}',
    })
    expect(build.code).toContain('ok')
  })

  it('refuses Node built-ins at build time with a clear reason', async () => {
    await expect(
      buildSources({ 'fn.js': "import fs from 'node:fs'\nexport async function run() { return fs }" }),
    ).rejects.toMatchObject({
      code: 'BUILD_FAILED',
      message: expect.stringContaining('Node built-in'),
    })
  })
})

describe('globals', () => {
  it('has exactly the contract: params, api, timers, web helpers; no process, require, fetch', async () => {
    const value = await valueOf(`return {
      executionParams: typeof executionParams, triggerParams: typeof triggerParams, api: typeof api,
      setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout, setInterval: typeof setInterval,
      URL: typeof URL, URLSearchParams: typeof URLSearchParams, TextEncoder: typeof TextEncoder,
      TextDecoder: typeof TextDecoder, btoa: typeof btoa, atob: typeof atob, structuredClone: typeof structuredClone,
      now: typeof Date.now(), random: typeof Math.random(),
      process: typeof process, fetch: typeof fetch, Buffer: typeof Buffer, console: typeof console,
      Compartment: typeof Compartment, lockdown: typeof lockdown, harden: typeof harden,
      globalCompartment: typeof globalThis.Compartment, setImmediate: typeof setImmediate,
    }`)
    expect(value).toEqual({
      executionParams: 'object',
      triggerParams: 'object',
      api: 'object',
      setTimeout: 'function',
      clearTimeout: 'function',
      setInterval: 'function',
      URL: 'function',
      URLSearchParams: 'function',
      TextEncoder: 'function',
      TextDecoder: 'function',
      btoa: 'function',
      atob: 'function',
      structuredClone: 'function',
      now: 'number',
      random: 'number',
      process: 'undefined',
      fetch: 'undefined',
      Buffer: 'undefined',
      console: 'undefined',
      Compartment: 'undefined',
      lockdown: 'undefined',
      harden: 'undefined',
      globalCompartment: 'undefined',
      setImmediate: 'undefined',
    })
  })

  it('hands in frozen params', async () => {
    const outcome = await runBody(
      `const tries = []
       for (const attempt of [() => { executionParams.payload.x = 1 }, () => { triggerParams.k = 'changed' }, () => { executionParams.requestId = 'x' }]) {
         try { attempt(); tries.push('changed') } catch (e) { tries.push(e.constructor.name) }
       }
       return { tries, payload: executionParams.payload, k: triggerParams.k }`,
      { a: 1 },
      { k: 'v' },
    )
    expect(outcome.value).toEqual({
      tries: ['TypeError', 'TypeError', 'TypeError'],
      payload: { a: 1 },
      k: 'v',
    })
  })

  it('freezes params all the way down, and the api and timer functions', async () => {
    const outcome = await runBody(
      `const tries = []
       for (const attempt of [
         () => { executionParams.payload.a.b[1].c = 3 },
         () => { executionParams.payload.a.b.push(4) },
         () => { executionParams.headers.injected = 'x' },
         () => { executionParams.query.q = 'x' },
         () => { api.httpGet = () => 'mine' },
         () => { api.httpPost.extra = 1 },
         () => { setTimeout.extra = 1 },
         () => { Object.setPrototypeOf(api.log, null) },
       ]) {
         try { attempt(); tries.push('changed') } catch (e) { tries.push(e.constructor.name) }
       }
       return { tries, payload: executionParams.payload }`,
      { a: { b: [1, { c: 2 }] } },
    )
    expect(outcome.value).toEqual({
      tries: Array(8).fill('TypeError'),
      payload: { a: { b: [1, { c: 2 }] } },
    })
  })

  it('code that never names globalThis or Function shares one frozen global, which keeps nothing', async () => {
    // The factory's own arguments are the one way to that global without naming it.
    const build = await buildSources({
      'fn.js': `const shared = arguments[0]
        const seen = shared.kept
        let stored = 'stored'
        try { shared.kept = 'from an earlier invocation' } catch (e) { stored = e.constructor.name }
        async function run() { return { seen: seen ?? null, stored, frozen: Object.isFrozen(shared), process: typeof shared.process } }`,
    })
    const first = await invoke(pool, build)
    const second = await invoke(pool, build)
    expect(first.value).toEqual({ seen: null, stored: 'TypeError', frozen: true, process: 'undefined' })
    expect(second.value).toEqual(first.value)
  })

  it('code that names its global through an escape still gets one of its own', async () => {
    const value = await valueOf('glob\\u0061lThis.mine = 1; return glob\\u0061lThis.mine')
    expect(value).toBe(1)
  })
})

describe('no way out', () => {
  const escapes: [string, string][] = [
    ['function constructor from a function', "return (function () {}).constructor('return process')()"],
    ['Function', "return Function('return typeof process')()"],
    ['indirect eval', "return (0, eval)('typeof process')"],
    ['async function constructor', "return (async () => {}).constructor('return process')"],
    ['generator function constructor', "return (function* () {}).constructor('return process')"],
    ['api method constructor', "return api.httpGet.constructor('return process')()"],
    [
      'api object prototype walk',
      "return Object.getPrototypeOf(api).constructor.constructor('return process')()",
    ],
    [
      'promise from api',
      "return api.httpGet('https://x.example/').constructor.constructor('return process')()",
    ],
    [
      'result of an api call',
      "const r = await api.httpGet('https://x.example/'); return r.constructor.constructor('return process')()",
    ],
    [
      'error of an api call',
      "try { await api.httpGet('https://x.example/fail') } catch (e) { return e.constructor.constructor('return process')() }",
    ],
    [
      'timer handle',
      "const t = setTimeout(() => {}, 1); return t.constructor.constructor('return process')()",
    ],
    ['URL class', "return URL.constructor('return process')()"],
    ['payload prototype', "return executionParams.constructor.constructor('return process')()"],
    ['require shim', "return require('fs')"],
    [
      'stack trace hook',
      'Error.prepareStackTrace = (e, frames) => frames[0].getThis(); return new Error().stack',
    ],
    ['globalThis of Function', "return Function('return globalThis')().process"],
  ]

  it.each(escapes)('%s gives no access to the host', async (_name, body) => {
    const outcome = await runBody(body).catch((error: { code?: string }) => {
      // Refused by the bundler (a Node built-in): no access either.
      expect(error.code).toBe('BUILD_FAILED')
      return undefined
    })
    if (outcome === undefined) return
    // Either the attempt throws, or what it returns is not the host's process.
    if (outcome.ok) {
      expect(JSON.stringify(outcome.value ?? null)).not.toMatch(/"(pid|versions|env|argv)"/)
      expect(
        outcome.value === undefined ||
          outcome.value === null ||
          outcome.value === 'undefined' ||
          typeof outcome.value === 'string',
      ).toBe(true)
    } else {
      expect(outcome.error?.code).toMatch(/FUNCTION_ERROR|FUNCTION_LOAD_FAILED/)
    }
  })

  it('refuses direct eval and import() at build time, with the line; HTML comments in text just work', async () => {
    await expect(
      buildSources({ 'fn.js': "async function run() {\n  return eval('1 + 1')\n}" }),
    ).rejects.toMatchObject({ code: 'BUILD_FAILED', message: expect.stringMatching(/fn\.js:2:\d+: .*eval/) })
    await expect(
      buildSources({ 'fn.js': 'async function run() { const n = "fs"; return import(n) }' }),
    ).rejects.toMatchObject({ code: 'BUILD_FAILED', message: expect.stringContaining('import(') })
    const html = await buildSources({
      'fn.js': 'async function run() { return [`<p>hi</p><!-- note -->`, "a-->b", /<!--x/.test("<!--x")] }',
    })
    expect((await invoke(pool, html)).value).toEqual(['<p>hi</p><!-- note -->', 'a-->b', true])
  })

  it('cannot change shared built-ins for another invocation', async () => {
    const mutate = await runBody(`
      const results = []
      for (const attempt of [
        () => { Array.prototype.evil = 1 },
        () => { JSON.parse = () => 'evil' },
        () => { Object.prototype.polluted = true },
        // Its own compartment's global: allowed, and gone for the next invocation (checked below).
        () => { Function('globalThis.leak = 1')() },
        () => { URL.prototype.toString = () => 'evil' },
        () => { Math.random = () => 4 },
        () => { Date.now = () => 0 },
        () => { structuredClone.evil = 1 },
      ]) { try { attempt(); results.push('changed') } catch { results.push('refused') } }
      return results`)
    expect(mutate.value).toEqual([
      'refused',
      'refused',
      'refused',
      'changed',
      'refused',
      'refused',
      'refused',
      'refused',
    ])
    const check = await valueOf(
      "return [typeof [].evil, JSON.parse('1'), typeof ({}).polluted, typeof Function('return globalThis.leak')(), new URL('https://a.b/').toString()]",
    )
    expect(check).toEqual(['undefined', 1, 'undefined', 'undefined', 'https://a.b/'])
  })

  it('keeps each invocation to its own globals and params, even concurrently', async () => {
    const build = await buildSources({
      'fn.js': `
        let seen = []
        async function run() {
          globalThis.mine = executionParams.payload
          seen.push(executionParams.payload)
          await new Promise((resolve) => setTimeout(resolve, 50))
          return { mine: globalThis.mine, payload: executionParams.payload, key: triggerParams.key, seen }
        }`,
    })
    const [first, second] = await Promise.all([
      invoke(pool, build, 'first', { key: 'key-1' }),
      invoke(pool, build, 'second', { key: 'key-2' }),
    ])
    expect(first.value).toEqual({ mine: 'first', payload: 'first', key: 'key-1', seen: ['first'] })
    expect(second.value).toEqual({ mine: 'second', payload: 'second', key: 'key-2', seen: ['second'] })
  })
})

describe('api', () => {
  it('sends plain objects as JSON and strings as they are', async () => {
    calls.length = 0
    await valueOf(`
      await api.httpPost('https://a.example/json', { a: 1 })
      await api.httpPut('https://a.example/form', 'a=1&b=2', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
      await api.httpPatch('https://a.example/patch', [1, 2])
      await api.httpDelete('https://a.example/delete', { headers: { 'X-Id': 7 } })
      return null`)
    expect(calls.map(({ method, url, headers, body }) => ({ method, url, headers, body }))).toEqual([
      {
        method: 'POST',
        url: 'https://a.example/json',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      },
      {
        method: 'PUT',
        url: 'https://a.example/form',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'a=1&b=2',
      },
      {
        method: 'PATCH',
        url: 'https://a.example/patch',
        headers: { 'content-type': 'application/json' },
        body: '[1,2]',
      },
      { method: 'DELETE', url: 'https://a.example/delete', headers: { 'X-Id': '7' }, body: undefined },
    ])
  })

  it('resolves to the body on 2xx and rejects with HttpError otherwise; request never rejects on a status', async () => {
    const value = await valueOf(`
      const ok = await api.httpGet('https://a.example/ok')
      let failure
      try { await api.httpGet('https://a.example/fail?key=secret') } catch (e) {
        failure = { name: e.name, status: e.status, statusText: e.statusText, body: e.body, message: e.message }
      }
      const raw = await api.request('GET', 'https://a.example/fail')
      return { ok, failure, raw: { status: raw.status, body: raw.body } }`)
    expect(value).toEqual({
      ok: { url: 'https://a.example/ok', method: 'GET' },
      failure: {
        name: 'HttpError',
        status: 401,
        statusText: 'Unauthorized',
        body: { error: { message: 'bad key' } },
        message: 'GET https://a.example/fail failed: 401 Unauthorized: bad key',
      },
      raw: { status: 401, body: { error: { message: 'bad key' } } },
    })
  })

  it('logs what JSON cannot hold as something readable: a cycle, a bigint, a throwing getter, a function', async () => {
    const outcome = await runBody(`
      const cyclic = { name: 'a', list: [1] }
      cyclic.self = cyclic
      cyclic.list.push(cyclic)
      const shared = { n: 1 }
      api.log(cyclic)
      api.log({ left: shared, right: shared, big: 12n })
      api.log({ get broken() { throw new Error('no reading me') } })
      api.log(() => 1)
      return 1`)
    expect(outcome.logs.map((record) => record.value)).toEqual([
      { name: 'a', list: [1, '[Circular]'], self: '[Circular]' },
      // Seen twice but not a cycle: written both times.
      { left: { n: 1 }, right: { n: 1 }, big: '12n' },
      '[a value that cannot be logged: no reading me]',
      '[function]',
    ])
  })

  it('an error message cut short never keeps part of a secret (redaction looks for whole values)', async () => {
    const key = 'sk_live_Ab3dEf9hIjK1mN0pQr'
    const build = await buildSources({
      'fn.js': `async function run() {
  try {
    await api.httpGet('https://api.example.com/echo-key?pad=' + executionParams.payload, { headers: { authorization: 'Bearer ' + triggerParams.key } })
  } catch (error) { return error.message }
}`,
    })
    for (let pad = 160; pad < 200; pad++) {
      const message = (await invoke(pool, build, pad, { key })).value as string
      // Either the whole key (which redaction then replaces) or none of it, never its first part.
      for (let length = 6; length < key.length; length++) {
        expect(message.replace(key, ''), `pad ${pad}`).not.toContain(key.slice(0, length))
      }
    }
  })

  it('collects structured logs with the request id and trigger', async () => {
    const outcome = await runBody(
      "api.log({ step: 1 }); api.logError(new Error('boom')); api.log('text'); return 1",
    )
    expect(outcome.logs).toEqual([
      {
        time: expect.any(String),
        level: 'info',
        requestId: expect.stringMatching(/^req-/),
        trigger: 'test',
        value: { step: 1 },
      },
      {
        time: expect.any(String),
        level: 'error',
        requestId: expect.any(String),
        trigger: 'test',
        value: { name: 'Error', message: 'boom' },
      },
      {
        time: expect.any(String),
        level: 'info',
        requestId: expect.any(String),
        trigger: 'test',
        value: 'text',
      },
    ])
    expect(outcome.calls).toEqual([])
  })

  it('records each outbound call without its query string', async () => {
    const outcome = await runBody("await api.httpGet('https://a.example/path?token=abc'); return 1")
    expect(outcome.calls).toEqual([
      {
        method: 'GET',
        url: 'https://a.example/path',
        host: 'a.example',
        status: 200,
        durationMs: expect.any(Number),
        logsBefore: 0,
      },
    ])
  })

  it('records how many logs came before each call, so hosts can show both in the order made', async () => {
    const outcome = await runBody(
      "api.log('a'); await api.httpGet('https://a.example/1'); api.log('b'); api.log('c'); await api.httpGet('https://a.example/2'); api.log('d'); return 1",
    )
    expect(outcome.logs.map((log) => log.value)).toEqual(['a', 'b', 'c', 'd'])
    expect(outcome.calls.map((call) => [call.url, call.logsBefore])).toEqual([
      ['https://a.example/1', 1],
      ['https://a.example/2', 3],
    ])
  })

  it.each([
    ['https://api.example.com?k=1', 'https://api.example.com/', 'api.example.com'],
    ['https://API.Example.com/a/../b#x', 'https://api.example.com/b', 'api.example.com'],
    ['https://api.example.com:443/v1/%41', 'https://api.example.com/v1/%41', 'api.example.com'],
    ['https://api.example.com:8443/v1', 'https://api.example.com:8443/v1', 'api.example.com:8443'],
    ['https://0x7f.1/x', 'https://127.0.0.1/x', '127.0.0.1'],
  ])('names a call to %s by its normalised origin and path', async (called, url, host) => {
    const outcome = await runBody(`await api.httpGet(${JSON.stringify(called)}); return 1`)
    expect(outcome.calls).toMatchObject([{ url, host }])
  })
})

describe('results and errors', () => {
  it('a thrown error is FUNCTION_ERROR (500) with its message', async () => {
    const outcome = await runBody("throw new Error('it broke')")
    expect(outcome.error).toMatchObject({ code: 'FUNCTION_ERROR', message: 'it broke', status: 500 })
  })

  it("a thrown error's frames in the function's code map, through the build's source map, to its files as written", async () => {
    const files = {
      'fn.ts': `import { check } from './lib/check'

export async function run() {
  const items: number[] = [1, 2]
  return items.map((item) => check(item))
}
`,
      'lib/check.ts': `export function check(value: number): number {
  if (value > 1) throw new RangeError('too big')
  return value
}
`,
    }
    const build = await buildSources(files, 'fn.ts', { sourceMap: true })
    const outcome = await invoke(pool, build)
    expect(outcome.error).toMatchObject({ code: 'FUNCTION_ERROR', message: 'too big' })
    // Positions in the code the worker ran; Array.prototype.map, a built-in, is no frame of it.
    expect(outcome.error!.frames).toEqual([
      { name: 'check', line: expect.any(Number), column: expect.any(Number) },
      { line: expect.any(Number), column: expect.any(Number) },
      { name: 'run', line: expect.any(Number), column: expect.any(Number) },
    ])
    const column = (file: keyof typeof files, line: number, part: string) =>
      files[file].split('\n')[line - 1]!.indexOf(part) + 1
    expect(mapCodeFrames(build, outcome.error!.frames!)).toEqual([
      { name: 'check', file: 'lib/check.ts', line: 2, column: column('lib/check.ts', 2, 'new RangeError') },
      { file: 'fn.ts', line: 5, column: column('fn.ts', 5, 'check(item)') },
      { name: 'run', file: 'fn.ts', line: 5, column: column('fn.ts', 5, 'items.map') + 'items.'.length },
    ])
    // Without a map there is nothing to say where.
    expect(mapCodeFrames(await buildSources(files, 'fn.ts'), outcome.error!.frames!)).toEqual([])
  })

  it("an upstream's error the function did not catch: the frame where it awaited the call, none of the worker's own", async () => {
    const source =
      "async function run() {\n  const answer = await api.httpGet('https://api.example.com/fail')\n  return answer\n}\n"
    const build = await buildSources({ 'fn.js': source }, 'fn.js', { sourceMap: true })
    const outcome = await invoke(pool, build)
    expect(outcome.error).toMatchObject({ code: 'FUNCTION_ERROR', status: 500 })
    expect(mapCodeFrames(build, outcome.error!.frames ?? [])).toEqual([
      { name: 'run', file: 'fn.js', line: 2, column: source.split('\n')[1]!.indexOf('await') + 1 },
    ])
  })

  it('a blocked call the function did not catch: the frame where it awaited the call, with each api method', async () => {
    for (const call of [
      "api.httpGet('https://api.example.com/blocked')",
      "api.request('GET', 'https://api.example.com/blocked')",
    ]) {
      const source = `async function run() {\n  const answer = await ${call}\n  return answer\n}\n`
      const build = await buildSources({ 'fn.js': source }, 'fn.js', { sourceMap: true })
      const outcome = await invoke(pool, build)
      expect(outcome.error, call).toMatchObject({
        code: 'EGRESS_HOST_DENIED',
        message: 'api.example.com is not in domains',
        status: 502,
      })
      expect(mapCodeFrames(build, outcome.error!.frames ?? []), call).toEqual([
        { name: 'run', file: 'fn.js', line: 2, column: source.split('\n')[1]!.indexOf('await') + 1 },
      ])
    }
    // Caught, it is still the error the contract names, for the function to tell apart.
    expect(
      await valueOf(
        "try { await api.httpPost('https://api.example.com/blocked', {}) } catch (error) { return [error.name, error.code, error.host, error.message] }",
      ),
    ).toEqual([
      'EgressBlockedError',
      'EGRESS_HOST_DENIED',
      'api.example.com',
      'api.example.com is not in domains',
    ])
  })

  it('no frames for a thrown value that is not an Error, nor from a stack the function rewrote', async () => {
    expect((await runBody("throw 'plain text'")).error).toEqual({
      code: 'FUNCTION_ERROR',
      message: 'plain text',
      status: 500,
    })
    // A stack is text the function can write: only what looks like a frame of its code (named by
    // the build's sourceURL) is read, and a name only if it looks like one (a terminal prints it).
    const rewritten = await runBody(
      "const error = new Error('x'); error.stack = 'Error: x\\n    at \\u001b[31mred (centrali-function:1:2)\\n    at other (eval at f, <anonymous>:3:4)\\n    at /etc/passwd:1:1'; throw error",
    )
    expect(rewritten.error!.frames).toEqual([{ line: 1, column: 2 }])
  })

  it('a value that is not JSON is FUNCTION_ERROR', async () => {
    const outcome = await runBody('const a = {}; a.self = a; return a')
    expect(outcome.error).toMatchObject({ code: 'FUNCTION_ERROR', message: expect.stringContaining('JSON') })
  })

  it('a function or a symbol returned (no JSON form) is FUNCTION_ERROR, not null', async () => {
    for (const [body, kind] of [
      ['return run', 'function'],
      ["return Symbol('s')", 'symbol'],
    ]) {
      const outcome = await runBody(body!)
      expect(outcome.error, body).toMatchObject({
        code: 'FUNCTION_ERROR',
        message: expect.stringContaining(`run() returned a ${kind}, which has no JSON form`),
      })
    }
  })

  it('undefined becomes null', async () => {
    expect((await runBody('return undefined')).value).toBeNull()
  })
})

describe('loaded builds', () => {
  it('keeps at most 32 loaded per worker, unloading the one an invocation needed least recently', async () => {
    const builds = await Promise.all(
      Array.from({ length: 33 }, (_, index) =>
        buildSources({ 'fn.js': `async function run() { return ${index} }` }),
      ),
    )
    const own = createTestPool()
    const sent: { type: string; buildId?: string }[] = []
    const post = Worker.prototype.postMessage
    vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (this: Worker, batch: unknown) {
      sent.push(...(batch as { type: string; buildId?: string }[]))
      post.call(this, batch)
    })
    try {
      for (const build of builds.slice(0, 32)) expect((await invoke(own, build)).ok).toBe(true)
      // The first build is used again: the second is now the one used least recently.
      expect((await invoke(own, builds[0]!)).value).toBe(0)
      expect((await invoke(own, builds[32]!)).value).toBe(32)
      expect(sent.filter((message) => message.type === 'unload')).toEqual([
        { type: 'unload', buildId: builds[1]!.id },
      ])
      // The first is still loaded: it runs without being sent again.
      const loadsBefore = sent.filter((message) => message.type === 'load').length
      expect((await invoke(own, builds[0]!)).value).toBe(0)
      expect(sent.filter((message) => message.type === 'load')).toHaveLength(loadsBefore)
      expect(loadsBefore).toBe(33)
    } finally {
      vi.restoreAllMocks()
      await own.close()
    }
  })
})
