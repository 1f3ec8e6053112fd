// npm run bench (second part): the function runtime. Each figure is the median over several runs,
// against a baseline measured in the same run:
// - warm invocation through the sandbox pool vs calling the same function directly in this process;
// - one api.httpGet through the egress guard vs a bare undici request to the same local server;
// - a cold `centrali invoke` (a whole process) vs `node -e 0`.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { buildFunction } from '../src/build/bundle.js'
import { createEgressClient } from '../src/egress/client.js'
import { createCallHandler } from '../src/sandbox/bridge.js'
import { SandboxPool } from '../src/sandbox/pool.js'

const args = process.argv.slice(2)
const asJson = args.includes('--json')
const RUNS = 7
const CALLS = 400

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
/** Median over RUNS runs of the mean time per call (ms) of `calls` sequential calls. */
async function measure(calls: number, call: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await call() // warm up
  const means: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) await call()
    means.push(Number(process.hrtime.bigint() - started) / 1e6 / calls)
  }
  return median(means)
}

const root = fileURLToPath(new URL('..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'centrali-bench-invoke-'))
const server = createServer((_request, response) => {
  response.setHeader('content-type', 'application/json')
  response.end('{"ok":true}')
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as { port: number }).port
const origin = `http://127.0.0.1:${port}`

writeFileSync(join(work, 'trivial.js'), 'async function run() { return { ok: executionParams.payload } }\n')
writeFileSync(
  join(work, 'call.js'),
  "async function run() { return api.httpGet('https://api.bench.test/x') }\n",
)
// About 200 KB of code that the function's top level defines (as a bundled SDK would).
const helpers = Array.from(
  { length: 2400 },
  (_, i) => `function helper${i}(value) { return value * ${i} + ${i} }`,
).join('\n')
const table = `const helpers = [${Array.from({ length: 2400 }, (_, i) => `helper${i}`).join(', ')}]`
writeFileSync(
  join(work, 'large.js'),
  `${helpers}\n${table}\nasync function run() { return { ok: helpers[7](executionParams.payload) } }\n`,
)
const trivial = await buildFunction({ root: work, entry: 'trivial.js' })
const large = await buildFunction({ root: work, entry: 'large.js' })
const caller = await buildFunction({ root: work, entry: 'call.js' })

const egress = createEgressClient({ domains: ['api.bench.test'], map: { 'api.bench.test': origin } })
const pool = new SandboxPool({ handleCall: createCallHandler(egress), size: 1 })
const limits = { timeoutMs: 30000, memoryMb: 128, maxCalls: 50 }
const invocation = (build: typeof trivial) => () =>
  pool.invoke({
    build,
    trigger: 'bench',
    executionParams: { payload: 1, method: 'POST', path: '/', query: {}, headers: {}, requestId: 'r' },
    triggerParams: {},
    limits,
  })

// The same function, called directly in this process: what the sandbox costs on top.
const direct = new Function(
  'executionParams',
  'async function run() { return { ok: executionParams.payload } }; return run',
)(Object.freeze({ payload: 1 })) as () => Promise<unknown>
const directMs = await measure(CALLS * 10, direct)
const pooledMs = await measure(CALLS, invocation(trivial))
const largeMs = await measure(CALLS, invocation(large))

const bareMs = await measure(CALLS, async () => {
  const response = await request(`${origin}/x`)
  await response.body.json()
})
const guardedMs = await measure(CALLS, invocation(caller))

await pool.close()
await egress.close()
server.close()

// Cold invoke: a whole `centrali invoke` process, against `node -e 0`, interleaved.
const cli = join(root, 'bin/run.js')
const env = { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), NO_COLOR: '1', CI: '1' }
spawnSync(process.execPath, [cli, 'init', 'app', '--template', 'generic', '--yes'], { cwd: work, env })
const app = join(work, 'app')
writeFileSync(join(app, 'functions/api-proxy.ts'), 'export async function run() { return { ok: true } }\n')
writeFileSync(
  join(app, 'centrali.json'),
  JSON.stringify({
    functions: { trivial: { entry: 'functions/api-proxy.ts' } },
    triggers: { trivial: { type: 'endpoint', function: 'trivial' } },
  }),
)
const time = (argv: string[]) => {
  const started = process.hrtime.bigint()
  const result = spawnSync(process.execPath, argv, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (result.status !== 0) throw new Error(`${argv.join(' ')}: ${result.stderr}`)
  return Number(process.hrtime.bigint() - started) / 1e6
}
time([cli, 'invoke', 'trivial']) // fills the build cache, as any first run would
const nodeTimes: number[] = []
const invokeTimes: number[] = []
for (let run = 0; run < 10; run++) {
  nodeTimes.push(time(['-e', '0']))
  invokeTimes.push(time([cli, 'invoke', 'trivial']))
}
rmSync(work, { recursive: true, force: true })

const rows = [
  {
    figure: 'warm invocation, trivial function',
    baseline: 'direct call in-process',
    ms: pooledMs,
    baselineMs: directMs,
  },
  {
    figure: `warm invocation, ${Math.round(large.bytes / 1024)} KB bundle`,
    baseline: 'trivial function through the pool',
    ms: largeMs,
    baselineMs: pooledMs,
  },
  {
    // The call's share: an invocation making one call, less a trivial invocation.
    figure: 'one api.httpGet to a local server (invocation with the call − trivial invocation)',
    baseline: 'bare undici request',
    ms: guardedMs - pooledMs,
    baselineMs: bareMs,
  },
  {
    figure: 'cold `centrali invoke` (whole process)',
    baseline: '`node -e 0`',
    ms: median(invokeTimes),
    baselineMs: median(nodeTimes),
  },
].map((row) => ({ ...row, overheadMs: row.ms - row.baselineMs, ratio: row.ms / row.baselineMs }))

if (asJson) console.log(JSON.stringify({ node: process.version, rows }, null, 2))
else {
  console.log(
    `\nFunction runtime, node ${process.version} (medians of ${RUNS} runs of ${CALLS} calls; cold: 10 runs)\n`,
  )
  console.log('| figure | ms | baseline | baseline ms | overhead ms | × baseline |')
  console.log('|---|---:|---|---:|---:|---:|')
  for (const row of rows) {
    console.log(
      `| ${row.figure} | ${row.ms.toFixed(3)} | ${row.baseline} | ${row.baselineMs.toFixed(3)} | ${row.overheadMs.toFixed(3)} | ${row.ratio.toFixed(1)} |`,
    )
  }
}
