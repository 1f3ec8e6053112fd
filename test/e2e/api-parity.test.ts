import { mkdir, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import type { ResultPromise } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandbox, startCli, type Sandbox } from '../helpers/cli.js'
import { readDevEvents, type DevEvents } from '../helpers/dev-events.js'
import { request } from '../helpers/http.js'
import { killAll, stopGracefully } from '../helpers/processes.js'
import { startWorkerd } from '../helpers/workerd.js'

/**
 * "No surprise between laptop and production" for the `api` bridge (DESIGN §2, §3): one function,
 * run by `centrali dev` (its calls mapped to a local upstream with `--map`) and as the emitted
 * Cloudflare Worker in workerd (every outbound fetch sent to the same upstream by globalOutbound),
 * makes the same call for each upstream behaviour of the table and returns what it observed: the
 * value a call resolved to or the error it rejected with, field by field. The upstream records what
 * it received. Both must be the same on the two sides apart from the differences the README
 * documents, listed in DIFFERENCES with where; dev is also held to what the table expects, so that
 * a change made alike on both sides fails too.
 */

const T = 60_000
const WAIT = 20_000
const MIB = 1024 * 1024

// ---------------------------------------------------------------------------------------------
// The upstream: one behaviour per path, and a record of what each call sent.

interface Received {
  method: string
  host: string | undefined
  url: string
  contentType: string | undefined
  authorization: string | undefined
  custom: string | undefined
  body: string
}

type Behaviour = (response: ServerResponse) => void

const send =
  (status: number, headers: Record<string, string | string[]>, body?: string | Buffer): Behaviour =>
  (response) => {
    response.writeHead(status, headers)
    response.end(body)
  }
const sendJson = (status: number, value: unknown, type = 'application/json') =>
  send(status, { 'content-type': type }, JSON.stringify(value))

const BEHAVIOURS: Record<string, Behaviour> = {
  '/json': sendJson(200, { ok: true, n: 1, list: ['a'] }),
  '/problem-json': sendJson(200, { type: 'about:blank', title: 'fine' }, 'application/problem+json'),
  '/json-charset': sendJson(200, { ok: 'ü' }, 'application/json; charset=utf-8'),
  '/text': send(200, { 'content-type': 'text/plain' }, 'plain text'),
  '/no-type': send(200, {}, '{"looks":"like json"}'),
  '/empty-json': send(200, { 'content-type': 'application/json' }, ''),
  '/no-content': send(204, {}),
  '/bad-json': send(200, { 'content-type': 'application/json' }, '{not json'),
  '/404-json': sendJson(404, { error: { message: 'no such thing' } }),
  '/404-text': send(404, { 'content-type': 'text/plain' }, 'not here'),
  '/500-json': sendJson(500, { message: 'exploded' }),
  '/500-text': send(500, { 'content-type': 'text/html' }, '<h1>oops</h1>'),
  '/teapot': (response) => {
    response.writeHead(418, 'Short And Stout', { 'content-type': 'text/plain' })
    response.end('tea')
  },
  '/casing': send(
    200,
    { 'Content-Type': 'application/json', 'X-Upper-Case': 'Yes', 'x-multi': ['one', 'two'] },
    '{}',
  ),
  '/cookies': send(200, { 'content-type': 'text/plain', 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] }, 'c'),
  '/gzip': send(
    200,
    { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    gzipSync(JSON.stringify({ zipped: true })),
  ),
  '/br': send(
    200,
    { 'content-type': 'application/json', 'content-encoding': 'br' },
    brotliCompressSync(JSON.stringify({ brotli: true })),
  ),
  '/deflate': send(
    200,
    { 'content-type': 'application/json', 'content-encoding': 'deflate' },
    deflateSync(JSON.stringify({ deflated: true })),
  ),
  '/gzip-length': (response) => {
    const body = gzipSync(JSON.stringify({ zipped: 'with a length' }))
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'content-length': String(body.length),
    })
    response.end(body)
  },
  '/redirect-same': send(302, { location: '/json' }),
  '/redirect-allowed': send(302, { location: 'https://files.example.com/json' }),
  '/redirect-denied': send(302, { location: 'https://evil.example.net/steal' }),
  '/redirect-post': send(302, { location: '/echo' }),
  '/large-declared': send(200, { 'content-type': 'text/plain' }, Buffer.alloc(10 * MIB + 1, 0x61)),
  '/large-chunked': (response) => {
    response.writeHead(200, { 'content-type': 'text/plain' })
    const chunk = Buffer.alloc(MIB, 0x61)
    for (let i = 0; i < 10; i++) response.write(chunk)
    response.end('a')
  },
  '/limit-exact': send(200, { 'content-type': 'text/plain' }, Buffer.alloc(10 * MIB, 0x61)),
  '/slow': (response) => {
    const timer = setTimeout(() => sendJson(200, { late: true })(response), 3000)
    response.on('close', () => clearTimeout(timer))
  },
  '/echo': sendJson(200, { echoed: true }),
}

