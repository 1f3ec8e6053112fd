import {
  API_PREFIX,
  UPLOAD_TIMEOUT_MS,
  type ActivateRequest,
  type Manifest,
  type UploadRequest,
  type VersionInfo,
  type VersionList,
} from '../runtime/protocol.js'
import { CentraliError, UserError } from '../shared/errors.js'
import type { RuntimeTarget } from './target.js'

/**
 * The client of the deploy API (src/runtime/protocol.ts). Global `fetch`: Node ships it, so the CLI
 * bundle carries no HTTP stack for it and nothing loads before the first request.
 */
export interface ActiveManifest {
  version: VersionInfo
  manifest: Manifest
}

export type { VersionList }

export interface Activation {
  active: string
  previous: string | null
}

export interface RemoteSecret {
  name: string
  updatedAt: string
}

export interface RuntimeClient {
  /** The active version and what it runs; null before the first deploy. */
  activeManifest(): Promise<ActiveManifest | null>
  versions(): Promise<VersionList>
  upload(request: UploadRequest): Promise<VersionInfo>
  /** With `expectedActive`, only if that version serves now (else RuntimeApiError ACTIVE_CHANGED). */
  activate(versionId: string, request?: ActivateRequest): Promise<Activation>
  /** Names only: the API never returns a value. */
  secrets(): Promise<RemoteSecret[]>
  putSecret(name: string, value: string): Promise<RemoteSecret>
}

/** An error the runtime answered with; `code` is the API's own (UNAUTHORIZED, VERSION_NOT_FOUND, ...). */
export class RuntimeApiError extends CentraliError {
  readonly status: number
  constructor(code: string, message: string, status: number, hint?: string) {
    super(code, message, hint === undefined ? {} : { hint })
    this.status = status
  }
}

export interface RuntimeClientOptions {
  target: RuntimeTarget
  fetch?: typeof fetch
  /** Per request; an upload of many bundles gets more. */
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 30_000

export function createRuntimeClient(options: RuntimeClientOptions): RuntimeClient {
  const { target } = options
  const fetchImpl = options.fetch ?? fetch

  async function call(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  ): Promise<{ status: number; data: unknown }> {
    const url = `${target.url}${API_PREFIX}${path}`
    let response: Response
    let text: string
    try {
      response = await fetchImpl(url, {
        method,
        headers: {
          authorization: `Bearer ${target.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = await response.text()
    } catch (error) {
      throw networkError(error, method, url, target, timeoutMs)
    }
    let data: unknown
    try {
      data = text === '' ? undefined : (JSON.parse(text) as unknown)
    } catch {
      data = undefined
    }
    if (response.ok && data !== undefined) return { status: response.status, data }
    if (response.ok) {
      throw new UserError(
        'RUNTIME_BAD_RESPONSE',
        `${method} ${url} answered ${response.status} without JSON.`,
        {
          hint: `Check that targets.${target.name}.url points at a centrali runtime (\`centrali serve\`).`,
        },
      )
    }
    throw apiError(response.status, data, method, url, target)
  }

  return {
    async activeManifest() {
      try {
        const { data } = await call('GET', '/manifest')
        return expectShape<ActiveManifest>(data, ['version', 'manifest'], 'GET /manifest')
      } catch (error) {
        if (error instanceof RuntimeApiError && error.code === 'NO_ACTIVE_VERSION') return null
        throw error
      }
    },
    async versions() {
      const { data } = await call('GET', '/versions')
      const list = expectShape<VersionList>(data, ['versions'], 'GET /versions')
      return { ...list, previous: list.previous ?? null }
    },
    async upload(request) {
      const { data } = await call('POST', '/deployments', request, UPLOAD_TIMEOUT_MS)
      return expectShape<{ version: VersionInfo }>(data, ['version'], 'POST /deployments').version
    },
    async activate(versionId, request) {
      const { data } = await call('POST', `/versions/${encodeURIComponent(versionId)}/activate`, request)
      return expectShape<Activation>(data, ['active'], 'POST /versions/…/activate')
    },
    async secrets() {
      const { data } = await call('GET', '/secrets')
      return expectShape<{ secrets: RemoteSecret[] }>(data, ['secrets'], 'GET /secrets').secrets
    },
    async putSecret(name, value) {
      const { data } = await call('PUT', `/secrets/${encodeURIComponent(name)}`, { value })
      return expectShape<RemoteSecret>(data, ['name'], `PUT /secrets/${name}`)
    },
  }
}

/** A light check of what the server sent; the protocol module is the contract both sides compile against. */
function expectShape<T>(data: unknown, keys: readonly string[], what: string): T {
  if (typeof data === 'object' && data !== null && keys.every((key) => key in data)) return data as T
  throw new UserError(
    'RUNTIME_BAD_RESPONSE',
    `The runtime's answer to ${what} is not what the API describes.`,
    {
      hint: 'Check that the runtime and this centrali are the same version.',
    },
  )
}

function apiError(
  status: number,
  data: unknown,
  method: string,
  url: string,
  target: RuntimeTarget,
): CentraliError {
  const body = (data as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
  const code = typeof body?.code === 'string' ? body.code : `HTTP_${status}`
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${status}`
  const text = `${method} ${url} failed: ${message}`
  if (status === 401 || status === 403) {
    return new RuntimeApiError(
      code,
      `The runtime at ${target.url} refused the deploy token (${status}): ${message}`,
      status,
      `Check ${target.tokenEnv}: it must hold the token the runtime was started with.`,
    )
  }
  if (body === undefined && (status === 404 || status === 405)) {
    return new RuntimeApiError(
      code,
      text,
      status,
      `Is ${target.url} a centrali runtime (\`centrali serve\`)? Check targets.${target.name}.url.`,
    )
  }
  return new RuntimeApiError(code, text, status)
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused (is the runtime running?)',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS is unreachable)',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_SOCKET: 'the connection closed unexpectedly',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its TLS certificate chain is self-signed',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name',
}

function networkError(
  error: unknown,
  method: string,
  url: string,
  target: RuntimeTarget,
  timeoutMs: number,
): CentraliError {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new UserError('RUNTIME_TIMEOUT', `${method} ${url} got no answer within ${timeoutMs / 1000} s.`, {
      hint: 'Check the runtime and the network, then run the command again.',
      cause: error,
    })
  }
  const cause = error instanceof Error ? error.cause : undefined
  const code =
    cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined
  // Never the error's own message: fetch quotes a header it refuses, and a header holds the token.
  const name = cause instanceof Error ? cause.name : error instanceof Error ? error.name : typeof error
  const reason =
    (code === undefined ? undefined : NETWORK_REASONS[code]) ?? `the request failed (${code ?? name})`
  return new UserError('RUNTIME_UNREACHABLE', `Could not reach the runtime at ${url}: ${reason}.`, {
    hint: `Check targets.${target.name}.url in centrali.json and that \`centrali serve\` runs there.`,
    cause: error,
  })
}
