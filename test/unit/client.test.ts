import { access, readFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { execa } from 'execa'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CentraliError, createClient } from '../../src/client/index.js'
import type { InvocationReport } from '../../src/sandbox/engine.js'
import { startEndpointServer, type EndpointServer } from '../../src/server/http.js'
import { ROOT } from '../helpers/cli.js'

/**
 * The options of `centrali/client` (headers, fetch, signal) against the real endpoint server on
 * 127.0.0.1, and the package's `centrali/client` export as Node and TypeScript resolve it.
 * The basic contract (result, CentraliError, NETWORK_ERROR) is in server.test.ts.
 */
let server: EndpointServer
/** Triggers whose function ran, in order. */
const invoked: string[] = []
/** Releases the `held` invocations still waiting. */
const held: (() => void)[] = []

const result = (value: unknown): InvocationReport => ({
  ok: true,
  logs: [],
  calls: [],
  durationMs: 1,
  redactions: [],
  resultJson: JSON.stringify(value),
})

beforeAll(async () => {
  server = await startEndpointServer({
    host: '127.0.0.1',
    port: 0,
    route: (trigger) => {
      // `headers` answers with the request headers as the function saw them.
      if (trigger === 'headers')
        return {
          invoke: async (params) => {
            invoked.push(trigger)
            return result(params.headers)
          },
        }
      // `held` answers only when the test releases it.
      if (trigger === 'held')
        return {
          invoke: (params) => {
            invoked.push(trigger)
            return new Promise((resolve) => held.push(() => resolve(result({ payload: params.payload }))))
          },
        }
      return undefined
    },
  })
})
afterAll(async () => {
  for (const release of held.splice(0)) release()
  await server.close()
})

/** The request headers as the function saw them. */
type SeenHeaders = Record<string, string>

describe('centrali/client options', () => {
  it('sends the client’s headers with every call', async () => {
    const client = createClient({
      url: server.url,
      headers: { authorization: 'Bearer client-token', 'x-app': 'chat' },
    })
    for (const payload of [1, 2]) {
      const headers = await client.triggers.invokeEndpoint<SeenHeaders>('headers', { payload })
      expect(headers).toMatchObject({
        authorization: 'Bearer client-token',
        'x-app': 'chat',
        'content-type': 'application/json',
      })
    }
  })

  it('merges a call’s headers over the client’s, for that call only', async () => {
    const client = createClient({
      url: server.url,
      headers: { authorization: 'Bearer client-token', 'x-app': 'chat' },
    })
    const overridden = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: { authorization: 'Bearer call-token', 'x-trace': 'abc' },
    })
    expect(overridden).toMatchObject({
      authorization: 'Bearer call-token',
      'x-app': 'chat',
      'x-trace': 'abc',
    })
    const next = await client.triggers.invokeEndpoint<SeenHeaders>('headers')
    expect(next).toMatchObject({ authorization: 'Bearer client-token', 'x-app': 'chat' })
    expect(next['x-trace']).toBeUndefined()
  })

  it('matches header names case-insensitively: a call’s x-app replaces the client’s X-App', async () => {
    const client = createClient({
      url: server.url,
      headers: { 'X-App': 'client', 'Content-Type': 'text/plain' },
    })
    const seen = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: { 'x-app': 'call' },
    })
    expect(seen['x-app']).toBe('call')
    expect(seen['content-type']).toBe('text/plain')
  })

  it('calls through the fetch it is given instead of the global one', async () => {
    // The client's URL does not resolve: only the given fetch, which maps it to the server, reaches it.
    const asked: { url: string; method: string | undefined }[] = []
    const client = createClient({
      url: 'http://centrali.invalid',
      fetch: (input, init) => {
        const url = String(input)
        asked.push({ url, method: init?.method })
        return fetch(url.replace('http://centrali.invalid', server.url), init)
      },
    })
    const before = invoked.length
    const headers = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: { 'x-via': 'custom' },
    })
    expect(headers['x-via']).toBe('custom')
    expect(asked).toEqual([{ url: 'http://centrali.invalid/endpoints/headers', method: 'POST' }])
    expect(invoked.slice(before)).toEqual(['headers'])
  })

  it('rejects with the AbortError, not a CentraliError, when the signal is already aborted; nothing is sent', async () => {
    const before = invoked.length
    const error = await createClient({ url: server.url })
      .triggers.invokeEndpoint('headers', { signal: AbortSignal.abort() })
      .then(
        () => undefined,
        (reason: unknown) => reason,
      )
    expect(error).toMatchObject({ name: 'AbortError' })
    expect(error).not.toBeInstanceOf(CentraliError)
    expect(invoked.length).toBe(before)
  })

  it('rejects with the AbortError when the signal aborts while the function runs', async () => {
    const controller = new AbortController()
    const call = createClient({ url: server.url })
      .triggers.invokeEndpoint('held', { payload: 'waiting', signal: controller.signal })
      .then(
        () => 'resolved',
        (reason: unknown) => reason,
      )
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort()
    // Were the signal ignored, releasing the function a little later would resolve the call.
    const late = setTimeout(() => held.splice(0).forEach((release) => release()), 1000)
    try {
      const error = await call
      expect(error).toMatchObject({ name: 'AbortError' })
      expect(error).not.toBeInstanceOf(CentraliError)
    } finally {
      clearTimeout(late)
      for (const release of held.splice(0)) release()
    }
  })
})