let upstream: Server
const received: Received[] = []

async function startUpstream(): Promise<string> {
  upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const url = req.url ?? ''
      received.push({
        method: req.method ?? '',
        host: req.headers.host,
        url,
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        custom: req.headers['x-custom'] as string | undefined,
        body: Buffer.concat(chunks).toString('utf8'),
      })
      const behaviour = BEHAVIOURS[new URL(url, 'http://x').pathname] ?? sendJson(404, { unknown: url })
      behaviour(res)
    })
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
}

// ---------------------------------------------------------------------------------------------
// The function: makes the call the payload describes and describes what it saw.

const PROBE = `
function headersOf(headers) {
  if (typeof headers !== 'object' || headers === null) return headers
  const shown = {}
  for (const name of Object.keys(headers).sort()) shown[name] = name === 'date' ? '<date>' : headers[name]
  return shown
}
function describeBody(body) {
  return { bodyType: typeof body, body }
}
export async function run() {
  const { call, method, url, body, bodyKind, headers, timeoutMs, logs, measure } = executionParams.payload
  for (const value of logs ?? []) api.log(value === '<undefined>' ? undefined : value)
  if (logs) {
    const cycle = { name: 'cycle' }
    cycle.self = cycle
    api.log(cycle)
    api.log(new Error('logged error'))
    api.log(12n)
    api.logError({ level: 'error' })
    return { logged: true }
  }
  const sent =
    bodyKind === 'form' ? new URLSearchParams(body).toString()
    : bodyKind === 'params' ? new URLSearchParams(body)
    : body
  const opts = { ...(headers ? { headers } : {}), ...(timeoutMs ? { timeoutMs } : {}) }
  try {
    if (call === 'request') {
      const response = await api.request(method, url, { ...opts, ...(sent === undefined ? {} : { body: sent }) })
      if (measure) {
        return { outcome: 'resolved', status: response.status, bodyType: typeof response.body, length: response.body.length }
      }
      return {
        outcome: 'resolved',
        keys: Object.keys(response).sort(),
        status: response.status,
        statusText: response.statusText,
        headers: headersOf(response.headers),
        ...describeBody(response.body),
      }
    }
    const value = call === 'httpGet' || call === 'httpDelete'
      ? await api[call](url, opts)
      : await api[call](url, sent, opts)
    return { outcome: 'resolved', ...describeBody(value) }
  } catch (error) {
    return {
      outcome: 'rejected',
      isError: error instanceof Error,
      name: error.name,
      message: error.message,
      code: error.code,
      host: error.host,
      status: error.status,
      statusText: error.statusText,
      headers: headersOf(error.headers),
      ...(error.name === 'HttpError' ? describeBody(error.body) : {}),
    }
  }
}
`

// ---------------------------------------------------------------------------------------------
// The table.

const API = 'https://api.example.com'

