/**
 * How the function contract's `api` shapes values, shared by the local sandbox worker, its host
 * bridge and the Cloudflare Worker runtime, so a function sees the same thing everywhere. Pure
 * ECMAScript: it runs under SES lockdown and on Workers alike.
 */

/** A request body as sent: strings as they are, anything else as JSON (with its content type). */
export function encodeBody(body: unknown, headers: Record<string, string>): string | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return body
  // A plain object (or array, number, boolean) is sent as JSON.
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json'
  }
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
    return url.slice(0, 100)
  }
}

/** What an upstream said about its failure, for an HttpError's message. */
export function upstreamDetail(body: unknown): string {
  if (typeof body === 'string') return body.trim() === '' ? '' : `: ${body.trim().slice(0, 200)}`
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
  return text === undefined ? '' : `: ${text.slice(0, 200)}`
}

/** Log values leave as data: functions, symbols and cycles become text. */
export function toLogValue(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (value === undefined) return null
  try {
    return JSON.parse(
      JSON.stringify(value, (_key, inner: unknown) =>
        inner instanceof Error ? { name: inner.name, message: inner.message } : inner,
      ),
    ) as unknown
  } catch {
    return String(value)
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
