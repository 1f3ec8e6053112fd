import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody } from '../server/http.js'
import { CentraliError, describeSystemError } from '../shared/errors.js'
import type { TokenCheck } from './auth.js'
import { ApiError } from './errors.js'
import type { RuntimeMetrics } from './metrics.js'
import { API_PREFIX, MAX_UPLOAD_BYTES, type VersionInfo } from './protocol.js'
import type { RuntimeSecrets } from './secrets.js'
import type { DeploymentStore, StoredVersion } from './store.js'

/**
 * Everything of `centrali serve` that is not an endpoint: the deploy API of `protocol.ts` under
 * `/v1` (bearer token on every request), `/healthz` and `/metrics`. Mounted on the endpoint
 * server's port through its `fallback`.
 */
export interface ApiContext {
  store: DeploymentStore
  secrets: RuntimeSecrets
  token: TokenCheck
  metrics: RuntimeMetrics
  /** Without a token (a loopback server); else `/metrics` wants the token too. */
  metricsPublic: boolean
  /** The version serving now, if any. */
  activeVersion(): string | null
  /** The version active before it, if any (what a default rollback goes back to). */
  previousVersion(): string | null
  /** `expectedActive`, when given, must be the version serving now (else 409 ACTIVE_CHANGED). */
  activate(id: string, expectedActive?: string | null): Promise<{ active: string; previous: string | null }>
  /** `ok: false` answers 503. */
  health(): { ok: boolean } & Record<string, unknown>
  onDeployed(version: StoredVersion): void
  onSecretChanged(name: string, action: 'set' | 'removed'): void
  /** A failure that is the server's, not the caller's (a full disk, a bug). */
  onInternalError(error: unknown): void
}

type Handler = (request: IncomingMessage, parts: string[]) => Promise<[status: number, body: unknown]>

export function createApiHandler(context: ApiContext) {
  const info = (version: StoredVersion): VersionInfo => ({
    id: version.id,
    createdAt: version.createdAt,
    size: version.size,
    functions: Object.keys(version.manifest.functions),
    triggers: Object.keys(version.manifest.triggers),
    active: version.id === context.activeVersion(),
  })

  /** Path pattern (`:name` is one segment) → method → handler. */
  const routes: [RegExp, Record<string, Handler>][] = [
    [
      /^\/deployments$/,
      {
        POST: async (request) => {
          const version = await context.store.upload(await readJsonBody(request))
          context.onDeployed(version)
          return [201, { version: info(version) }]
        },
      },
    ],
    [
      /^\/versions$/,
      {
        GET: async () => [
          200,
          {
            active: context.activeVersion(),
            previous: context.previousVersion(),
            versions: context.store.list().map(info),
          },
        ],
      },
    ],
    [
      /^\/versions\/([^/]+)\/activate$/,
      {
        POST: async (request, [id]) => {
          const body = await readJsonBody(request, { optional: true })
          return [200, await context.activate(id!, expectedActive(body))]
        },
      },
    ],
    [
      /^\/manifest$/,
      {
        GET: async () => {
          const active = context.activeVersion()
          const version = active === null ? undefined : context.store.get(active)
          if (version === undefined)
            throw new ApiError(404, 'NO_ACTIVE_VERSION', 'No version is active on this server.')
          return [200, { version: info(version), manifest: version.manifest }]
        },
      },
    ],
    [/^\/secrets$/, { GET: async () => [200, { secrets: context.secrets.list() }] }],
    [
      /^\/secrets\/([^/]+)$/,
      {
        PUT: async (request, [name]) => {
          const body = await readJsonBody(request)
          const value =
            typeof body === 'object' && body !== null ? (body as { value?: unknown }).value : undefined
          const result = await context.secrets.set(name!, value)
          context.onSecretChanged(name!, 'set')
          return [200, result]
        },
        DELETE: async (_request, [name]) => {
          const result = await context.secrets.remove(name!)
          context.onSecretChanged(name!, 'removed')
          return [200, result]
        },
      },
    ],
  ]

  return async (request: IncomingMessage, response: ServerResponse): Promise<boolean> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    const method = request.method ?? 'GET'
    if (path === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') {
        response.setHeader('allow', 'GET, HEAD')
        sendError(response, 405, 'METHOD_NOT_ALLOWED', 'Use GET /healthz.')
      } else {
        const health = context.health()
        sendJson(response, health.ok ? 200 : 503, health)
      }
      return true
    }
    if (path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') {
        response.setHeader('allow', 'GET, HEAD')
        sendError(response, 405, 'METHOD_NOT_ALLOWED', 'Use GET /metrics.')
      } else if (!context.metricsPublic && !context.token.accepts(request.headers.authorization))
        unauthorized(response)
      else
        send(
          response,
          200,
          'text/plain; version=0.0.4; charset=utf-8',
          context.metrics.render(context.activeVersion()),
        )
      return true
    }
    if (path !== API_PREFIX && !path.startsWith(`${API_PREFIX}/`)) return false

    // The token comes first: without it, nothing about the API (not even its routes) is answered.
    if (!context.token.accepts(request.headers.authorization)) {
      unauthorized(response)
      return true
    }
    const rest = path.slice(API_PREFIX.length)
    for (const [pattern, methods] of routes) {
      const match = pattern.exec(rest)
      if (!match) continue
      const handler = Object.hasOwn(methods, method) ? methods[method] : undefined
      if (handler === undefined) {
        response.setHeader('allow', Object.keys(methods).join(', '))
        sendError(response, 405, 'METHOD_NOT_ALLOWED', `Use ${Object.keys(methods).join(' or ')} ${path}.`)
        return true
      }
      try {
        const parts = match.slice(1).map((part) => decodeURIComponent(part))
        const [status, body] = await handler(request, parts)
        sendJson(response, status, body)
      } catch (error) {
        answerError(response, error, context)
      }
      return true
    }
    sendError(response, 404, 'NOT_FOUND', `No deploy API route ${method} ${path}.`)
    return true
  }
}

