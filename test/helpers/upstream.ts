import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A stand-in provider: a real HTTP server on 127.0.0.1 that records what it receives. */
export interface Seen {
  method: string
  url: string
  host: string | undefined
  authorization: string | undefined
  body: string
}

export interface Reply {
  status?: number
  json?: unknown
  delayMs?: number
  /** Never answer. */
  hang?: boolean
}

export interface Upstream {
  origin: string
  requests: Seen[]
  close(): Promise<void>
}

export async function startUpstream(
  reply: (request: Seen) => Reply = () => ({ json: { ok: true } }),
): Promise<Upstream> {
  const requests: Seen[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host,
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(seen)
      const answer = reply(seen)
      if (answer.hang) return
      const send = () => {
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(answer.json ?? {}))
      }
      if (answer.delayMs) setTimeout(send, answer.delayMs)
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