/**
 * A plain HTTP server on 127.0.0.1 that answers as told by the path's last segment, as a reverse
 * proxy or a broken network might, and records every request it gets.
 */
let odd: Server
let oddUrl = ''
const oddSeen: { url: string; headers: IncomingHttpHeaders }[] = []

beforeAll(async () => {
  odd = createServer((request, response) => {
    oddSeen.push({ url: request.url ?? '', headers: request.headers })
    request.resume()
    const answer = (request.url ?? '').split('/').at(-1)
    if (answer === 'html-502') {
      response.writeHead(502, 'Bad Gateway', { 'content-type': 'text/html' })
      return void response.end('<html><body><h1>502 Bad Gateway</h1></body></html>')
    }
    if (answer === 'html-200') {
      response.writeHead(200, { 'content-type': 'text/html', 'x-request-id': 'html-200-id' })
      return void response.end('<html><body>Sign in</body></html>')
    }
    if (answer === 'json-500-no-code') {
      response.writeHead(500, { 'content-type': 'application/json' })
      return void response.end('{"message":"no code here"}')
    }
    if (answer === 'empty-200') return void response.writeHead(200).end()
    if (answer === 'no-content') return void response.writeHead(204).end()
    if (answer === 'cut-short') {
      // Headers and the start of a body, then the connection drops.
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': '1000',
        'x-request-id': 'cut-short-id',
      })
      response.write('{"partial":')
      return void setTimeout(() => response.destroy(), 50)
    }
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ path: request.url }))
  })
  await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve))
  oddUrl = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`
})
afterAll(async () => {
  odd.closeAllConnections()
  await new Promise((resolve) => odd.close(resolve))
})

/** What the call rejected with (fails the test if it resolved). */
async function rejection(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    (value) => expect.unreachable(`resolved to ${JSON.stringify(value)}`),
    (reason: unknown) => reason,
  )
}

describe('centrali/client against odd answers and odd arguments', () => {
  it('sends a trigger name as one path segment, under the url’s path; ".", ".." and "" are refused unsent', async () => {
    for (const url of [`${oddUrl}/api/v1`, `${oddUrl}/api/v1/`, `${oddUrl}/api/v1//`]) {
      const client = createClient({ url })
      for (const [trigger, path] of [
        ['echo', '/api/v1/endpoints/echo'],
        ['a/b', '/api/v1/endpoints/a%2Fb'],
        ['?x#y', '/api/v1/endpoints/%3Fx%23y'],
        ['%2e%2e', '/api/v1/endpoints/%252e%252e'],
        ['chät', '/api/v1/endpoints/ch%C3%A4t'],
      ] as const)
        expect(await client.triggers.invokeEndpoint(trigger), `${url} ${trigger}`).toEqual({ path })
    }
    // A URL resolves "." and ".." away: the call, with its headers, would go to another path.
    const before = oddSeen.length
    const client = createClient({ url: `${oddUrl}/api/v1`, headers: { authorization: 'Bearer k' } })
    for (const trigger of ['..', '.', '']) {
      const error = await rejection(client.triggers.invokeEndpoint(trigger))
      expect(error, JSON.stringify(trigger)).toBeInstanceOf(CentraliError)
      expect(error).toMatchObject({ code: 'TRIGGER_NOT_FOUND', status: 0, requestId: undefined })
    }
    expect(oddSeen.slice(before)).toEqual([])
  })

  it('takes headers as an object, a Headers or [name, value] pairs, for the client and for a call', async () => {
    const client = createClient({
      url: server.url,
      headers: new Headers({ authorization: 'Bearer from-headers', 'x-app': 'chat' }),
    })
    const seen = await client.triggers.invokeEndpoint<SeenHeaders>('headers', {
      headers: [
        ['X-App', 'call'],
        ['x-trace', 'abc'],
      ],
    })
    expect(seen).toMatchObject({ authorization: 'Bearer from-headers', 'x-app': 'call', 'x-trace': 'abc' })
    expect(Object.keys(seen)).not.toContain('0')
    const plain = await createClient({
      url: server.url,
      headers: [['x-pair', 'yes']],
    }).triggers.invokeEndpoint<SeenHeaders>('headers', { headers: new Headers({ 'x-call': 'yes' }) })
    expect(plain).toMatchObject({ 'x-pair': 'yes', 'x-call': 'yes' })
  })

  it('an empty 200 or a 204 resolves to null', async () => {
    const client = createClient({ url: oddUrl })
    expect(await client.triggers.invokeEndpoint('empty-200')).toBeNull()
    expect(await client.triggers.invokeEndpoint('no-content')).toBeNull()
  })

  it('an answer that is not centrali’s (a proxy’s HTML 502, JSON without error.code) is HTTP_ERROR with its status', async () => {
    const client = createClient({ url: oddUrl })
    const html = await rejection(client.triggers.invokeEndpoint('html-502'))
    expect(html).toBeInstanceOf(CentraliError)
    expect(html).toMatchObject({ code: 'HTTP_ERROR', status: 502, requestId: undefined })
    expect((html as CentraliError).message).toContain('502 Bad Gateway')
    expect((html as CentraliError).message).toContain('text/html')
    const noCode = await rejection(client.triggers.invokeEndpoint('json-500-no-code'))
    expect(noCode).toMatchObject({ code: 'HTTP_ERROR', status: 500 })
    // A 2xx the client cannot read as JSON: not the function's result.
    const signIn = await rejection(client.triggers.invokeEndpoint('html-200'))
    expect(signIn).toMatchObject({ code: 'INVALID_RESPONSE', status: 200, requestId: 'html-200-id' })
  })

  it('an answer cut short is a NETWORK_ERROR CentraliError with the status and request id it came with', async () => {
    const error = await rejection(createClient({ url: oddUrl }).triggers.invokeEndpoint('cut-short'))
    expect(error).toBeInstanceOf(CentraliError)
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 200, requestId: 'cut-short-id' })
    expect((error as CentraliError).cause).toBeInstanceOf(Error)
  })

  it('an unreachable server is NETWORK_ERROR, with what fetch said as its cause', async () => {
    const error = await rejection(createClient({ url: 'http://127.0.0.1:1' }).triggers.invokeEndpoint('x'))
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0 })
    expect((error as CentraliError).cause).toBeInstanceOf(TypeError)
  })

  it('a payload JSON cannot carry, or a header value no request can carry, is a TypeError and nothing is sent', async () => {
    const before = oddSeen.length
    const client = createClient({ url: oddUrl })
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    for (const call of [
      client.triggers.invokeEndpoint('echo', { payload: { amount: 10n } }),
      client.triggers.invokeEndpoint('echo', { payload: cycle }),
      client.triggers.invokeEndpoint('echo', { headers: { 'x-bad': 'line\r\nx-injected: 1' } }),
    ]) {
      const error = await rejection(call)
      expect(error).toBeInstanceOf(TypeError)
      expect(error).not.toBeInstanceOf(CentraliError)
    }
    expect(oddSeen.slice(before)).toEqual([])
  })

  it('refuses a url fetch cannot call when the client is made, and never repeats a password', () => {
    for (const url of ['127.0.0.1:8787', 'localhost:8787', 'ftp://example.com', 'not a url', '']) {
      expect(() => createClient({ url }), url).toThrow(TypeError)
    }
    expect(() => createClient({ url: 'http://127.0.0.1:8787/?key=1' })).toThrow(/query/)
    let thrown: unknown
    try {
      createClient({ url: 'https://user:hunter2-secret@example.com' })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect(String((thrown as Error).message)).not.toContain('hunter2-secret')
    expect(String((thrown as Error).message)).toContain('headers')
  })
})