/** What the upstream got for one hop of a call (absent fields: the header was not sent). */
const got = (method: string, url: string, extra: Partial<Received> = {}): Received => ({
  method,
  host: 'api.example.com',
  url,
  contentType: undefined,
  authorization: undefined,
  custom: undefined,
  body: '',
  ...extra,
})

/** The headers a Node upstream answers with besides its own (`date` shown as "<date>"). */
const nodeHeaders = (own: Record<string, string>, chunked = true) => ({
  connection: 'keep-alive',
  date: '<date>',
  'keep-alive': 'timeout=5',
  ...(chunked ? { 'transfer-encoding': 'chunked' } : {}),
  ...own,
})

const resolved = (body: unknown) => ({ outcome: 'resolved', bodyType: typeof body, body })
const response = (status: number, statusText: string, headers: Record<string, string>, body: unknown) => ({
  outcome: 'resolved',
  keys: ['body', 'headers', 'status', 'statusText'],
  status,
  statusText,
  headers,
  bodyType: typeof body,
  body,
})
/** An HttpError (its headers are compared between dev and the Worker, and checked in the cases above). */
const httpError = (message: string, status: number, statusText: string, type: string, body: unknown) => ({
  outcome: 'rejected',
  isError: true,
  name: 'HttpError',
  message,
  status,
  statusText,
  headers: nodeHeaders({ 'content-type': type }),
  bodyType: typeof body,
  body,
})
const coded = (name: string, code: string, host: string, message: string) => ({
  outcome: 'rejected',
  isError: true,
  name,
  message,
  code,
  host,
})

interface Case {
  name: string
  payload: Record<string, unknown>
  /** What the function observes under dev. */
  seen: Record<string, unknown>
  /** What the upstream receives from dev, hop by hop. */
  sent: Received[]
}

const TOO_LARGE =
  'Call to api.example.com failed: the response body is over the 10485760-byte limit (counted after decompression). Ask the upstream for less data at a time (pagination, filters, smaller pages).'

