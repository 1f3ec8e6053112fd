// npm run bench (fifth part): `centrali deploy` and `centrali serve`. Baselines in the same run:
// - deploy of each provider template: bundling time (esbuild, minified, with a source map) and
//   bundle size, and the whole `deploy --yes` command against a local `serve`, against `node -e 0`;
// - throughput and p99 at 10 connections through `serve` for the function forwarding to a local
//   upstream with one api.httpPost, against the hand-written node:http + undici proxy and `dev`,
//   in alternating rounds.
// Bounded: a fixed number of runs and seconds, all on 127.0.0.1; every process is stopped at the end.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildFunction } from '../src/build/bundle.js'
import { load, median, serve, type LoadResult } from './lib.js'

const RUNS = Number(process.env.BENCH_DEPLOY_RUNS ?? 5)
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 5)
const LOAD_ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 3)
const CONNECTIONS = 10
const TOKEN = 'crt_bench-token-0123456789abcdefghij'
const root = fileURLToPath(new URL('..', import.meta.url))
const cli = join(root, 'bin/run.js')
const work = mkdtempSync(join(tmpdir(), 'centrali-bench-serve-'))
const env = { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), CI: '1', CENTRALI_TOKEN: TOKEN }
const run = (args: string[], cwd: string, input = '') =>
  execFileSync(process.execPath, [cli, ...args], { cwd, env, input, stdio: ['pipe', 'pipe', 'pipe'] })