describe('the centrali/client export', () => {
  it('resolves from the project root to the built client, and it works', async () => {
    // A separate Node process, as a consumer imports it: by the package's name and subpath.
    const script = `
      const resolved = import.meta.resolve('centrali/client')
      const { createClient, CentraliError } = await import('centrali/client')
      const reply = await createClient({ url: process.argv[1] }).triggers.invokeEndpoint('headers', {
        headers: { 'x-from': 'export' },
      })
      const error = new CentraliError('SOME_CODE', 'message', 500)
      console.log(JSON.stringify({ resolved, xFrom: reply['x-from'], isError: error instanceof Error, code: error.code }))
    `
    const child = await execa(process.execPath, ['--input-type=module', '-e', script, server.url], {
      cwd: ROOT,
      reject: false,
      timeout: 15_000,
    })
    expect(child.stderr).toBe('')
    expect(JSON.parse(String(child.stdout))).toEqual({
      resolved: pathToFileURL(join(ROOT, 'dist/client/index.js')).href,
      xFrom: 'export',
      isError: true,
      code: 'SOME_CODE',
    })
  })

  it('gives TypeScript dist/client/index.d.ts, which declares createClient and CentraliError', async () => {
    const types = join(ROOT, 'dist/client/index.d.ts')
    await access(types)
    const { resolvedModule } = ts.resolveModuleName(
      'centrali/client',
      join(ROOT, 'consumer.ts'),
      { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
      ts.sys,
    )
    expect(resolvedModule?.resolvedFileName).toBe(types)
    const declarations = await readFile(types, 'utf8')
    expect(declarations).toMatch(
      /export declare function createClient\(options: ClientOptions\): CentraliClient;/,
    )
    expect(declarations).toMatch(/export declare class CentraliError extends Error \{/)
  })

  it(
    'type-checks the calls a user writes, in a browser project and in a Node one',
    { timeout: 90_000 },
    () => {
      // As a user writes them: a result type, headers in each form fetch takes, the error's fields.
      const consumer = join(ROOT, 'consumer-of-client.ts')
      const source = `
      import { createClient, CentraliError } from 'centrali/client'
      interface Reply { echo: string }
      const client = createClient({ url: 'http://127.0.0.1:8787', headers: new Headers({ 'x-app': 'chat' }) })
      export async function call(signal: AbortSignal): Promise<string> {
        try {
          const reply = await client.triggers.invokeEndpoint<Reply>('echo', {
            payload: { text: 'hi' },
            signal,
            headers: [['x-trace', 'abc']],
          })
          return reply.echo
        } catch (error) {
          if (error instanceof CentraliError) return \`\${error.code} \${error.status} \${error.requestId ?? ''}\`
          throw error
        }
      }
      createClient({ url: '/api', headers: { authorization: 'Bearer k' } })
      // @ts-expect-error the result is the type the call names
      export const wrong: Promise<number> = client.triggers.invokeEndpoint<Reply>('echo')
    `
      for (const environment of [
        { lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'], types: [] },
        { lib: ['lib.es2022.d.ts'], types: ['node'] },
      ]) {
        const options: ts.CompilerOptions = {
          ...environment,
          module: ts.ModuleKind.NodeNext,
          moduleResolution: ts.ModuleResolutionKind.NodeNext,
          target: ts.ScriptTarget.ES2022,
          strict: true,
          noEmit: true,
        }
        const host = ts.createCompilerHost(options)
        const readFile = host.readFile.bind(host)
        const getSourceFile = host.getSourceFile.bind(host)
        host.readFile = (file) => (file === consumer ? source : readFile(file))
        host.fileExists = (file) => file === consumer || ts.sys.fileExists(file)
        host.getSourceFile = (file, language) =>
          file === consumer ? ts.createSourceFile(file, source, language) : getSourceFile(file, language)
        const program = ts.createProgram([consumer], options, host)
        const problems = ts
          .getPreEmitDiagnostics(program)
          .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
        expect(problems, environment.lib.join(' ')).toEqual([])
      }
    },
  )
})
