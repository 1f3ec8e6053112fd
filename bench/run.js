// npm run bench: cold-process timings of the built CLI, median of N runs, against `node -e 0`
// measured in the same run (rounds interleave the commands, so machine noise hits all alike).
// Usage: node bench/run.js [--runs 10] [--json]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const cli = join(root, 'bin/run.js')
const args = process.argv.slice(2)
const runs = Number(args[args.indexOf('--runs') + 1]) || 10
const asJson = args.includes('--json')

const work = mkdtempSync(join(tmpdir(), 'centrali-bench-'))
const env = { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), NO_COLOR: '1', CI: '1' }
const run = (argv, cwd = work) => {
  const started = process.hrtime.bigint()
  const result = spawnSync(process.execPath, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited ${result.status}: ${result.stderr}`)
  return ms
}

run([cli, 'init', 'app', '--template', 'openai', '--yes'])
const app = join(work, 'app')
run([cli, 'secrets', 'set', 'OPENAI_API_KEY', '--value', 'sk-bench'], app)

const cases = [
  { name: 'node -e 0 (baseline)', argv: ['-e', '0'] },
  {
    name: 'node -e "import(\'@oclif/core\')"',
    argv: ['--input-type=module', '-e', "await import('@oclif/core')"],
    cwd: root,
  },
  { name: 'centrali --help', argv: [cli, '--help'] },
  { name: 'centrali domains list --json', argv: [cli, 'domains', 'list', '--json'], cwd: app },
  { name: 'centrali secrets list --json', argv: [cli, 'secrets', 'list', '--json'], cwd: app },
  {
    name: 'centrali init --template stripe --yes',
    argv: [cli, 'init', 'x', '--template', 'stripe', '--yes', '--force'],
  },
]

for (const item of cases) run(item.argv, item.cwd) // warm the file cache
const samples = cases.map(() => [])
for (let round = 0; round < runs; round++) {
  cases.forEach((item, index) => samples[index].push(run(item.argv, item.cwd)))
}
rmSync(work, { recursive: true, force: true })

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
const baseline = median(samples[0])
const rows = cases.map((item, index) => ({
  command: item.name,
  medianMs: Number(median(samples[index]).toFixed(1)),
  minMs: Number(Math.min(...samples[index]).toFixed(1)),
  ratioToNode: Number((median(samples[index]) / baseline).toFixed(2)),
}))

if (asJson) {
  console.log(JSON.stringify({ node: process.version, runs, rows }, null, 2))
} else {
  console.log(`Cold-process start, ${runs} runs each, node ${process.version}\n`)
  console.log('| command | median ms | min ms | × node -e 0 |')
  console.log('|---|---:|---:|---:|')
  for (const row of rows)
    console.log(`| \`${row.command}\` | ${row.medianMs} | ${row.minMs} | ${row.ratioToNode} |`)
}
