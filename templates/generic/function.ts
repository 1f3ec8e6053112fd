/**
 * {{functionName}}: forwards `{ path, body, method? }` to the API at the `baseUrl` trigger param,
 * adding `Authorization: Bearer <apiKey>`. The token never leaves the server.
 *
 * Trigger params: `apiKey` (secret), `baseUrl`: the API's URL, such as "https://<api host>/v1".
 * Add the API's host to centrali.json "domains" (`centrali domains add <api host>`).
 * (No real host is written here: `centrali domains list` reads https URLs in this file as calls.)
 */

interface ProxyPayload {
  path?: unknown
  body?: unknown
  method?: unknown
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
type Method = (typeof METHODS)[number]

export async function run() {
  const apiKey = triggerParams.apiKey
  if (typeof apiKey !== 'string' || apiKey === '') {
    return { success: false, error: 'API key not configured' }
  }
  const baseUrl = String(triggerParams.baseUrl ?? '').replace(/\/+$/, '')
  if (!URL.canParse(baseUrl)) {
    return { success: false, error: 'baseUrl trigger param must be a URL such as "https://<api host>/v1"' }
  }

  const {
    path = '/',
    body,
    method = body === undefined ? 'GET' : 'POST',
  } = (executionParams.payload ?? {}) as ProxyPayload
  // A path must start with "/" so it can only ever extend baseUrl, never change its host
  // ("@evil.com" or "//evil.com" tricks).
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) {
    return { success: false, error: 'path must start with "/", such as "/v1/data"' }
  }
  if (typeof method !== 'string' || !METHODS.includes(method.toUpperCase() as Method)) {
    return { success: false, error: `method must be one of ${METHODS.join(', ')}` }
  }

  const response = await api.request(method.toUpperCase(), `${baseUrl}${path}`, {
    body,
    headers: { Authorization: `Bearer ${apiKey}`, Accept: 'application/json' },
  })
  if (response.status < 200 || response.status > 299) {
    // An upstream error status is a failure, never `success: true`.
    api.logError({ upstreamStatus: response.status, path })
    return {
      success: false,
      status: response.status,
      error: `upstream answered ${response.status}`,
      data: response.body,
    }
  }
  return { success: true, data: response.body }
}
