/**
 * How the function contract's `api` shapes values, shared by the local sandbox worker, its host
 * bridge and the Cloudflare Worker runtime, so a function sees the same thing everywhere. Pure
 * ECMAScript: it runs under SES lockdown and on Workers alike.
 */
import { FUNCTION_SOURCE_URL } from './factory.js'
import type { CodeFrame } from './protocol.js'
import { shorten } from '../shared/shorten.js'

/**
 * A request body as sent: strings as they are, URLSearchParams as a form (as fetch sends them),
 * anything else as JSON, each with its content type unless the function set one.
 */
export function encodeBody(body: unknown, headers: Record<string, string>): string | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return body
  const setType = (type: string) => {
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type'))
      headers['content-type'] = type
  }
  // By its tag, not instanceof: the sandbox's URLSearchParams is another realm's. As JSON it was `{}`.
  if (Object.prototype.toString.call(body) === '[object URLSearchParams]') {
    setType('application/x-www-form-urlencoded;charset=UTF-8')
    return String(body)
  }
  // A plain object (or array, number, boolean) is sent as JSON.
  setType('application/json')
  return JSON.stringify(body)
}

export function copyHeaders(headers: unknown): Record<string, string> {
  const copy: Record<string, string> = {}
  if (headers === undefined || headers === null) return copy
  if (typeof headers !== 'object') throw new TypeError('options.headers must be an object of strings')
  for (const [name, value] of Object.entries(headers)) copy[name] = String(value)
  return copy
}

/** A response body as the function sees it: parsed when the response says JSON, else text. */
export function parseResponseText(text: string, contentType: string | undefined): unknown {
  if (contentType !== undefined && /[/+]json\b/i.test(contentType) && text.trim() !== '') {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return text
    }
  }
  return text
}

/** A URL for messages: never the query string, which may carry keys. */
export function shortUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return shorten(url, 100)
  }
}

/** What an upstream said about its failure, for an HttpError's message. */
export function upstreamDetail(body: unknown): string {
  if (typeof body === 'string') return body.trim() === '' ? '' : `: ${shorten(body.trim(), 200)}`
  if (typeof body !== 'object' || body === null) return ''
  const { error, message } = body as { error?: unknown; message?: unknown }
  const text =
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { message?: unknown }).message === 'string'
      ? (error as { message: string }).message
      : typeof error === 'string'
        ? error
        : typeof message === 'string'
          ? message
          : undefined
  return text === undefined ? '' : `: ${shorten(text, 200)}`
}

/** Log values leave as data: functions, symbols and cycles become text. */
export function toLogValue(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (value === undefined) return null
  try {
    const json = JSON.stringify(value, logReplacer())
    return json === undefined ? `[${typeof value}]` : (JSON.parse(json) as unknown)
  } catch (error) {
    // A getter or toJSON that throws, a Proxy that refuses: say so rather than "[object Object]".
    return `[a value that cannot be logged: ${error instanceof Error ? error.message : String(error)}]`
  }
}

/**
 * JSON.stringify's replacer for a log: errors by name and message, a bigint as its digits and `n`,
 * a cycle as "[Circular]".
 */
function logReplacer(): (this: unknown, key: string, value: unknown) => unknown {
  // The objects on the path from the root to the value being written.
  const path: object[] = []
  const onPath = new Set<object>()
  return function (this: unknown, _key, value) {
    if (typeof value === 'bigint') return `${value}n`
    const shown = value instanceof Error ? { name: value.name, message: value.message } : value
    if (typeof shown !== 'object' || shown === null) return shown
    // `this` is the object holding the value: what lies after it on the path is finished with.
    while (path.length > 0 && path.at(-1) !== this) onPath.delete(path.pop()!)
    if (onPath.has(shown)) return '[Circular]'
    path.push(shown)
    onPath.add(shown)
    return shown
  }
}

/** A thrown value that is not an Error, as a message. */
export function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** At most this many frames of a thrown error's stack are kept. */
const MAX_CODE_FRAMES = 10
const CODE_POSITION = new RegExp(`^\\s*at (?:.* \\()?${FUNCTION_SOURCE_URL}:(\\d+):(\\d+)\\)?$`)

/**
 * The frames of a V8 stack that lie in the function's code, which the build names with a
 * sourceURL (`at name (centrali-function:line:column)`): the worker's own frames name its file, and
 * other evaluated code (the worker's error classes, code the function evaluates) has no such name.
 */
