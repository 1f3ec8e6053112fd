// A second reference for bench/dev.ts: the hand-written proxy in the shape DESIGN §2 gives `dev`.
// The request is handled on the main thread, the "function" runs in a worker_thread, and its one
// outbound call crosses back to the main thread, which makes it with undici: four messages per
// request, as in dev, but no sandbox, no egress guard, no limits and no output. As in dev, what the
// main thread has for the worker leaves once per event-loop turn, as one batch (fewer wake-ups).
// What separates it from hand-proxy.js is the price of the shape; what separates dev from it is
// centrali's own work.
import { Buffer } from 'node:buffer'
import { createServer } from 'node:http'
import { setImmediate } from 'node:timers'
import { Worker, isMainThread, parentPort } from 'node:worker_threads'
import { Pool } from 'undici'

if (isMainThread) {
  const pool = new Pool(process.argv[2], { connections: 10 })
  const worker = new Worker(new URL(import.meta.url))
  let outbox = []
  const toWorker = (message) => {
    if (outbox.length === 0) {
      setImmediate(() => {
        worker.postMessage(outbox)
        outbox = []
      })
    }
    outbox.push(message)
  }
  const answers = new Map()
  let nextId = 1
  worker.on('message', async (message) => {
    if (message.type === 'result') {
      answers.get(message.id)(message.json)
      answers.delete(message.id)
      return
    }
    const reply = await pool.request({
      path: '/x',
      method: 'POST',
      body: message.body,
      headers: { 'content-type': 'application/json' },
    })
    toWorker({ type: 'call-result', id: message.id, body: await reply.body.json() })
  })
  const server = createServer(async (req, res) => {
    const chunks = []
    for await (const chunk of req) chunks.push(chunk)
    const { payload } = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    const id = nextId++
    const json = await new Promise((resolve) => {
      answers.set(id, resolve)
      toWorker({ type: 'invoke', id, payload })
    })
    res.setHeader('content-type', 'application/json')
    res.end(json)
  })
  server.listen(0, '127.0.0.1', () => {
    console.log(`http://127.0.0.1:${server.address().port}`)
  })
  process.on('SIGTERM', () => {
    server.close()
    server.closeAllConnections()
    void pool.close()
    void worker.terminate()
  })
} else {
  const calls = new Map()
  parentPort.on('message', (batch) => {
    for (const message of batch) void receive(message)
  })
  const receive = async (message) => {
    if (message.type === 'call-result') {
      calls.get(message.id)(message.body)
      calls.delete(message.id)
      return
    }
    const reply = await new Promise((resolve) => {
      calls.set(message.id, resolve)
      parentPort.postMessage({ type: 'call', id: message.id, body: JSON.stringify(message.payload ?? {}) })
    })
    parentPort.postMessage({ type: 'result', id: message.id, json: JSON.stringify({ version: 0, reply }) })
  }
}
