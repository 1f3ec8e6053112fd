// Shared by the bench scripts: a bounded HTTP load, medians, and processes that print their URL.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { Pool } from 'undici'

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
export const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!

export interface LoadResult {
  rps: number
  p99: number
  failures: number
}

/** `connections` clients POSTing `body` to `origin + path` back to back for `seconds`, then stop. */
export async function load(options: {
  origin: string
  path: string
  body: string
  seconds: number
  connections: number
}): Promise<LoadResult> {
  const client = new Pool(options.origin, { connections: options.connections })
  const latencies: number[] = []
  let failures = 0
  const until = performance.now() + options.seconds * 1000
  await Promise.all(
    Array.from({ length: options.connections }, async () => {
      while (performance.now() < until) {
        const started = performance.now()
        const response = await client.request({
          path: options.path,
          method: 'POST',
          body: options.body,
          headers: { 'content-type': 'application/json' },
        })
        await response.body.dump()
        if (response.statusCode !== 200) failures++
        latencies.push(performance.now() - started)
      }
    }),
  )
  await client.close()
  return { rps: latencies.length / options.seconds, p99: percentile(latencies, 0.99), failures }
}

/** A child process that prints its URL on stdout (`urlOf` finds it in a line). */
export interface Served {
  child: ChildProcess
  url: string
  lines: string[]
  /** Resolves with the first line (from `after` on) that `match` accepts. */
  nextLine(match: (line: string) => boolean, after?: number): Promise<string>
  stop(): Promise<void>
}

export async function serve(
  command: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; urlOf: (line: string) => string | undefined },
): Promise<Served> {
  const child = spawn(process.execPath, command, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: string[] = []
  const waiters: (() => void)[] = []
  let resolveUrl: (url: string) => void
  const url = new Promise<string>((resolve) => (resolveUrl = resolve))
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const found = options.urlOf(line)
    if (found !== undefined) resolveUrl(found)
    lines.push(line)
    for (const wake of waiters.splice(0)) wake()
  })
  return {
    child,
    url: await url,
    lines,
    async nextLine(match, after = 0) {
      for (;;) {
        const found = lines.slice(after).find(match)
        if (found !== undefined) return found
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
    },
    async stop() {
      child.kill('SIGTERM')
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve))
    },
  }
}
