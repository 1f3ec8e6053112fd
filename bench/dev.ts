// npm run bench (fourth part): `centrali dev`. Baselines measured in the same run:
// - spawn to `Ready` and to the first 200 response;
// - hot reload: a file saved to its new code served (median of several edits);
// - throughput and p99 at 10 connections for a function forwarding to a local upstream with one
//   api.httpPost, against a hand-written node:http + undici proxy doing the same forward.
// Bounded: each load phase runs a fixed number of seconds on 127.0.0.1 and stops by itself.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Pool, request } from 'undici'

const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 5)
const CONNECTIONS = 10
const root = fileURLToPath(new URL('..', import.meta.url))
const cli = join(root, 'bin/run.js')
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}
const upstream = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    res.end('{"ok":true}')
  })
})
const upstreamUrl = await listen(upstream)

const work = mkdtempSync(join(tmpdir(), 'centrali-bench-dev-'))
const functionFile = join(work, 'functions/forward.js')
writeFileSync(
  join(work, 'centrali.json'),
  JSON.stringify({
    functions: { forward: { entry: 'functions/forward.js' } },
    triggers: { forward: { type: 'endpoint', function: 'forward' } },
    domains: ['api.upstream.test'],
  }),
)
const source = (version: number) =>
  `async function run() { const reply = await api.httpPost('https://api.upstream.test/x', executionParams.payload || {}); return { version: ${version}, reply } }\n`
await import('node:fs/promises').then(({ mkdir }) => mkdir(join(work, 'functions'), { recursive: true }))
writeFileSync(functionFile, source(0))

// Spawn to Ready, and to the first 200.
const spawnedAt = performance.now()
const dev = spawn(
  process.execPath,
  [cli, 'dev', '--port', '0', '--json', '--map', `api.upstream.test=${upstreamUrl}`],
  {
    cwd: work,
    env: { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), CI: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const events: { type: string; url?: string }[] = []
const waiters: (() => void)[] = []
createInterface({ input: dev.stdout! }).on('line', (line) => {
  events.push(JSON.parse(line) as { type: string; url?: string })
  for (const wake of waiters.splice(0)) wake()
})
const nextEvent = async (type: string, after = 0): Promise<{ type: string; url?: string }> => {
  for (;;) {
    const found = events.slice(after).find((event) => event.type === type)
    if (found) return found
    await new Promise<void>((resolve) => waiters.push(resolve))
  }
}
const ready = await nextEvent('ready')
const readyMs = performance.now() - spawnedAt
const endpoint = `${ready.url}/endpoints/forward`
const call = async () => {
  const response = await request(endpoint, {
    method: 'POST',
    body: '{"payload":{"a":1}}',
    headers: { 'content-type': 'application/json' },
  })
  return { status: response.statusCode, body: (await response.body.json()) as { version?: number } }
}
while ((await call()).status !== 200) await new Promise((resolve) => setTimeout(resolve, 5))
const firstResponseMs = performance.now() - spawnedAt

// Hot reload: save, then poll until the new version answers.
const reloads: number[] = []
for (let version = 1; version <= 7; version++) {
  // A person saves seconds apart; a pause past the watcher's 50 ms change throttle keeps this honest.
  await new Promise((resolve) => setTimeout(resolve, 150))
  const saved = performance.now()
  writeFileSync(functionFile, source(version))
  for (let attempt = 0; ; attempt++) {
    const answer = await call()
    if (answer.body.version === version) break
    if (attempt > 5000) throw new Error(`version ${version} was never served: ${JSON.stringify(answer)}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  reloads.push(performance.now() - saved)
}

// The baseline proxy: what a person would write by hand for the same forward.
const pool = new Pool(upstreamUrl, { connections: CONNECTIONS })
const handProxy = createServer(async (req, res) => {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const { payload } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payload: unknown }
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
const handUrl = `${await listen(handProxy)}/endpoints/forward`

async function load(url: string): Promise<{ rps: number; p99: number; failures: number }> {
  const client = new Pool(new URL(url).origin, { connections: CONNECTIONS })
  const latencies: number[] = []
  let failures = 0
  const until = performance.now() + LOAD_SECONDS * 1000
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        const started = performance.now()
        const response = await client.request({
          path: new URL(url).pathname,
          method: 'POST',
          body: '{"payload":{"a":1}}',
          headers: { 'content-type': 'application/json' },
        })
        await response.body.dump()
        if (response.statusCode !== 200) failures++
        latencies.push(performance.now() - started)
      }
    }),
  )
  await client.close()
  return { rps: latencies.length / LOAD_SECONDS, p99: percentile(latencies, 0.99), failures }
}
await load(handUrl) // warm both paths briefly before measuring
const hand = await load(handUrl)
const devLoad = await load(endpoint)

dev.kill('SIGTERM')
await new Promise((resolve) => dev.once('exit', resolve))
handProxy.close()
upstream.close()
await pool.close()
rmSync(work, { recursive: true, force: true })

console.log(
  `\ncentrali dev, node ${process.version} (${CONNECTIONS} connections, ${LOAD_SECONDS} s per load phase)\n`,
)
console.log('| figure | centrali dev | baseline (same run) | baseline value |')
console.log('|---|---:|---|---:|')
console.log(`| spawn → Ready | ${readyMs.toFixed(0)} ms | | |`)
console.log(`| spawn → first 200 | ${firstResponseMs.toFixed(0)} ms | | |`)
console.log(
  `| hot reload, save → new code served (median of ${reloads.length}) | ${median(reloads).toFixed(1)} ms | | |`,
)
console.log(
  `| throughput | ${devLoad.rps.toFixed(0)} req/s (${((devLoad.rps / hand.rps) * 100).toFixed(0)}%) | hand-written node:http + undici proxy | ${hand.rps.toFixed(0)} req/s |`,
)
console.log(
  `| p99 latency | ${devLoad.p99.toFixed(2)} ms (+${(devLoad.p99 - hand.p99).toFixed(2)}) | hand-written proxy | ${hand.p99.toFixed(2)} ms |`,
)
console.log(`| failed requests | ${devLoad.failures} | hand-written proxy | ${hand.failures} |`)
