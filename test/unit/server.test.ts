import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CentraliError, createClient } from '../../src/client/index.js'
import type { InvocationReport } from '../../src/sandbox/engine.js'
import type { ExecutionParams } from '../../src/sandbox/protocol.js'
import { startEndpointServer, type EndpointServer, type RequestEvent } from '../../src/server/http.js'
import { preflight } from '../helpers/http.js'
import { until } from '../helpers/until.js'

const seen: ExecutionParams[] = []
const events: RequestEvent[] = []
let server: EndpointServer

const report = ({
  result,
  ...overrides
}: Partial<InvocationReport> & { result?: unknown }): InvocationReport => ({
  ok: true,
  logs: [],
  calls: [],
  durationMs: 1,
  redactions: [],
  ...(result === undefined ? {} : { resultJson: JSON.stringify(result) }),
  ...overrides,
})

beforeAll(async () => {
  server = await startEndpointServer({
    host: '127.0.0.1',
    port: 0,
    knownTriggers: () => ['echo', 'broken', 'slow'],
    onRequest: (event) => events.push(event),
    route: (trigger) => {
      const cors = { origins: ['http://app.example'], headers: ['x-app'], maxAgeSeconds: 60 }
      if (trigger === 'echo') {
        return {
          cors,
          invoke: async (params) => {
            seen.push(params)
            return report({ result: { got: params.payload } })
          },
        }
      }
      if (trigger === 'broken') {
        return {
          cors,
          invoke: async () =>
            report({ ok: false, error: { code: 'FUNCTION_ERROR', message: 'boom', status: 500 } }),
        }
      }
      if (trigger === 'slow') {
        return {
          cors,
          invoke: async () =>
            report({ ok: false, error: { code: 'FUNCTION_TIMEOUT', message: 'late', status: 504 } }),
        }
      }
      return undefined
    },
  })
})
afterAll(async () => {
  await server.close()
})

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  })
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  }
}

describe('the HTTP contract', () => {
  it('POST /endpoints/<trigger> runs it with the payload and returns its result', async () => {
    const response = await post('/endpoints/echo?x=1', JSON.stringify({ payload: { a: 1 } }), {
      'x-app': 'yes',
    })
    expect(response.status).toBe(200)
    expect(response.body).toEqual({ got: { a: 1 } })
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    expect(seen.at(-1)).toMatchObject({
      payload: { a: 1 },
      method: 'POST',
      path: '/endpoints/echo',
      query: { x: '1' },
      headers: expect.objectContaining({ 'x-app': 'yes' }),
      requestId: response.headers.get('x-request-id'),
    })
  })

  it.each([
    ['unknown trigger', '/endpoints/nope', '{}', 404, 'TRIGGER_NOT_FOUND'],
    ['bad JSON', '/endpoints/echo', '{nope', 400, 'BAD_JSON'],
    ['not an object', '/endpoints/echo', '[1]', 400, 'BAD_REQUEST'],
    ['function error', '/endpoints/broken', '{}', 500, 'FUNCTION_ERROR'],
    ['timeout', '/endpoints/slow', '{}', 504, 'FUNCTION_TIMEOUT'],
    ['unknown route', '/other', '{}', 404, 'NOT_FOUND'],
  ])('%s → %i %s', async (_name, path, body, status, code) => {
    const response = await post(path, body)
    expect(response.status).toBe(status)
    expect(response.body).toEqual({ error: { code, message: expect.any(String) } })
    expect(response.headers.get('x-request-id')).toBeTruthy()
  })

  it('lists the known triggers in a 404', async () => {
    const response = await post('/endpoints/nope', '{}')
    expect((response.body.error as { message: string }).message).toContain(
      'Known triggers: echo, broken, slow',
    )
  })

  it('other methods get 405 with Allow', async () => {
    const response = await fetch(`${server.url}/endpoints/echo`)
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('POST, OPTIONS')
  })

  it.each(['POST', 'DELETE', 'OPTIONS'])('%s /healthz is 405 with Allow: GET, HEAD', async (method) => {
    const response = await fetch(`${server.url}/healthz`, { method })
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD')
    expect(await response.json()).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } })
  })

  it('GET /healthz is 200', async () => {
    const response = await fetch(`${server.url}/healthz`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ ok: true })
  })

  it('refuses a body over 1 MiB at the limit, declared or streamed, without reading the rest', async () => {
    const declared = await post('/endpoints/echo', JSON.stringify({ payload: 'x'.repeat(1024 * 1024 + 10) }))
    expect(declared.status).toBe(413)
    expect(declared.body).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } })

    // 50 MiB sent in chunks without a length: answered 413 and cut off, long before 50 MiB are sent.
    const result = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      let sent = 0
      const req = httpRequest(
        `${server.url}/endpoints/echo`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (response) => {
          response.resume()
          resolve({ status: response.statusCode ?? 0, sent })
        },
      )
      req.on('error', () => resolve({ status: -1, sent }))
      const chunk = Buffer.alloc(64 * 1024, 'x')
      const pump = () => {
        while (sent < 50 * 1024 * 1024) {
          sent += chunk.length
          if (!req.write(chunk)) return void req.once('drain', pump)
        }
        req.end()
      }
      req.write('{"payload":"')
      pump()
      setTimeout(() => reject(new Error('no answer')), 10000).unref()
    })
    expect(result.status).toBe(413)
    // What the client had handed to its socket when the 413 came: the limit plus the buffers of a
    // loopback connection (a few MiB), far from the 50 MiB a server reading it all would take.
    expect(result.sent).toBeLessThan(16 * 1024 * 1024)
  })
})

