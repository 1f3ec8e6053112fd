// Shared by the bench scripts: a bounded HTTP load, medians, and processes that print their URL.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, watch } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'undici'

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
export const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!

export interface LoadResult {
  rps: number
  p99: number
  failures: number
  /**
   * CPU time per request, in ms: of the served process (all its threads), when its pid was given,
   * and of this process (the load generator and whatever else it runs, such as an upstream).
   */
  cpu?: { server: number; bench: number }
}

/**
 * CPU time a process has used so far, in ms, all threads (Linux: /proc/PID/stat's utime and
 * stime, in clock ticks of 10 ms); undefined where that cannot be read.
 */
function processCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/** `connections` clients POSTing `body` to `origin + path` back to back for `seconds`, then stop. */
export async function load(options: {
  origin: string
  path: string
  body: string
  seconds: number
  connections: number
  /** The served process, to measure its CPU time per request. */
  pid?: number
}): Promise<LoadResult> {
  const client = new Pool(options.origin, { connections: options.connections })
  const latencies: number[] = []
  let failures = 0
  const serverCpuBefore = options.pid === undefined ? undefined : processCpuMs(options.pid)
  const benchCpuBefore = process.cpuUsage()
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
  const benchCpu = process.cpuUsage(benchCpuBefore)
  const serverCpuAfter = options.pid === undefined ? undefined : processCpuMs(options.pid)
  await client.close()
  const requests = latencies.length
  return {
    rps: requests / options.seconds,
    p99: percentile(latencies, 0.99),
    failures,
    ...(serverCpuBefore !== undefined && serverCpuAfter !== undefined && requests > 0
      ? {
          cpu: {
            server: (serverCpuAfter - serverCpuBefore) / requests,
            bench: (benchCpu.user + benchCpu.system) / 1000 / requests,
          },
        }
      : {}),
  }
}

/** A child process that prints its URL on stdout (`urlOf` finds it in a line). */
export interface Served {
  child: ChildProcess
  url: string
  stop(): Promise<void>
}

/**
 * Starts `node ...command` with its stdout going to a file, as a terminal would take it off its
 * hands: a pipe read by this process would make the load generator also parse every line the
 * server prints, and block the server whenever this busy process fell behind.
 */
export async function serve(
  command: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; urlOf: (line: string) => string | undefined },
): Promise<Served> {
  const outputDir = mkdtempSync(join(tmpdir(), 'centrali-bench-stdout-'))
  const outputPath = join(outputDir, 'stdout')
  const output = openSync(outputPath, 'w')
  const child = spawn(process.execPath, command, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', output, 'inherit'],
  })
  closeSync(output)
  const urlIn = (line: string) => {
    try {
      return options.urlOf(line)
    } catch {
      return undefined
    }
  }
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      // Whole lines only: the last piece may still be being written.
      for (const line of readFileSync(outputPath, 'utf8').split('\n').slice(0, -1)) {
        const found = urlIn(line)
        if (found === undefined) continue
        stopWatching()
        resolve(found)
        return
      }
    }
    const onExit = (code: number | null) => {
      stopWatching()
      reject(new Error(`${command.join(' ')} exited (${code}) before printing its URL`))
    }
    const watcher = watch(outputPath, check)
    const poll = setInterval(check, 25)
    const stopWatching = () => {
      watcher.close()
      clearInterval(poll)
      child.off('exit', onExit)
    }
    child.on('exit', onExit)
  })
  return {
    child,
    url,
    async stop() {
      child.kill('SIGTERM')
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve))
      rmSync(outputDir, { recursive: true, force: true })
    },
  }
}
