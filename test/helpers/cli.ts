import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa, type Result, type ResultPromise } from 'execa'
import { readLines } from './lines.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const CLI = join(ROOT, 'bin', 'run.js')

export interface RunOptions {
  cwd: string
  env?: Record<string, string | undefined>
  input?: string
}

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON (for --json runs). */
  json: <T = Record<string, unknown>>() => T
}

/** A sandbox for one test: a work folder and a private config home (where the secrets key lives). */
export interface Sandbox {
  dir: string
  configHome: string
  env: Record<string, string | undefined>
  run(args: readonly string[], options?: Partial<RunOptions>): Promise<CliResult>
  cleanup(): Promise<void>
}

export async function createSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'centrali-e2e-'))
  const configHome = join(dir, '.config-home')
  const env = { XDG_CONFIG_HOME: configHome, NO_COLOR: '1', CENTRALI_SECRETS_KEY: undefined }
  return {
    dir,
    configHome,
    env,
    run: (args, options = {}) =>
      runCli(args, {
        cwd: options.cwd ?? dir,
        env: { ...env, ...options.env },
        ...(options.input === undefined ? {} : { input: options.input }),
      }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

/** Runs the built CLI exactly as a user would: a new process, stdin piped (so not a terminal). */
export async function runCli(args: readonly string[], options: RunOptions): Promise<CliResult> {
  const result: Result = await execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    input: options.input ?? '',
    reject: false,
    timeout: 20_000,
  })
  const stdout = String(result.stdout)
  return {
    exitCode: result.exitCode ?? -1,
    stdout,
    stderr: String(result.stderr),
    json: <T>() => JSON.parse(stdout) as T,
  }
}

/** A long-running command of the built CLI (dev, serve), started as a user would. */
export interface RunningCli {
  child: ResultPromise
  /** The whole lines stdout has had so far. */
  lines: string[]
  stdout(): string
  stderr(): string
  /** Both outputs so far, to end a failure message with. */
  show(): string
  /** Gives `listener` each whole line of stdout: those had so far, then each as it comes. */
  onLine(listener: (line: string) => void): void
  exit: Promise<{ exitCode: number | undefined; signal: string | undefined }>
}

/**
 * Starts `centrali ...args` with no stdin and gathers its output as it comes; `onLine` also gets
 * each whole line of stdout. The caller ends the process (see `killAll`).
 */
export function startCli(
  args: readonly string[],
  options: { cwd: string; env: Record<string, string | undefined>; onLine?: (line: string) => void },
): RunningCli {
  const child = execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    reject: false,
    stdin: 'ignore',
    buffer: false,
  })
  const lines: string[] = []
  const listeners = options.onLine ? [options.onLine] : []
  let stdout = ''
  let stderr = ''
  readLines(child.stdout!, (line) => {
    lines.push(line)
    for (const listener of listeners) listener(line)
  })
  child.stdout!.on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => (stderr += chunk))
  return {
    child,
    lines,
    stdout: () => stdout,
    stderr: () => stderr,
    show: () => `\nstdout:\n${stdout}\nstderr:\n${stderr}`,
    onLine: (listener) => {
      for (const line of lines) listener(line)
      listeners.push(listener)
    },
    exit: child.then((result) => ({ exitCode: result.exitCode, signal: result.signal })),
  }
}

/** The URL of the human `Ready on http://127.0.0.1:PORT` line, once stdout has it. */
export const readyUrl = (lines: readonly string[]): string | undefined =>
  lines.map((line) => /^Ready on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1]).find(Boolean)