describe('CORS', () => {
  it('answers an allowed preflight with the trigger’s policy', async () => {
    const response = await fetch(`${server.url}/endpoints/echo`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe('http://app.example')
    expect(response.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS')
    expect(response.headers.get('access-control-allow-headers')).toContain('x-app')
    expect(response.headers.get('access-control-max-age')).toBe('60')
  })

  it('puts the headers on errors too', async () => {
    const response = await post('/endpoints/broken', '{}', { origin: 'http://app.example' })
    expect(response.status).toBe(500)
    expect(response.headers.get('access-control-allow-origin')).toBe('http://app.example')
  })

  it("does not run the function for a browser's request from another site that the trigger does not allow", async () => {
    const ran = () => seen.filter((params) => params.payload === 'cross').length
    const body = JSON.stringify({ payload: 'cross' })
    for (const site of ['cross-site', 'same-site']) {
      const refused = await post('/endpoints/echo', body, {
        origin: 'http://evil.example',
        'sec-fetch-site': site,
      })
      expect(refused.status, site).toBe(403)
      expect(refused.body, site).toEqual({
        error: {
          code: 'ORIGIN_NOT_ALLOWED',
          message:
            "This page's origin may not call the trigger echo: the trigger's cors.origins in centrali.json name the pages that may.",
        },
      })
      expect(refused.headers.get('access-control-allow-origin'), site).toBeNull()
      expect(events.at(-1)?.refusal?.code).toBe('ORIGIN_NOT_ALLOWED')
      expect(events.at(-1)?.corsRefused?.refused).toBe('origin')
    }
    expect(ran()).toBe(0)
    // An allowed origin from another site runs; so does a page of the same origin (behind the same
    // proxy, without CORS), and a request that does not say where it came from (a tool, an old browser).
    const allowed = await post('/endpoints/echo', body, {
      origin: 'http://app.example',
      'sec-fetch-site': 'cross-site',
    })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.example')
    const sameOrigin = await post('/endpoints/echo', body, {
      origin: 'http://evil.example',
      'sec-fetch-site': 'same-origin',
    })
    expect(sameOrigin.status).toBe(200)
    const unsaid = await post('/endpoints/echo', body, { origin: 'http://evil.example' })
    expect(unsaid.status).toBe(200)
    expect(ran()).toBe(3)
    // A preflight from it is answered as before: 204 without CORS headers.
    const preflight = await fetch(`${server.url}/endpoints/echo`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://evil.example',
        'access-control-request-method': 'POST',
        'sec-fetch-site': 'cross-site',
      },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('gives an origin that is not allowed no CORS headers, and says why', async () => {
    const response = await post('/endpoints/echo', '{}', { origin: 'http://evil.example' })
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
    expect(events.at(-1)?.corsRefused?.reason).toBe(
      'http://evil.example is not one of the origins allowed to call this trigger (http://app.example)',
    )
  })
})

describe('CORS of a preflight that asks for more than the trigger allows', () => {
  it('answers 204 with the CORS headers, and says which header or method the browser will refuse', async () => {
    const ask = (method: string, headers: string) =>
      preflight(`${server.url}/endpoints/echo`, 'http://app.example', method, headers)
    const header = await ask('POST', 'content-type, x-user-token')
    expect(header.status).toBe(204)
    expect(header.headers.get('access-control-allow-origin')).toBe('http://app.example')
    expect(header.headers.get('access-control-allow-headers')).not.toContain('x-user-token')
    expect(events.at(-1)).toMatchObject({
      status: 204,
      origin: 'http://app.example',
      corsRefused: { refused: 'headers', headers: ['x-user-token'] },
    })
    const method = await ask('PUT', 'content-type')
    expect(method.status).toBe(204)
    expect(events.at(-1)?.corsRefused).toMatchObject({ refused: 'method', method: 'PUT' })
    // What the trigger allows: no refusal.
    await ask('POST', 'Content-Type, X-App')
    expect(events.at(-1)?.corsRefused).toBeUndefined()
  })
})

describe('centrali/client', () => {
  const client = () => createClient({ url: server.url })

  it('resolves to the function result', async () => {
    await expect(client().triggers.invokeEndpoint('echo', { payload: { hi: 1 } })).resolves.toEqual({
      got: { hi: 1 },
    })
  })

  it('rejects with a CentraliError carrying code, status and request id', async () => {
    const error = (await client()
      .triggers.invokeEndpoint('broken')
      .catch((reason: unknown) => reason)) as CentraliError
    expect(error).toBeInstanceOf(CentraliError)
    expect(error).toMatchObject({ code: 'FUNCTION_ERROR', status: 500, message: 'boom' })
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('reports an unreachable server as NETWORK_ERROR', async () => {
    const error = (await createClient({ url: 'http://127.0.0.1:1' })
      .triggers.invokeEndpoint('echo')
      .catch((reason: unknown) => reason)) as CentraliError
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', status: 0 })
  })
})

describe('shutdown', () => {
  it('lets a running request finish, then closes', async () => {
    let release: () => void = () => undefined
    const waiting = await startEndpointServer({
      host: '127.0.0.1',
      port: 0,
      route: () => ({
        invoke: () => new Promise((resolve) => (release = () => resolve(report({ result: 'finished' })))),
      }),
    })
    const inFlight = fetch(`${waiting.url}/endpoints/x`, { method: 'POST', body: '{}' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(waiting.inFlight()).toBe(1)
    const closing = waiting.close(5000)
    setTimeout(() => release(), 100)
    const response = await inFlight
    expect(await response.json()).toBe('finished')
    await closing
    await expect(fetch(`${waiting.url}/healthz`)).rejects.toThrow()
  })

  /** A server whose invocations run until `endAll` settles them as the sandbox does when it closes. */
  async function serverOfEndlessInvocations() {
    const pending: (() => void)[] = []
    let invoked = 0
    const endless = await startEndpointServer({
      host: '127.0.0.1',
      port: 0,
      route: () => ({
        invoke: () => {
          invoked++
          return new Promise<InvocationReport>((resolve) =>
            pending.push(() =>
              resolve(
                report({
                  ok: false,
                  error: { code: 'POOL_CLOSED', message: 'The sandbox was shut down.', status: 503 },
                }),
              ),
            ),
          )
        },
      }),
    })
    const endAll = async () => {
      for (const end of pending.splice(0)) end()
    }
    return { endless, endAll, invoked: () => invoked }
  }

  const answerOf = (response: Response) =>
    response.json().then((body: unknown) => ({
      status: response.status,
      body,
      requestId: response.headers.get('x-request-id'),
    }))

  it('a request still running when the grace ends is answered with what ending it gives, then closed', async () => {
    const { endless, endAll } = await serverOfEndlessInvocations()
    const answered = fetch(`${endless.url}/endpoints/x`, { method: 'POST', body: '{}' }).then(answerOf)
    await until(
      () => (endless.inFlight() === 1 ? true : undefined),
      () => 'the request did not arrive',
      { timeoutMs: 2_000 },
    )
    const started = Date.now()
    await endless.close(300, endAll)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(await answered).toEqual({
      status: 503,
      body: { error: { code: 'POOL_CLOSED', message: expect.any(String) } },
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    })
  })

  it('a request with no answer coming (ending runs nothing, or its body is still arriving) gets 503 SHUTTING_DOWN, in bounded time', async () => {
    const { endless, invoked } = await serverOfEndlessInvocations()
    const answered = fetch(`${endless.url}/endpoints/x`, { method: 'POST', body: '{}' }).then(answerOf)
    // Headers and half of the body: never complete.
    const uploading = exchangeRaw(
      endless.port,
      'POST /endpoints/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"pay',
    )
    await until(
      () => (endless.inFlight() === 2 ? true : undefined),
      () => `${endless.inFlight()} requests in flight`,
      { timeoutMs: 2_000 },
    )
    const started = Date.now()
    await endless.close(300, async () => undefined)
    expect(Date.now() - started).toBeLessThan(300 + 1_000 + 250 + 500)
    expect(await answered).toMatchObject({ status: 503, body: { error: { code: 'SHUTTING_DOWN' } } })
    expectContractError(parseRawAnswer(await uploading), 503, 'SHUTTING_DOWN')
    // Only the first one ran: the upload was answered before its body could come.
    expect(invoked()).toBe(1)
  })
})

/** A raw HTTP/1.1 answer as it came over the socket. */
interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: unknown
}

function parseRawAnswer(received: string): RawAnswer {
  const split = received.indexOf('\r\n\r\n')
  const [statusLine = '', ...headerLines] = received.slice(0, split).split('\r\n')
  const headers = Object.fromEntries(
    headerLines.map((line) => {
      const colon = line.indexOf(':')
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
    }),
  )
  const text = received.slice(split + 4)
  expect(Buffer.byteLength(text)).toBe(Number(headers['content-length']))
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(text) as unknown }
}

/** Writes `text` on a raw connection; resolves with everything received once the server closed it. */
function exchangeRaw(port: number, text: string | Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  let received = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => (received += chunk))
  socket.write(text)
  return new Promise<string>((resolve, reject) => {
    socket.once('close', () => resolve(received))
    socket.once('error', reject)
    setTimeout(() => reject(new Error(`still open after 5 s; received: ${received}`)), 5_000).unref()
  }).finally(() => socket.destroy())
}

/** The contract's error answer, as a request Node's parser refused must get too. */
function expectContractError(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status)
  expect(answer.body).toEqual({ error: { code, message: expect.any(String) } })
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8')
  expect(answer.headers['x-request-id']).toMatch(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  )
  expect(answer.headers.connection).toBe('close')
}

describe('requests Node’s HTTP parser refuses', () => {
  it.each([
    ['a Content-Length that is not a number', 'content-length: abc\r\n\r\n{}', /Content-Length/],
    ['a malformed chunk', 'transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', /chunk size/],
  ])('%s: 400 BAD_REQUEST in the contract’s shape, then closed', async (_name, rest, reason) => {
    const received = await exchangeRaw(server.port, `POST /endpoints/echo HTTP/1.1\r\nhost: x\r\n${rest}`)
    const answer = parseRawAnswer(received)
    expectContractError(answer, 400, 'BAD_REQUEST')
    expect((answer.body as { error: { message: string } }).error.message).toMatch(reason)
  })

  it('headers of 100 KB: 431 HEADERS_TOO_LARGE', async () => {
    const big = `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(100 * 1024)}\r\n\r\n`
    expectContractError(parseRawAnswer(await exchangeRaw(server.port, big)), 431, 'HEADERS_TOO_LARGE')
  })

  it('an HTTP/1.1 request without Host: 400 BAD_REQUEST', async () => {
    const received = await exchangeRaw(server.port, 'GET /healthz HTTP/1.1\r\n\r\n')
    expectContractError(parseRawAnswer(received), 400, 'BAD_REQUEST')
  })

  it('writes no second answer into a response already under way', async () => {
    // The answer to the first request is written before the parser reaches the garbage after it.
    const received = await exchangeRaw(
      server.port,
      'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n',
    )
    expect(received.match(/^HTTP\/1\.1 /gm)).toHaveLength(1)
    expect(received).toMatch(/^HTTP\/1\.1 200 /)
  })
})

describe('the request target', () => {
  /** Sends `method target` as is (fetch would resolve the path first) and parses the answer. */
  const send = async (port: number, method: string, target: string, body = '{}') =>
    parseRawAnswer(
      await exchangeRaw(
        port,
        `${method} ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ),
    )
  const message = (answer: RawAnswer) => (answer.body as { error: { message: string } }).error.message

  it.each([
    ['GET', '//x/healthz'],
    ['POST', '//whatever.example/endpoints/echo'],
    ['POST', '//endpoints/echo'],
    ['POST', '/\\x/endpoints/echo'],
    ['GET', '/endpoints/../healthz'],
  ])('%s %s is a 404 naming that path, as sent', async (method, target) => {
    const invoked = seen.length
    const answer = await send(server.port, method, target)
    expect(answer.status).toBe(404)
    expect(answer.body).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect(message(answer)).toContain(`No route for ${target};`)
    expect(seen.length).toBe(invoked)
  })

  it('absolute-form (what a proxy is sent) routes its path and ignores its host', async () => {
    const answer = await send(
      server.port,
      'POST',
      'http://any.example/endpoints/echo?x=2',
      JSON.stringify({ payload: 'abs' }),
    )
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ got: 'abs' })
    expect(seen.at(-1)).toMatchObject({ path: '/endpoints/echo', query: { x: '2' } })
  })

  it('OPTIONS * is a 404: there are no server-wide options', async () => {
    const answer = await send(server.port, 'OPTIONS', '*', '')
    expect(answer.status).toBe(404)
    expect(message(answer)).toContain('No route for *;')
  })

  it('a query on a path other than an endpoint’s is still read', async () => {
    const answer = await send(server.port, 'POST', '/endpoints/echo/?a=1&b=two#frag')
    expect(answer.status).toBe(200)
    expect(seen.at(-1)).toMatchObject({ path: '/endpoints/echo/', query: { a: '1', b: 'two' } })
  })
})

describe('Expect: 100-continue', () => {
  const head = (target: string, length: number, expect = '100-continue') =>
    `POST ${target} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\nexpect: ${expect}\r\n\r\n`

  it.each([
    ['a declared body over the limit', '/endpoints/echo', 2 * 1024 * 1024, 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown trigger', '/endpoints/nope', 20, 404, 'TRIGGER_NOT_FOUND'],
    ['a path with no route', '/other', 20, 404, 'NOT_FOUND'],
  ])(
    '%s: the final answer at once, no 100 Continue, and the connection is closed unsent',
    async (_name, target, length, status, code) => {
      // The body is never sent: the exchange ends only because the server closes the connection.
      const received = await exchangeRaw(server.port, head(target, length))
      expect(received).not.toMatch(/100 Continue/)
      expect(parseRawAnswer(received)).toMatchObject({
        status,
        body: { error: { code } },
        headers: { connection: 'close' },
      })
    },
  )

  it('a body that will be read: 100 Continue, then the answer, on a connection kept alive', async () => {
    const socket = connect(server.port, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    const arrived = (pattern: RegExp) =>
      until(
        () => (pattern.test(received) ? true : undefined),
        () => `received: ${received}`,
        { timeoutMs: 3_000 },
      )
    try {
      const body = JSON.stringify({ payload: 'continued' })
      socket.write(head('/endpoints/echo', body.length))
      await arrived(/^HTTP\/1\.1 100 Continue\r\n\r\n/)
      socket.write(body)
      await arrived(/"continued"/)
      const answer = parseRawAnswer(received.slice(received.indexOf('\r\n\r\n') + 4))
      expect(answer).toMatchObject({ status: 200, body: { got: 'continued' } })
      expect(answer.headers.connection).toMatch(/keep-alive/i)
    } finally {
      socket.destroy()
    }
  })

  it('another expectation: 417 EXPECTATION_FAILED in the contract’s shape', async () => {
    const received = await exchangeRaw(server.port, head('/endpoints/echo', 2, 'something-else'))
    expectContractError(parseRawAnswer(received), 417, 'EXPECTATION_FAILED')
  })
})

describe('slow clients', () => {
  /** Opens a raw connection, writes `text`, and resolves with what came back once the server closed it. */
  const stall = async (port: number, text: string) => {
    const opened = Date.now()
    const socket = connect(port, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    socket.write(text)
    const closedAfterMs = await new Promise<number>((resolve, reject) => {
      socket.once('close', () => resolve(Date.now() - opened))
      socket.once('error', reject)
      setTimeout(() => reject(new Error(`still open after 5 s; received: ${received}`)), 5_000)
    }).finally(() => socket.destroy())
    return { received, closedAfterMs }
  }

  it('drops a client that stalls in its headers, in its body, or idles on keep-alive', async () => {
    const timed = await startEndpointServer({
      host: '127.0.0.1',
      port: 0,
      headersTimeoutMs: 400,
      requestTimeoutMs: 800,
      keepAliveTimeoutMs: 400,
      route: () => ({ invoke: async () => report({ result: 1 }) }),
    })
    try {
      const { port } = timed
      // Headers never finished (the slowloris shape): 408, then closed.
      const headers = await stall(port, 'POST /endpoints/x HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\n')
      expectContractError(parseRawAnswer(headers.received), 408, 'REQUEST_TIMEOUT')
      expect(headers.closedAfterMs).toBeGreaterThanOrEqual(350)
      // A body announced and never sent whole: 408, then closed.
      const body = await stall(
        port,
        'POST /endpoints/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"pay',
      )
      expectContractError(parseRawAnswer(body.received), 408, 'REQUEST_TIMEOUT')
      expect(body.closedAfterMs).toBeGreaterThanOrEqual(750)
      // A whole request answered, then nothing: the idle connection is closed.
      const idle = await stall(
        port,
        'POST /endpoints/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}',
      )
      expect(idle.received).toMatch(/^HTTP\/1\.1 200/)
      expect(idle.received).toMatch(/keep-alive/i)
      expect(idle.closedAfterMs).toBeGreaterThanOrEqual(350)
      // Answered before its body was read (a 405), the rest of which never comes: one answer, and the
      // connection closed with it, not a 408 written after it once the body's time is up.
      const early = await stall(
        port,
        'PUT /endpoints/x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"pay',
      )
      expectContractError(parseRawAnswer(early.received), 405, 'METHOD_NOT_ALLOWED')
    } finally {
      await timed.close()
    }
  })
})

describe('a request refused before its body was read', () => {
  it('its answer closes the connection: a request sent after that body is not run, and close() does not wait for it', async () => {
    let invoked = 0
    const refusing = await startEndpointServer({
      host: '127.0.0.1',
      port: 0,
      route: (trigger) =>
        trigger === 'x'
          ? {
              invoke: async () => {
                invoked++
                return report({ result: 'ran' })
              },
            }
          : undefined,
    })
    try {
      const socket = connect(refusing.port, '127.0.0.1')
      let received = ''
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => (received += chunk))
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
      // An unknown trigger, answered 404 with `connection: close` while its body is still coming.
      socket.write('POST /endpoints/nope HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n{"pay')
      await until(
        () => (received.includes('TRIGGER_NOT_FOUND') ? true : undefined),
        () => `received: ${received}`,
        { timeoutMs: 2_000 },
      )
      // The rest of that body, then a second request on the same connection (pipelined).
      socket.write('load":1}       POST /endpoints/x HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}')
      await closed
      expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1)
      expectContractError(parseRawAnswer(received), 404, 'TRIGGER_NOT_FOUND')
      // RFC 9112 §9.6: no request after a `close` is processed.
      expect(invoked).toBe(0)
      // Nor is it waited for: it is not running.
      const started = Date.now()
      await refusing.close(5_000)
      expect(Date.now() - started).toBeLessThan(1_000)
    } finally {
      await refusing.close(0)
    }
  })
})

describe('fallback (how serve mounts its own routes)', () => {
  it('takes the paths it answers, before /healthz and the 404; never /endpoints/…', async () => {
    const asked: string[] = []
    const mounted = await startEndpointServer({
      host: '127.0.0.1',
      port: 0,
      route: (trigger) =>
        trigger === 'echo' ? { invoke: async () => report({ result: 'endpoint' }) } : undefined,
      fallback: async (request, response) => {
        asked.push(request.url ?? '')
        if (!request.url?.startsWith('/v1/') && request.url !== '/healthz') return false
        response.setHeader('content-type', 'application/json')
        response.end(JSON.stringify({ fallback: request.url }))
        return true
      },
    })
    try {
      const own = await fetch(`${mounted.url}/v1/things`)
      expect(await own.json()).toEqual({ fallback: '/v1/things' })
      expect(own.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      expect(await (await fetch(`${mounted.url}/healthz`)).json()).toEqual({ fallback: '/healthz' })
      const declined = await fetch(`${mounted.url}/other`)
      expect(declined.status).toBe(404)
      expect(await declined.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
      const endpoint = await fetch(`${mounted.url}/endpoints/echo`, { method: 'POST', body: '{}' })
      expect(await endpoint.json()).toBe('endpoint')
      // Targets that URL parsing (which a fallback uses) would read as another path are not its.
      for (const target of ['//x/healthz', '/v1/../healthz', '//x/v1/things']) {
        const received = await exchangeRaw(
          mounted.port,
          `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
        )
        expect(parseRawAnswer(received)).toMatchObject({
          status: 404,
          body: { error: { code: 'NOT_FOUND' } },
        })
      }
      expect(asked).toEqual(['/v1/things', '/healthz', '/other'])
    } finally {
      await mounted.close()
    }
  })
})
