// The baseline of bench/dev.ts: what a person would write by hand to forward a request to an
// upstream with node:http and undici. Its own process, as `centrali dev` is. Prints its URL.
import { Buffer } from 'node:buffer'
import { createServer } from 'node:http'
import { Pool } from 'undici'

const pool = new Pool(process.argv[2], { connections: 10 })
const server = createServer(async (req, res) => {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  const { payload } = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const reply = await pool.request({
    path: '/x',
    method: 'POST',
    body: JSON.stringify(payload ?? {}),
    headers: { 'content-type': 'application/json' },
  })
  const body = await reply.body.json()
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ version: 0, reply: body }))
})
server.listen(0, '127.0.0.1', () => {
  console.log(`http://127.0.0.1:${server.address().port}`)
})
process.on('SIGTERM', () => {
  server.close()
  void pool.close()
  server.closeAllConnections()
})
