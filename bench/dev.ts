// npm run bench (fourth part): `centrali dev`. Baselines measured in the same run:
// - spawn to `Ready` and to the first 200 response, on a first start (esbuild builds the function)
//   and on a restart (the build cached by the last run serves), against `node -e 0`;
// - hot reload: a file saved to its new code served (median of several edits);
// - throughput and p99 at 10 connections for a function forwarding to a local upstream with one
//   api.httpPost, against a hand-written node:http + undici proxy (bench/hand-proxy.js) doing the
//   same forward in its own process, as dev runs in its own.
// Bounded: each load phase runs a fixed number of seconds on 127.0.0.1 and stops by itself.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { load, median, serve, type LoadResult, type Served } from './lib.js'

const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 5)
const LOAD_ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 3)
const START_RUNS = Number(process.env.BENCH_START_RUNS ?? 5)
const CONNECTIONS = 10
const root = fileURLToPath(new URL('..', import.meta.url))
const cli = join(root, 'bin/run.js')

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
const source = (version: number) =>
  `async function run() { const reply = await api.httpPost('https://api.upstream.test/x', executionParams.payload || {}); return { version: ${version}, reply } }\n`
const writeProject = () => {
  rmSync(join(work, '.centrali'), { recursive: true, force: true })
  mkdirSync(join(work, 'functions'), { recursive: true })
  writeFileSync(
    join(work, 'centrali.json'),
    JSON.stringify({
      functions: {
        forward: { entry: 'functions/forward.js' },
        'forward-key': { entry: 'functions/forward-key.js' },
      },
      triggers: {
        forward: { type: 'endpoint', function: 'forward' },
        // As the provider templates do: the key from a secret, sent in a header.
        'forward-key': { type: 'endpoint', function: 'forward-key', params: { key: { secret: 'API_KEY' } } },
      },
      domains: ['api.upstream.test'],
    }),
  )
  writeFileSync(functionFile, source(0))
  writeFileSync(
    join(work, 'functions/forward-key.js'),
    `async function run() { return { version: 0, reply: await api.httpPost('https://api.upstream.test/x', executionParams.payload || {}, { headers: { authorization: 'Bearer ' + triggerParams.key } }) } }\n`,
  )
}

const childEnv = { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), CI: '1' }
const startDev = () =>
  serve([cli, 'dev', '--port', '0', '--json', '--map', `api.upstream.test=${upstreamUrl}`], {
    cwd: work,
    env: childEnv,
    urlOf: (line) => {
      const event = JSON.parse(line) as { type: string; url?: string }
      return event.type === 'ready' ? event.url : undefined
    },
  })

const forwardPool = new Map<string, Pool>()
const call = async (origin: string) => {
  let pool = forwardPool.get(origin)
  if (!pool) forwardPool.set(origin, (pool = new Pool(origin, { connections: 1 })))
  const response = await pool.request({
    path: '/endpoints/forward',
    method: 'POST',
    body: '{"payload":{"a":1}}',
    headers: { 'content-type': 'application/json' },
  })
  return { status: response.statusCode, body: (await response.body.json()) as { version?: number } }
}

// Spawn to Ready and to the first 200: a first start (no cache) and a restart, interleaved with
// `node -e 0` so machine noise falls on all alike.
const starts = { node: [] as number[], coldReady: [] as number[], coldFirst: [] as number[] }
const restarts = { ready: [] as number[], first: [] as number[] }
for (let run = 0; run < START_RUNS; run++) {
  const nodeStarted = performance.now()
  spawnSync(process.execPath, ['-e', '0'])
  starts.node.push(performance.now() - nodeStarted)
  for (const kind of ['first start', 'restart'] as const) {
    if (kind === 'first start') writeProject()
    const spawnedAt = performance.now()
    const dev = await startDev()
    const readyMs = performance.now() - spawnedAt
    while ((await call(dev.url)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 1))
    const firstMs = performance.now() - spawnedAt
    if (kind === 'first start') {
      starts.coldReady.push(readyMs)
      starts.coldFirst.push(firstMs)
    } else {
      restarts.ready.push(readyMs)
      restarts.first.push(firstMs)
    }
    await dev.stop()
  }
}