function answerError(response: ServerResponse, error: unknown, context: ApiContext): void {
  if (error instanceof ApiError) {
    if (error.status === 413) {
      // Refused at the limit: the rest of the body is not read; the connection ends with the answer.
      const socket = response.socket
      response.setHeader('connection', 'close')
      response.on('finish', () => socket?.destroy())
    }
    return sendError(response, error.status, error.code, error.message, error.hint)
  }
  if (error instanceof URIError)
    return sendError(response, 400, 'BAD_REQUEST', 'The path is not valid URL encoding.')
  context.onInternalError(error)
  const known = error instanceof CentraliError ? error : describeSystemError(error, 'write to the data dir')
  if (known) return sendError(response, 500, known.code, known.message, known.hint)
  sendError(response, 500, 'INTERNAL_ERROR', 'The server failed to complete the request; see its log.')
}

function unauthorized(response: ServerResponse): void {
  response.setHeader('www-authenticate', 'Bearer')
  sendError(
    response,
    401,
    'UNAUTHORIZED',
    'A valid token is required: send Authorization: Bearer <token>.',
    'Use the token the server printed on its first start, or the one in CENTRALI_RUNTIME_TOKEN.',
  )
}

/** The optional body of an activation: `{ "expectedActive": "v4" | null }`, or nothing. */
function expectedActive(body: unknown): string | null | undefined {
  if (body === undefined) return undefined
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError(
      400,
      'BAD_REQUEST',
      'The body must be a JSON object: { "expectedActive": "v4" | null }.',
    )
  if (!Object.hasOwn(body, 'expectedActive')) return undefined
  const value = (body as { expectedActive: unknown }).expectedActive
  if (value === null || (typeof value === 'string' && /^v[1-9]\d*$/.test(value))) return value
  throw new ApiError(400, 'BAD_REQUEST', '"expectedActive" must be a version id such as "v4", or null.')
}

/** The body as JSON; with `optional`, an empty body is undefined. */
async function readJsonBody(
  request: IncomingMessage,
  options: { optional?: boolean } = {},
): Promise<unknown> {
  const body = await readBody(request, MAX_UPLOAD_BYTES)
  if (body === 'too-large') {
    throw new ApiError(
      413,
      'PAYLOAD_TOO_LARGE',
      `The request body is over ${MAX_UPLOAD_BYTES} bytes (${MAX_UPLOAD_BYTES / 1024 / 1024} MiB).`,
    )
  }
  if (options.optional && body.length === 0) return undefined
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch (error) {
    throw new ApiError(400, 'BAD_JSON', `The request body is not JSON: ${describeJsonError(error)}.`)
  }
}

/**
 * Where the parser stopped, never the text around it: V8's message quotes a piece of the body, and
 * a body may be a secret (PUT /v1/secrets/<NAME>).
 */
function describeJsonError(error: unknown): string {
  const message = error instanceof Error ? error.message : ''
  const position = /\bat position (\d+)/.exec(message)?.[1]
  if (position !== undefined) return `invalid at position ${position}`
  if (message.startsWith('Unexpected end')) return 'it ends too early'
  return 'an unexpected character where a value should start'
}

function sendError(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  hint?: string,
): void {
  sendJson(response, status, { error: { code, message, ...(hint === undefined ? {} : { hint }) } })
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(body))
}

function send(response: ServerResponse, status: number, contentType: string, text: string): void {
  response.statusCode = status
  response.setHeader('content-type', contentType)
  response.setHeader('content-length', Buffer.byteLength(text))
  response.setHeader('cache-control', 'no-store')
  response.end(text)
}
