import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'

/** An HTTP answer as the e2e suites read it: the body parsed when it is JSON, else its text. */
export interface Answer {
  status: number
  headers: Headers
  body: unknown
  text: string
  requestId: string | null
}

export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000), ...init })
  const text = await response.text()
  let body: unknown = text
  try {
    body = text === '' ? undefined : JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return {
    status: response.status,
    headers: response.headers,
    body,
    text,
    requestId: response.headers.get('x-request-id'),
  }
}

/** A browser's CORS preflight to `url` from `origin`, asking to send `method` with `headers`. */
export function preflight(url: string, origin: string, method: string, headers: string): Promise<Answer> {
  return request(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': headers,
    },
  })
}

/** The stable code and the message of a JSON error answer (DESIGN §6). */
export const errorCode = (answer: Answer) => (answer.body as { error?: { code?: string } }).error?.code
export const errorMessage = (answer: Answer) =>
  (answer.body as { error?: { message?: string } }).error?.message

/** Whether anything still listens on the loopback port. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** A port free a moment ago on 127.0.0.1, for a server that must be told its port (workerd). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