// The secret of forward-key, for the load below (set through the CLI, as a person would).
spawnSync(process.execPath, [cli, 'secrets', 'set', 'API_KEY', '--value', 'sk-bench-0123456789abcdef'], {
  cwd: work,
  env: childEnv,
})

// Hot reload: save, then poll until the new version answers.
const dev = await startDev()
const reloads: number[] = []
for (let version = 1; version <= 7; version++) {
  // A person saves seconds apart; a pause past the watcher's 50 ms change throttle keeps this honest.
  await new Promise((resolve) => setTimeout(resolve, 150))
  const saved = performance.now()
  writeFileSync(functionFile, source(version))
  for (let attempt = 0; ; attempt++) {
    const answer = await call(dev.url)
    if (answer.body.version === version) break
    if (attempt > 5000) throw new Error(`version ${version} was never served: ${JSON.stringify(answer)}`)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  reloads.push(performance.now() - saved)
}

const startProxy = (script: string) =>
  serve([join(root, 'bench', script), upstreamUrl], {
    cwd: work,
    env: childEnv,
    urlOf: (line) => (line.startsWith('http') ? line : undefined),
  })
const hand = await startProxy('hand-proxy.js')
const workerHop = await startProxy('worker-hop-proxy.js')

const forward = (server: Served, seconds = LOAD_SECONDS, trigger = 'forward') =>
  load({
    origin: server.url,
    path: `/endpoints/${trigger}`,
    body: '{"payload":{"a":1}}',
    seconds,
    connections: CONNECTIONS,
    ...(server.child.pid === undefined ? {} : { pid: server.child.pid }),
  })
// Warm every path briefly, then alternate rounds so drift in the machine falls on all alike.
for (const server of [hand, workerHop, dev]) await forward(server, 1)
await forward(dev, 1, 'forward-key')
const handRounds: LoadResult[] = []
const workerHopRounds: LoadResult[] = []
const devRounds: LoadResult[] = []
const devKeyRounds: LoadResult[] = []
for (let round = 0; round < LOAD_ROUNDS; round++) {
  handRounds.push(await forward(hand))
  workerHopRounds.push(await forward(workerHop))
  devRounds.push(await forward(dev))
  devKeyRounds.push(await forward(dev, LOAD_SECONDS, 'forward-key'))
}

await dev.stop()
await hand.stop()
await workerHop.stop()
upstream.close()
await Promise.all([...forwardPool.values()].map((pool) => pool.close()))
rmSync(work, { recursive: true, force: true })

const handRps = median(handRounds.map((round) => round.rps))
const devRps = median(devRounds.map((round) => round.rps))
const workerHopRps = median(workerHopRounds.map((round) => round.rps))
const devKeyRps = median(devKeyRounds.map((round) => round.rps))
const devKeyP99 = median(devKeyRounds.map((round) => round.p99))
const handP99 = median(handRounds.map((round) => round.p99))
const workerHopP99 = median(workerHopRounds.map((round) => round.p99))
const devP99 = median(devRounds.map((round) => round.p99))
const nodeMs = median(starts.node)
/** A difference in ms with its sign: +1.20, −0.35. */
const signed = (difference: number) => `${difference >= 0 ? '+' : '−'}${Math.abs(difference).toFixed(2)}`
const ms = (values: number[]) => `${median(values).toFixed(0)} ms (${(median(values) / nodeMs).toFixed(1)}×)`
console.log(
  `\ncentrali dev, node ${process.version}: start-up median of ${START_RUNS}; load ${CONNECTIONS} connections, median of ${LOAD_ROUNDS} rounds of ${LOAD_SECONDS} s each\n`,
)
console.log('| figure | centrali dev | baseline (same run) | baseline value |')
console.log('|---|---:|---|---:|')
console.log(
  `| spawn → Ready, first start | ${ms(starts.coldReady)} | \`node -e 0\` | ${nodeMs.toFixed(0)} ms |`,
)
console.log(
  `| spawn → first 200, first start | ${ms(starts.coldFirst)} | \`node -e 0\` | ${nodeMs.toFixed(0)} ms |`,
)
console.log(`| spawn → Ready, restart | ${ms(restarts.ready)} | \`node -e 0\` | ${nodeMs.toFixed(0)} ms |`)
console.log(
  `| spawn → first 200, restart | ${ms(restarts.first)} | \`node -e 0\` | ${nodeMs.toFixed(0)} ms |`,
)
console.log(
  `| hot reload, save → new code served (median of ${reloads.length}) | ${median(reloads).toFixed(1)} ms | | |`,
)
console.log(
  `| throughput | ${devRps.toFixed(0)} req/s (${((devRps / handRps) * 100).toFixed(0)}%) | hand-written node:http + undici proxy | ${handRps.toFixed(0)} req/s |`,
)
console.log(
  `| p99 latency | ${devP99.toFixed(2)} ms (${signed(devP99 - handP99)}) | hand-written proxy | ${handP99.toFixed(2)} ms |`,
)
console.log(
  `| the same with the key from a secret in an Authorization header (as the templates do) | ${devKeyRps.toFixed(0)} req/s (${((devKeyRps / handRps) * 100).toFixed(0)}%), p99 ${devKeyP99.toFixed(2)} ms | hand-written proxy | ${handRps.toFixed(0)} req/s |`,
)
console.log(
  `| (the same proxy shaped as dev: function in a worker_thread, 4 messages per request, batched to the worker as dev does, no sandbox or guard) | ${workerHopRps.toFixed(0)} req/s (${((workerHopRps / handRps) * 100).toFixed(0)}%), p99 ${workerHopP99.toFixed(2)} ms (${signed(workerHopP99 - handP99)}) | hand-written proxy | ${handRps.toFixed(0)} req/s, p99 ${handP99.toFixed(2)} ms |`,
)
// What dev's own work costs, apart from the shape DESIGN §2 fixes: the aims above can be met only
// where the shape itself meets them and dev adds next to nothing to it.
console.log(
  `| dev against the worker-hop proxy | ${((devRps / workerHopRps) * 100).toFixed(0)}% of its throughput, p99 ${signed(devP99 - workerHopP99)} ms | worker-hop proxy | ${workerHopRps.toFixed(0)} req/s |`,
)
// CPU per request separates the servers' own work from the machine's noise better than request
// rates do: on two cores the servers, the load generator and the upstream share the CPUs, so
// throughput follows the sum of what each spends on a request.
const cpuOf = (rounds: LoadResult[], part: 'server' | 'bench') => {
  const values = rounds.flatMap((round) => (round.cpu ? [round.cpu[part]] : []))
  return values.length === rounds.length ? `${median(values).toFixed(3)} ms` : 'n/a'
}
console.log(
  `| CPU per request: the server's process, all threads (load generator and upstream) | ${cpuOf(devRounds, 'server')} (${cpuOf(devRounds, 'bench')}) | hand-written proxy; worker-hop proxy | ${cpuOf(handRounds, 'server')} (${cpuOf(handRounds, 'bench')}); ${cpuOf(workerHopRounds, 'server')} (${cpuOf(workerHopRounds, 'bench')}) |`,
)
console.log(
  `| failed requests | ${[...devRounds, ...devKeyRounds].reduce((sum, round) => sum + round.failures, 0)} | hand-written proxy | ${handRounds.reduce((sum, round) => sum + round.failures, 0)} |`,
)
