import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isIPv6 } from 'node:net'
import { join } from 'node:path'
import {
  CONSOLE_PATH,
  CONSOLE_TOKEN_HEADER,
  type ConsoleEvent,
  type ConsoleState,
  type InvocationRecord,
} from '../console/types.js'
import { readBody } from '../server/http.js'
import { packageRoot } from '../shared/package-root.js'

/**
 * The dev console's server half, mounted on the dev server at `/_console`. It answers only to a
 * Host naming this server's port and a loopback name or the address dev listens on (a
 * DNS-rebinding page cannot reach it under another name) and to no foreign Origin; every API route
 * needs the per-run token from the printed URL.
 * The page is one HTML file built at build time, sent with a Content-Security-Policy that allows
 * exactly its own inline script and styles.
 */
export interface DevConsoleOptions {
  /** The address dev listens on (--host). */
  host: string
  port: () => number
  state: () => Promise<ConsoleState>
  /** Runs the trigger as an HTTP request to it would; resolves once it has ended. */
  invoke: (trigger: string, payload: unknown) => Promise<InvocationRecord>
  /** Adds a host to centrali.json's domains, as `centrali domains add` does. */
  allowDomain: (host: string) => Promise<{ added: string[]; domains: string[] }>
}

export interface DevConsole {
  /** The path and query to open: carries the token. */
  path: string
  /** The dev server's fallback: answers `/_console…`, leaves every other path. */
  handle(request: IncomingMessage, response: ServerResponse): Promise<boolean>
  publish(event: ConsoleEvent): void
  /**
   * An invocation starting (`done` false) or ended. Its record is made only when a page is open,
   * or when one opens later and is shown the recent ones. Returns the record, made at most once.
   */
  invocation(record: () => InvocationRecord, done: boolean): () => InvocationRecord
  close(): void
}

/**
 * The host of the console's URL: the address dev listens on, as a URL writes it, or loopback when
 * it listens on every address (where the console is reached from this machine).
 */
export function consoleHost(listenHost: string): string {
  const host = listenHost.toLowerCase()
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return isIPv6(host) ? `[${host}]` : host
}

/** Invocation records replayed to a page that connects (the newest). */
const RECENT_RECORDS = 50
const MAX_API_BODY_BYTES = 1024 * 1024
/** The console API's routes and the one method each answers. */
const API_METHODS: Record<string, 'GET' | 'POST'> = {
  '/api/events': 'GET',
  '/api/state': 'GET',
  '/api/invoke': 'POST',
  '/api/domains': 'POST',
}