const upstream = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    res.end('{"ok":true}')
  })
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`

const runtime = await serve(
  [
    cli,
    'serve',
    '--port',
    '0',
    '--data-dir',
    join(work, 'runtime'),
    '--map',
    `api.upstream.test=${upstreamUrl}`,
  ],
  {
    cwd: work,
    env: { ...env, CENTRALI_RUNTIME_TOKEN: TOKEN },
    urlOf: (line) => /Ready on (http:\/\/\S+)/.exec(line)?.[1],
  },
)

/** A project whose default target is the local runtime, with its secrets set and pushed. */
function project(dir: string): void {
  const configPath = join(dir, 'centrali.json')
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as {
    targets: Record<string, { url: string }>
    triggers: Record<string, { params?: Record<string, unknown> }>
  }
  config.targets.default!.url = runtime.url
  writeFileSync(configPath, JSON.stringify(config, null, 2))
  const secrets = Object.values(config.triggers).flatMap((trigger) =>
    Object.values(trigger.params ?? {}).flatMap((value) =>
      typeof value === 'object' && value !== null && 'secret' in value ? [String(value.secret)] : [],
    ),
  )
  for (const name of secrets) run(['secrets', 'set', name], dir, `bench-value-for-${name}`)
  if (secrets.length > 0) run(['secrets', 'push', '--yes'], dir)
}

// Deploy of each template, interleaved with `node -e 0`.
const templates = ['generic', 'openai', 'stripe'] as const
const figures = new Map<string, { bundleMs: number[]; bytes: number; deployMs: number[] }>()
const nodeMs: number[] = []
for (const template of templates) {
  const dir = join(work, template)
  run(['init', dir, '--template', template, '--yes'], work)
  project(dir)
  figures.set(template, { bundleMs: [], bytes: 0, deployMs: [] })
}
for (let round = 0; round < RUNS; round++) {
  const nodeStarted = performance.now()
  spawnSync(process.execPath, ['-e', '0'])
  nodeMs.push(performance.now() - nodeStarted)
  for (const template of templates) {
    const dir = join(work, template)
    const figure = figures.get(template)!
    const config = JSON.parse(readFileSync(join(dir, 'centrali.json'), 'utf8')) as {
      functions: Record<string, { entry: string }>
    }
    const bundleStarted = performance.now()
    const build = await buildFunction({
      root: dir,
      entry: Object.values(config.functions)[0]!.entry,
      minify: true,
      sourceMap: true,
    })
    figure.bundleMs.push(performance.now() - bundleStarted)
    figure.bytes = Buffer.byteLength(build.code)
    const deployStarted = performance.now()
    run(['deploy', '--yes', '--json'], dir)
    figure.deployMs.push(performance.now() - deployStarted)
  }
}

// Throughput: the forwarding function deployed to serve, the same in dev, and the hand-written proxy.
const forwardDir = join(work, 'forward')
run(['init', forwardDir, '--template', 'generic', '--yes'], work)
writeFileSync(
  join(forwardDir, 'functions/forward.js'),
  `async function run() { const reply = await api.httpPost('https://api.upstream.test/x', executionParams.payload || {}); return { reply } }\n`,
)
writeFileSync(
  join(forwardDir, 'centrali.json'),
  JSON.stringify({
    functions: { forward: { entry: 'functions/forward.js' } },
    triggers: { forward: { type: 'endpoint', function: 'forward' } },
    domains: ['api.upstream.test'],
    targets: { default: { type: 'runtime', url: runtime.url } },
  }),
)
run(['deploy', '--yes'], forwardDir)
const dev = await serve([cli, 'dev', '--port', '0', '--json', '--map', `api.upstream.test=${upstreamUrl}`], {
  cwd: forwardDir,
  env,
  urlOf: (line) => {
    const event = JSON.parse(line) as { type: string; url?: string }
    return event.type === 'ready' ? event.url : undefined
  },
})
const hand = await serve([join(root, 'bench/hand-proxy.js'), upstreamUrl], {
  cwd: work,
  env,
  urlOf: (line) => (line.startsWith('http') ? line : undefined),
})
const forward = (origin: string, seconds = LOAD_SECONDS) =>
  load({ origin, path: '/endpoints/forward', body: '{"payload":{"a":1}}', seconds, connections: CONNECTIONS })
const rounds = { hand: [] as LoadResult[], serve: [] as LoadResult[], dev: [] as LoadResult[] }
for (const origin of [hand.url, runtime.url, dev.url]) await forward(origin, 1)
for (let round = 0; round < LOAD_ROUNDS; round++) {
  rounds.hand.push(await forward(hand.url))
  rounds.serve.push(await forward(runtime.url))
  rounds.dev.push(await forward(dev.url))
}

await Promise.all([runtime.stop(), dev.stop(), hand.stop()])
upstream.close()
rmSync(work, { recursive: true, force: true })

const node = median(nodeMs)
console.log(
  `\ncentrali deploy and serve, node ${process.version}: medians of ${RUNS} deploys per template (node -e 0: ${node.toFixed(0)} ms); load ${CONNECTIONS} connections, median of ${LOAD_ROUNDS} rounds of ${LOAD_SECONDS} s\n`,
)
console.log('| template | bundle (minified + map) | bundle size | whole `deploy --yes` | × node -e 0 |')
console.log('|---|---:|---:|---:|---:|')
for (const [template, figure] of figures) {
  const deployMs = median(figure.deployMs)
  console.log(
    `| ${template} | ${median(figure.bundleMs).toFixed(1)} ms | ${(figure.bytes / 1024).toFixed(1)} KiB | ${deployMs.toFixed(0)} ms | ${(deployMs / node).toFixed(1)}× |`,
  )
}
const rps = (results: LoadResult[]) => median(results.map((result) => result.rps))
const p99 = (results: LoadResult[]) => median(results.map((result) => result.p99))
const failures = (results: LoadResult[]) => results.reduce((sum, result) => sum + result.failures, 0)
console.log('\n| forwarding at 10 connections | req/s | × hand-written | p99 ms | failed |')
console.log('|---|---:|---:|---:|---:|')
for (const [name, results] of [
  ['hand-written node:http + undici proxy', rounds.hand],
  ['centrali serve', rounds.serve],
  ['centrali dev', rounds.dev],
] as const) {
  console.log(
    `| ${name} | ${rps(results).toFixed(0)} | ${(rps(results) / rps(rounds.hand)).toFixed(2)} | ${p99(results).toFixed(2)} | ${failures(results)} |`,
  )
}