export function codeFrames(stack: unknown): CodeFrame[] {
  if (typeof stack !== 'string') return []
  const frames: CodeFrame[] = []
  for (const text of stack.split('\n')) {
    const position = CODE_POSITION.exec(text)
    if (position === null) continue
    // A name is shown in a terminal: only what a function's name can look like is kept.
    const name = /^\s*at (?:async )?(?:new )?([\w$.<>[\]]+) \(/.exec(text)?.[1]
    frames.push({
      // V8 calls an anonymous function of evaluated code `eval`.
      ...(name === undefined || name === 'eval' ? {} : { name }),
      line: Number(position[1]),
      column: Number(position[2]),
    })
    if (frames.length === MAX_CODE_FRAMES) break
  }
  return frames
}

/** What an invocation whose file declares no `run` fails with (FUNCTION_NO_RUN). */
export const NO_RUN_MESSAGE =
  'The function file does not declare `async function run()` (or export it as `run` or default).'

/** The most JSON a result may weigh (10 MiB). */
export const MAX_RESULT_BYTES = 10 * 1024 * 1024

/** What run() returned as the JSON text the endpoint answers with, or why it cannot be sent. */
export function resultJson(value: unknown): { json: string } | { code: string; message: string } {
  let json: string | undefined
  try {
    json = JSON.stringify(value === undefined ? null : value)
  } catch (error) {
    return {
      code: 'FUNCTION_ERROR',
      message: `run() returned a value that is not JSON-serialisable: ${(error as Error).message}`,
    }
  }
  // JSON has no form for a function or a symbol (stringify gives undefined): most likely `run`
  // returned something it meant to call.
  if (json === undefined) {
    return {
      code: 'FUNCTION_ERROR',
      message: `run() returned a ${typeof value}, which has no JSON form; return a JSON value (an object, an array, a string, a number, a boolean or null).`,
    }
  }
  if (json.length > MAX_RESULT_BYTES) {
    return {
      code: 'FUNCTION_RESULT_TOO_LARGE',
      message: `run() returned ${json.length} bytes of JSON; a result may be at most ${MAX_RESULT_BYTES} (10 MiB).`,
    }
  }
  return { json }
}

/**
 * Freezes the params an invocation is handed (structured clones or parses of JSON data) all the
 * way down, without recursion, so a deeply nested payload cannot overflow the stack. An object
 * whose prototype is not Object.prototype or Array.prototype goes to `other` instead when given
 * (the sandbox hardens it, prototype chain included).
 */
export function freezeData<T>(root: T, other?: (value: object) => void): T {
  const pending: unknown[] = [root]
  while (pending.length > 0) {
    const value = pending.pop()
    if (typeof value !== 'object' || value === null || Object.isFrozen(value)) continue
    if (other !== undefined) {
      const prototype = Object.getPrototypeOf(value) as unknown
      if (prototype !== Object.prototype && prototype !== Array.prototype) {
        other(value)
        continue
      }
    }
    Object.freeze(value)
    for (const inner of Object.values(value)) pending.push(inner)
  }
  return root
}

/** What `api.request` resolves to: the status, the headers and the parsed body. */
export interface ApiResponse {
  status: number
  statusText: string
  headers: Record<string, string>
  body: unknown
}

type CallOptions = { headers?: unknown; timeoutMs?: unknown }

/**
 * The `api` object of the function contract, the same on every runtime. Each runtime says how a
 * call is made (`request`, which never rejects on a status), how a record is logged, and which
 * HttpError class to throw (one the function's own realm made); the http* helpers resolve to the
 * body on 2xx and reject with an HttpError otherwise. The caller freezes the result.
 */
export function contractApi<R extends ApiResponse>(
  request: (method: unknown, url: unknown, options?: unknown) => Promise<R>,
  log: (level: 'info' | 'error') => (value: unknown) => void,
  HttpError: new (message: string, response: R) => Error,
  /**
   * Rethrows a failed call's error. Run as the call's rejection handler, an error it makes has the
   * function's frames in its stack (V8 follows the chain of awaits), where one made when the
   * failure arrived has none.
   */
  failedCall?: (error: unknown) => never,
) {
  const expect2xx = (method: string, url: string) => (response: R) => {
    if (response.status >= 200 && response.status <= 299) return response.body
    throw new HttpError(
      `${method} ${shortUrl(url)} failed: ${response.status} ${response.statusText}${upstreamDetail(response.body)}`,
      response,
    )
  }
  const withoutBody = (method: string) => (url: string, options?: CallOptions) =>
    request(method, url, { ...(options ?? {}), body: undefined }).then(expect2xx(method, url), failedCall)
  const withBody = (method: string) => (url: string, body: unknown, options?: CallOptions) =>
    request(method, url, { ...(options ?? {}), body }).then(expect2xx(method, url), failedCall)
  return {
    httpGet: withoutBody('GET'),
    httpDelete: withoutBody('DELETE'),
    httpPost: withBody('POST'),
    httpPut: withBody('PUT'),
    httpPatch: withBody('PATCH'),
    request: failedCall
      ? (method: unknown, url: unknown, options?: unknown) =>
          request(method, url, options).then(undefined, failedCall)
      : (method: unknown, url: unknown, options?: unknown) => request(method, url, options),
    log: log('info'),
    logError: log('error'),
  }
}