const CASES: Case[] = [
  {
    name: '200 JSON',
    payload: { call: 'httpGet', url: `${API}/json` },
    seen: resolved({ ok: true, n: 1, list: ['a'] }),
    sent: [got('GET', '/json')],
  },
  {
    name: '200 application/problem+json',
    payload: { call: 'httpGet', url: `${API}/problem-json` },
    seen: resolved({ type: 'about:blank', title: 'fine' }),
    sent: [got('GET', '/problem-json')],
  },
  {
    name: '200 JSON; charset=utf-8',
    payload: { call: 'httpGet', url: `${API}/json-charset` },
    seen: resolved({ ok: 'ü' }),
    sent: [got('GET', '/json-charset')],
  },
  {
    name: '200 text/plain',
    payload: { call: 'httpGet', url: `${API}/text` },
    seen: resolved('plain text'),
    sent: [got('GET', '/text')],
  },
  {
    name: '200 without a content-type',
    payload: { call: 'httpGet', url: `${API}/no-type` },
    seen: resolved('{"looks":"like json"}'),
    sent: [got('GET', '/no-type')],
  },
  {
    name: '200 JSON with an empty body',
    payload: { call: 'httpGet', url: `${API}/empty-json` },
    seen: resolved(''),
    sent: [got('GET', '/empty-json')],
  },
  {
    name: '200 JSON that is not JSON',
    payload: { call: 'httpGet', url: `${API}/bad-json` },
    seen: resolved('{not json'),
    sent: [got('GET', '/bad-json')],
  },
  {
    name: '204',
    payload: { call: 'httpDelete', url: `${API}/no-content` },
    seen: resolved(''),
    sent: [got('DELETE', '/no-content')],
  },
  {
    name: '204 by api.request',
    payload: { call: 'request', method: 'DELETE', url: `${API}/no-content` },
    seen: response(204, 'No Content', nodeHeaders({}, false), ''),
    sent: [got('DELETE', '/no-content')],
  },
  {
    name: '404 JSON (the message has no query string)',
    payload: { call: 'httpGet', url: `${API}/404-json?key=secret-in-query` },
    seen: httpError(
      'GET https://api.example.com/404-json failed: 404 Not Found: no such thing',
      404,
      'Not Found',
      'application/json',
      { error: { message: 'no such thing' } },
    ),
    sent: [got('GET', '/404-json?key=secret-in-query')],
  },
  {
    name: '404 text',
    payload: { call: 'httpGet', url: `${API}/404-text` },
    seen: httpError(
      'GET https://api.example.com/404-text failed: 404 Not Found: not here',
      404,
      'Not Found',
      'text/plain',
      'not here',
    ),
    sent: [got('GET', '/404-text')],
  },
  {
    name: '500 JSON',
    payload: { call: 'httpPost', url: `${API}/500-json`, body: { a: 1 } },
    seen: httpError(
      'POST https://api.example.com/500-json failed: 500 Internal Server Error: exploded',
      500,
      'Internal Server Error',
      'application/json',
      { message: 'exploded' },
    ),
    sent: [got('POST', '/500-json', { contentType: 'application/json', body: '{"a":1}' })],
  },
  {
    name: '500 text',
    payload: { call: 'httpPut', url: `${API}/500-text`, body: 'x' },
    seen: httpError(
      'PUT https://api.example.com/500-text failed: 500 Internal Server Error: <h1>oops</h1>',
      500,
      'Internal Server Error',
      'text/html',
      '<h1>oops</h1>',
    ),
    sent: [got('PUT', '/500-text', { body: 'x' })],
  },
  {
    name: '418 with a reason of its own',
    payload: { call: 'httpGet', url: `${API}/teapot` },
    seen: httpError(
      'GET https://api.example.com/teapot failed: 418 Short And Stout: tea',
      418,
      'Short And Stout',
      'text/plain',
      'tea',
    ),
    sent: [got('GET', '/teapot')],
  },
  {
    name: 'api.request on a 200',
    payload: { call: 'request', method: 'GET', url: `${API}/json` },
    seen: response(200, 'OK', nodeHeaders({ 'content-type': 'application/json' }), {
      ok: true,
      n: 1,
      list: ['a'],
    }),
    sent: [got('GET', '/json')],
  },
  {
    name: 'api.request on a 404 resolves',
    payload: { call: 'request', method: 'GET', url: `${API}/404-json` },
    seen: response(404, 'Not Found', nodeHeaders({ 'content-type': 'application/json' }), {
      error: { message: 'no such thing' },
    }),
    sent: [got('GET', '/404-json')],
  },
  {
    name: 'api.request on a 500 resolves (a lowercase method)',
    payload: { call: 'request', method: 'post', url: `${API}/500-text` },
    seen: response(
      500,
      'Internal Server Error',
      nodeHeaders({ 'content-type': 'text/html' }),
      '<h1>oops</h1>',
    ),
    sent: [got('POST', '/500-text')],
  },
  {
    name: 'api.request to a host not allowed rejects',
    payload: { call: 'request', method: 'GET', url: 'https://evil.example.net/x' },
    seen: coded(
      'EgressBlockedError',
      'EGRESS_HOST_DENIED',
      'evil.example.net',
      'Blocked call to evil.example.net: the host is not in centrali.json "domains". Allow it with: centrali domains add evil.example.net',
    ),
    sent: [],
  },
  {
    name: 'response header names are lowercase, repeated ones joined',
    payload: { call: 'request', method: 'GET', url: `${API}/casing` },
    seen: response(
      200,
      'OK',
      nodeHeaders({ 'content-type': 'application/json', 'x-multi': 'one, two', 'x-upper-case': 'Yes' }),
      {},
    ),
    sent: [got('GET', '/casing')],
  },
  {
    name: 'two set-cookie headers',
    payload: { call: 'request', method: 'GET', url: `${API}/cookies` },
    seen: response(
      200,
      'OK',
      nodeHeaders({ 'content-type': 'text/plain', 'set-cookie': 'a=1; Path=/, b=2; Path=/' }),
      'c',
    ),
    sent: [got('GET', '/cookies')],
  },
  {
    name: 'a gzip body',
    payload: { call: 'request', method: 'GET', url: `${API}/gzip` },
    seen: response(200, 'OK', nodeHeaders({ 'content-type': 'application/json' }), { zipped: true }),
    sent: [got('GET', '/gzip')],
  },
  {
    name: 'a gzip body with a content-length',
    payload: { call: 'request', method: 'GET', url: `${API}/gzip-length` },
    seen: response(200, 'OK', nodeHeaders({ 'content-type': 'application/json' }, false), {
      zipped: 'with a length',
    }),
    sent: [got('GET', '/gzip-length')],
  },
  {
    name: 'a brotli body',
    payload: { call: 'request', method: 'GET', url: `${API}/br` },
    seen: response(200, 'OK', nodeHeaders({ 'content-type': 'application/json' }), { brotli: true }),
    sent: [got('GET', '/br')],
  },
  {
    name: 'a deflate body',
    payload: { call: 'request', method: 'GET', url: `${API}/deflate` },
    seen: response(200, 'OK', nodeHeaders({ 'content-type': 'application/json' }), { deflated: true }),
    sent: [got('GET', '/deflate')],
  },
  {
    name: 'a redirect on the same host',
    payload: { call: 'httpGet', url: `${API}/redirect-same` },
    seen: resolved({ ok: true, n: 1, list: ['a'] }),
    sent: [got('GET', '/redirect-same'), got('GET', '/json')],
  },
  {
    name: 'a redirect to another allowed host drops the credentials and custom headers',
    payload: {
      call: 'httpGet',
      url: `${API}/redirect-allowed`,
      headers: { Authorization: 'Bearer not-a-real-token', 'X-Custom': 'custom' },
    },
    seen: resolved({ ok: true, n: 1, list: ['a'] }),
    sent: [
      got('GET', '/redirect-allowed', { authorization: 'Bearer not-a-real-token', custom: 'custom' }),
      { ...got('GET', '/json'), host: 'files.example.com' },
    ],
  },
  {
    name: 'a redirect to a host not allowed',
    payload: { call: 'httpGet', url: `${API}/redirect-denied` },
    seen: coded(
      'EgressBlockedError',
      'EGRESS_HOST_DENIED',
      'evil.example.net',
      'Blocked call to evil.example.net: the host is not in centrali.json "domains". Allow it with: centrali domains add evil.example.net',
    ),
    sent: [got('GET', '/redirect-denied')],
  },
  {
    name: 'a 302 after a POST continues as a GET without the body',
    payload: { call: 'httpPost', url: `${API}/redirect-post`, body: { a: 1 } },
    seen: resolved({ echoed: true }),
    sent: [
      got('POST', '/redirect-post', { contentType: 'application/json', body: '{"a":1}' }),
      got('GET', '/echo'),
    ],
  },
  {
    name: 'a body over 10 MiB, declared',
    payload: { call: 'httpGet', url: `${API}/large-declared` },
    seen: coded('CentraliError', 'EGRESS_RESPONSE_TOO_LARGE', 'api.example.com', TOO_LARGE),
    sent: [got('GET', '/large-declared')],
  },
  {
    name: 'a body over 10 MiB, chunked',
    payload: { call: 'httpGet', url: `${API}/large-chunked` },
    seen: coded('CentraliError', 'EGRESS_RESPONSE_TOO_LARGE', 'api.example.com', TOO_LARGE),
    sent: [got('GET', '/large-chunked')],
  },
  {
    name: 'a body of exactly 10 MiB',
    payload: { call: 'request', method: 'GET', url: `${API}/limit-exact`, measure: true },
    seen: { outcome: 'resolved', status: 200, bodyType: 'string', length: 10 * MIB },
    sent: [got('GET', '/limit-exact')],
  },
  {
    name: 'a slow upstream past the call’s timeoutMs',
    payload: { call: 'httpGet', url: `${API}/slow`, timeoutMs: 300 },
    seen: coded(
      'CentraliError',
      'EGRESS_TIMEOUT',
      'api.example.com',
      // The deadline in ms, as the call is made: 300 or a little less (see `comparable`).
      "Call to api.example.com failed: no complete response within the call's <ms> ms deadline (DNS, connect, redirects and body included). Raise the call's timeoutMs or the trigger's timeoutMs, or find out why the upstream is slow.",
    ),
    sent: [got('GET', '/slow')],
  },
  {
    name: 'a string body with its own content-type (the Stripe recipe)',
    payload: {
      call: 'httpPost',
      url: `${API}/echo`,
      body: 'mode=payment&line_items[0][price]=price_1',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Bearer sk_test_x' },
    },
    seen: resolved({ echoed: true }),
    sent: [
      got('POST', '/echo', {
        contentType: 'application/x-www-form-urlencoded',
        authorization: 'Bearer sk_test_x',
        body: 'mode=payment&line_items[0][price]=price_1',
      }),
    ],
  },
  {
    name: 'a string body without a content-type is sent without one',
    payload: { call: 'httpPost', url: `${API}/echo`, body: 'just text' },
    seen: resolved({ echoed: true }),
    sent: [got('POST', '/echo', { body: 'just text' })],
  },
  {
    name: 'a plain object body is sent as JSON',
    payload: { call: 'httpPatch', url: `${API}/echo`, body: { a: 1, s: 'ü', nested: [true, null] } },
    seen: resolved({ echoed: true }),
    sent: [
      got('PATCH', '/echo', {
        contentType: 'application/json',
        body: '{"a":1,"s":"ü","nested":[true,null]}',
      }),
    ],
  },
  {
    name: 'an object body keeps the function’s own content-type',
    payload: {
      call: 'httpPut',
      url: `${API}/echo`,
      body: { a: 1 },
      headers: { 'content-type': 'application/vnd.api+json' },
    },
    seen: resolved({ echoed: true }),
    sent: [got('PUT', '/echo', { contentType: 'application/vnd.api+json', body: '{"a":1}' })],
  },
  {
    name: 'a URLSearchParams(...).toString() body',
    payload: {
      call: 'httpPost',
      url: `${API}/echo`,
      body: { a: '1 2', b: 'x&y' },
      bodyKind: 'form',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    seen: resolved({ echoed: true }),
    sent: [got('POST', '/echo', { contentType: 'application/x-www-form-urlencoded', body: 'a=1+2&b=x%26y' })],
  },
  {
    // Sent as the form it holds, as fetch sends one (as JSON it was `{}`).
    name: 'a URLSearchParams object body',
    payload: {
      call: 'httpPost',
      url: `${API}/echo`,
      body: { a: '1 2', b: 'x&y' },
      bodyKind: 'params',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    seen: resolved({ echoed: true }),
    sent: [got('POST', '/echo', { contentType: 'application/x-www-form-urlencoded', body: 'a=1+2&b=x%26y' })],
  },
  {
    name: 'a URLSearchParams object body with no content-type set',
    payload: { call: 'httpPost', url: `${API}/echo`, body: { a: '1' }, bodyKind: 'params' },
    seen: resolved({ echoed: true }),
    sent: [
      got('POST', '/echo', { contentType: 'application/x-www-form-urlencoded;charset=UTF-8', body: 'a=1' }),
    ],
  },
  {
    name: 'api.request with a body and headers',
    payload: {
      call: 'request',
      method: 'POST',
      url: `${API}/echo`,
      body: [1, 2],
      headers: { authorization: 'Basic abc', 'x-custom': 'seen' },
    },
    seen: response(200, 'OK', nodeHeaders({ 'content-type': 'application/json' }), { echoed: true }),
    sent: [
      got('POST', '/echo', {
        contentType: 'application/json',
        authorization: 'Basic abc',
        custom: 'seen',
        body: '[1,2]',
      }),
    ],
  },
]

/**
 * Differences the README documents ("What differs on Workers"), by case and field of what the
 * function sees: dev's value and the Worker's. Everything else must be equal.
 */
const DIFFERENCES: {
  case: string
  field: string
  dev: unknown
  worker: unknown
  documented: string
}[] = [
  {
    case: 'a redirect to a host not allowed',
    field: 'message',
    dev: 'Blocked call to evil.example.net: the host is not in centrali.json "domains". Allow it with: centrali domains add evil.example.net',
    worker:
      'Blocked call to evil.example.net: the host is not in centrali.json "domains". Allow it with: centrali domains add evil.example.net, then deploy again.',
    documented: 'README, What differs on Workers: "The fix a blocked call names"',
  },
  {
    case: 'api.request to a host not allowed rejects',
    field: 'message',
    dev: 'Blocked call to evil.example.net: the host is not in centrali.json "domains". Allow it with: centrali domains add evil.example.net',
    worker:
      'Blocked call to evil.example.net: the host is not in centrali.json "domains". Allow it with: centrali domains add evil.example.net, then deploy again.',
    documented: 'README, What differs on Workers: "The fix a blocked call names"',
  },
]

// ---------------------------------------------------------------------------------------------
// dev and the Worker.

let sandbox: Sandbox
const children: ResultPromise[] = []
let workerd: ResultPromise | undefined
let workerOutput: () => string = () => ''
let devEvents: DevEvents
const bases = { dev: '', worker: '' }

const config = {
  functions: { probe: { entry: 'functions/probe.js' } },
  triggers: { probe: { type: 'endpoint', function: 'probe', timeoutMs: 10_000 } },
  domains: ['api.example.com', 'files.example.com'],
  targets: { cf: { type: 'cloudflare', name: 'api-parity-worker', compatibilityDate: '2025-09-01' } },
}

async function startWorker(workerDir: string, upstreamOrigin: string): Promise<string> {
  // --verbose: workerd prints the Worker's console records, compared with dev's log events below.
  const started = await startWorkerd({
    dir: sandbox.dir,
    workerDir,
    upstreamOrigin,
    verbose: true,
    timeoutMs: WAIT,
  })
  workerd = started.child
  workerOutput = started.output
  children.push(started.child)
  return started.base
}

beforeAll(async () => {
  sandbox = await createSandbox()
  const origin = await startUpstream()
  const app = join(sandbox.dir, 'app')
  await mkdir(join(app, 'functions'), { recursive: true })
  await writeFile(join(app, 'functions', 'probe.js'), PROBE)
  await writeFile(join(app, 'centrali.json'), JSON.stringify(config, null, 2))
  const emitted = await sandbox.run(['deploy', '--target', 'cf', '--dry-run', '--json'], { cwd: app })
  expect(emitted.exitCode, emitted.stderr).toBe(0)
  const dev = startCli(
    [
      'dev',
      '--port',
      '0',
      '--json',
      '--map',
      `api.example.com=${origin}`,
      '--map',
      `files.example.com=${origin}`,
    ],
    { cwd: app, env: sandbox.env },
  )
  children.push(dev.child)
  devEvents = readDevEvents(dev, WAIT)
  const [ready, workerBase] = await Promise.all([
    devEvents.next('ready'),
    startWorker(join(app, '.centrali', 'deploy', 'cf'), origin),
  ])
  bases.dev = ready.url
  bases.worker = workerBase
}, T)

afterAll(async () => {
  await Promise.all(children.filter((child) => child !== workerd).map((child) => stopGracefully(child)))
  await killAll(children)
  upstream?.closeAllConnections()
  await new Promise((resolve) => upstream?.close(resolve))
  await sandbox?.cleanup()
})

async function probe(target: 'dev' | 'worker', payload: unknown) {
  const answer = await request(`${bases[target]}/endpoints/probe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload }),
  })
  return { status: answer.status, body: answer.body, requestId: answer.requestId }
}

/** What the function saw, with the deadline a timeout names (300 ms, or a little less) as "<ms>". */
function comparable(seen: unknown): Record<string, unknown> {
  const copy = { ...(seen as Record<string, unknown>) }
  if (typeof copy.message === 'string')
    copy.message = copy.message.replace(/the call's (\d+) ms deadline/, "the call's <ms> ms deadline")
  return copy
}

describe('the api bridge under dev and on the Worker', () => {
  it.each(CASES.map((item) => [item.name, item] as const))('%s', async (_name, item) => {
    const observed = {} as Record<'dev' | 'worker', { seen: Record<string, unknown>; sent: Received[] }>
    for (const target of ['dev', 'worker'] as const) {
      const from = received.length
      const answer = await probe(target, item.payload)
      expect(answer.status, `${target}: ${JSON.stringify(answer.body)}`).toBe(200)
      observed[target] = { seen: answer.body as Record<string, unknown>, sent: received.slice(from) }
    }
    const { dev, worker } = observed
    if (typeof dev.seen.message === 'string' && dev.seen.code === 'EGRESS_TIMEOUT') {
      const ms = Number(/the call's (\d+) ms/.exec(dev.seen.message)?.[1])
      expect(ms).toBeGreaterThan(250)
      expect(ms).toBeLessThanOrEqual(300)
    }
    // dev against the contract, so that a change made alike on both sides fails too.
    expect(comparable(dev.seen), 'what the function saw under dev').toEqual(item.seen)
    expect(dev.sent, 'what the upstream got from dev').toEqual(item.sent)

    const documented = DIFFERENCES.filter((difference) => difference.case === item.name)
    const devSeen = comparable(dev.seen)
    const workerSeen = comparable(worker.seen)
    for (const difference of documented) {
      expect(devSeen[difference.field], `dev's ${difference.field} (${difference.documented})`).toEqual(
        difference.dev,
      )
      expect(
        workerSeen[difference.field],
        `the Worker's ${difference.field} (${difference.documented})`,
      ).toEqual(difference.worker)
      delete devSeen[difference.field]
      delete workerSeen[difference.field]
    }
    expect(workerSeen, 'what the function saw on the Worker, against dev').toEqual(devSeen)
    expect(worker.sent, 'what the upstream got from the Worker, against dev').toEqual(dev.sent)
  })

  it('lists no documented difference for a case it does not run', () => {
    const names = new Set(CASES.map((item) => item.name))
    expect(DIFFERENCES.filter((difference) => !names.has(difference.case))).toEqual([])
  })

  it('api.log and api.logError give the same records', async () => {
    const payload = { logs: ['text', 1, { a: [1, { b: null }] }, '<undefined>', null, true] }
    const since = devEvents.mark()
    const dev = await probe('dev', payload)
    const worker = await probe('worker', payload)
    expect([dev.status, worker.status]).toEqual([200, 200])
    const expected = [
      ['info', 'text'],
      ['info', 1],
      ['info', { a: [1, { b: null }] }],
      ['info', null],
      ['info', null],
      ['info', true],
      ['info', { name: 'cycle', self: '[Circular]' }],
      ['info', { name: 'Error', message: 'logged error' }],
      ['info', '12n'],
      ['error', { level: 'error' }],
    ]
    await devEvents.next(
      'log',
      (event) => event.level === 'error' && event.requestId === dev.requestId,
      since,
    )
    const devLogs = devEvents.events
      .slice(since)
      .filter((event) => event.type === 'log' && event.requestId === dev.requestId)
      .map((event) => (event.type === 'log' ? [event.level, event.value] : []))
    expect(devLogs).toEqual(expected)
    // workerd writes each record (console.log / console.error) as one JSON line, as Workers Logs keep it.
    const workerLogs = () =>
      workerOutput()
        .split('\n')
        .filter((line) => line.includes(String(worker.requestId)))
        .map((line) => JSON.parse(line.slice(line.indexOf('{'))) as { level: string; value: unknown })
        .map((record) => [record.level, record.value])
    const deadline = Date.now() + 5000
    while (workerLogs().length < expected.length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(workerLogs()).toEqual(devLogs)
  })
})
