import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa, type Result } from 'execa'

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