export function createDevConsole(options: DevConsoleOptions): DevConsole {
  const token = randomBytes(24).toString('base64url')
  const tokenHash = sha256(token)
  const streams = new Set<ServerResponse>()
  const recent: (() => InvocationRecord)[] = []
  let page: Promise<{ html: string; csp: string }> | undefined

  const send = (response: ServerResponse, event: ConsoleEvent) =>
    response.write(`data: ${JSON.stringify(event)}\n\n`)

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<boolean> {
    const url = new URL(request.url ?? '/', 'http://localhost')
    if (url.pathname !== CONSOLE_PATH && !url.pathname.startsWith(`${CONSOLE_PATH}/`)) return false
    response.setHeader('cache-control', 'no-store')
    response.setHeader('x-content-type-options', 'nosniff')
    response.setHeader('referrer-policy', 'no-referrer')

    const host = (request.headers.host ?? '').toLowerCase()
    const port = options.port()
    const answered = consoleHost(options.host)
    if (![answered, '127.0.0.1', 'localhost', '[::1]'].some((name) => host === `${name}:${port}`)) {
      return refuse(response, 403, 'CONSOLE_HOST_REFUSED', `The console answers only to ${answered}:${port}.`)
    }
    const origin = request.headers.origin
    if (origin !== undefined && origin !== `http://${host}`) {
      return refuse(response, 403, 'CONSOLE_ORIGIN_REFUSED', 'The console API refuses other sites.')
    }

    const route = url.pathname.slice(CONSOLE_PATH.length).replace(/\/$/, '')
    if (route === '') {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.setHeader('allow', 'GET, HEAD')
        return refuse(response, 405, 'METHOD_NOT_ALLOWED', `Use GET ${CONSOLE_PATH}.`)
      }
      // A failed read (no build) is not kept: the next request tries again.
      const { html, csp } = await (page ??= loadPage().catch((error: unknown) => {
        page = undefined
        throw error
      }))
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'x-frame-options': 'DENY',
      })
      response.end(request.method === 'HEAD' ? undefined : html)
      return true
    }

    // The API: the token comes in a header, or in the query for the event stream (EventSource
    // cannot set headers).
    const given =
      request.headers[CONSOLE_TOKEN_HEADER] ??
      (route === '/api/events' ? (url.searchParams.get('token') ?? undefined) : undefined)
    if (typeof given !== 'string' || !timingSafeEqual(sha256(given), tokenHash)) {
      return refuse(
        response,
        401,
        'CONSOLE_TOKEN_REQUIRED',
        'Open the console from the URL centrali dev printed (it carries the token).',
      )
    }

    const method = Object.hasOwn(API_METHODS, route) ? API_METHODS[route] : undefined
    if (method === undefined) return refuse(response, 404, 'NOT_FOUND', `No console route ${route}.`)
    if (request.method !== method) {
      response.setHeader('allow', method)
      return refuse(response, 405, 'METHOD_NOT_ALLOWED', `Use ${method} ${CONSOLE_PATH}${route}.`)
    }

    if (route === '/api/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive' })
      response.write(': connected\n\n')
      streams.add(response)
      response.on('close', () => streams.delete(response))
      send(response, { type: 'state', state: await options.state() })
      for (const record of recent) send(response, { type: 'invocation', record: record() })
      return true
    }
    if (route === '/api/state') return json(response, 200, await options.state())

    const body = await readJson(request)
    if (body === 'too-large') {
      response.setHeader('connection', 'close')
      return refuse(
        response,
        413,
        'PAYLOAD_TOO_LARGE',
        `The request body is over ${MAX_API_BODY_BYTES} bytes (1 MiB).`,
      )
    }
    if (body === undefined)
      return refuse(response, 400, 'BAD_JSON', 'The request body must be a JSON object.')
    if (route === '/api/invoke') {
      if (typeof body.trigger !== 'string')
        return refuse(response, 400, 'BAD_REQUEST', 'Expected { "trigger": name, "payload": … }.')
      return json(response, 200, await options.invoke(body.trigger, body.payload ?? {}))
    }
    if (route === '/api/domains') {
      if (typeof body.host !== 'string')
        return refuse(response, 400, 'BAD_REQUEST', 'Expected { "host": "api.example.com" }.')
      try {
        return json(response, 200, await options.allowDomain(body.host))
      } catch (error) {
        const { code = 'DOMAIN_REFUSED', message } = error as Error & { code?: string }
        return refuse(response, 400, code, message)
      }
    }
    return refuse(response, 404, 'NOT_FOUND', `No console route ${route}.`)
  }

  return {
    path: `${CONSOLE_PATH}?token=${token}`,
    handle,
    publish(event) {
      for (const stream of streams) send(stream, event)
    },
    invocation(make, done) {
      let made: InvocationRecord | undefined
      const record = () => (made ??= make())
      if (done) {
        recent.push(record)
        if (recent.length > RECENT_RECORDS) recent.shift()
      }
      for (const stream of streams) send(stream, { type: 'invocation', record: record() })
      return record
    },
    close() {
      for (const stream of streams) stream.end()
      streams.clear()
    },
  }
}

async function loadPage(): Promise<{ html: string; csp: string }> {
  const html = await readFile(join(packageRoot(), 'dist/console/index.html'), 'utf8')
  const hashes = (pattern: RegExp) =>
    [...html.matchAll(pattern)].map(
      (match) => `'sha256-${createHash('sha256').update(match[1]!).digest('base64')}'`,
    )
  const scripts = hashes(/<script type="module">([\s\S]*?)<\/script>/g)
  const styles = hashes(/<style>([\s\S]*?)<\/style>/g)
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.join(' ')}`,
    `style-src ${styles.join(' ')}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return { html, csp }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function json(response: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  response.end(text)
  return true
}

function refuse(response: ServerResponse, status: number, code: string, message: string): true {
  return json(response, status, { error: { code, message } })
}

/**
 * The body as a JSON object (undefined when it is not one), or 'too-large'; read by the endpoint
 * server's reader, which answers `Expect: 100-continue`.
 */
async function readJson(
  request: IncomingMessage,
): Promise<Record<string, unknown> | 'too-large' | undefined> {
  const body = await readBody(request, MAX_API_BODY_BYTES)
  if (body === 'too-large') return body
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}
