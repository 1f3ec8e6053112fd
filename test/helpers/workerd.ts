import { writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { ROOT } from './cli.js'
import { freePort } from './http.js'

export interface RunningWorkerd {
  /** The Worker's origin, http://127.0.0.1:<port>. */
  base: string
  child: ResultPromise
  /** What workerd has printed so far (with `verbose`, the Worker's console records too). */
  output(): string
}

/**
 * One emitted Worker (`deploy --target <cloudflare> --dry-run` writes `worker.js` into `workerDir`)
 * in workerd on 127.0.0.1, every outbound fetch sent to `upstreamOrigin` (globalOutbound), and
 * `bindings` as text bindings, as Worker secrets arrive. Resolves once its /healthz answers.
 */
export async function startWorkerd(options: {
  /** Where the config goes; `workerDir` is embedded relative to it. */
  dir: string
  workerDir: string
  upstreamOrigin: string
  bindings?: Record<string, string>
  verbose?: boolean
  timeoutMs: number
}): Promise<RunningWorkerd> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const configPath = join(options.dir, 'workerd.capnp')
  const bindings = Object.entries(options.bindings ?? {})
    .map(([name, value]) => `(name = "${name}", text = "${value}")`)
    .join(', ')
  await writeFile(
    configPath,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "worker", worker = .theWorker),
    (name = "upstream", external = (address = "${new URL(options.upstreamOrigin).host}", http = ())) ],
  sockets = [ (name = "worker", address = "127.0.0.1:${port}", http = (), service = "worker") ],
);
const theWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "${relative(options.dir, join(options.workerDir, 'worker.js'))}") ],
  compatibilityDate = "2025-09-01",
  globalOutbound = "upstream",
  bindings = [ ${bindings} ],
);
`,
  )
  const args = ['serve', ...(options.verbose ? ['--verbose'] : []), configPath]
  const child = execa(join(ROOT, 'node_modules', '.bin', 'workerd'), args, {
    reject: false,
    cleanup: true,
    buffer: false,
  })
  let output = ''
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => (output += chunk))
  }
  // workerd says nothing when it listens: asked until it answers.
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    const up = await fetch(`${base}/healthz`).then(
      (response) => response.ok,
      () => false,
    )
    if (up) break
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill()
      throw new Error(`workerd did not start: ${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { base, child, output: () => output }
}
