/**
 * The one error family of centrali. Every failure a person can act on is a `CentraliError` with a
 * stable `code` (never renamed: tests, scripts and the JSON output depend on it), a `message` that
 * says what happened, a `hint` that says what to do, and the process exit code it maps to.
 */
export interface ErrorDetails {
  hint?: string
  cause?: unknown
}

export class CentraliError extends Error {
  readonly code: string
  readonly hint: string | undefined
  readonly exitCode: number

  constructor(code: string, message: string, details: ErrorDetails & { exitCode?: number } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = new.target.name
    this.code = code
    this.hint = details.hint
    this.exitCode = details.exitCode ?? 1
  }

  toJSON(): { code: string; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint }
  }
}

/** Something the user can fix: a missing file, a refused value, a missing secret. Exit 1. */
export class UserError extends CentraliError {}

/** The command line itself is wrong: unknown flag, missing argument, missing answer. Exit 2. */
export class UsageError extends CentraliError {
  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(code, message, { ...details, exitCode: 2 })
  }
}

export interface ConfigProblem {
  /** Path of the file, as shown to the user. */
  file: string
  /** JSON path inside the file, such as `triggers.openai-chat.timeoutMs`; empty for the root. */
  path: string
  /** 1-based line and column, when known. */
  line?: number
  column?: number
  message: string
}

/** `centrali.json` (or another config file) is invalid; carries every problem at once. */
export class ConfigError extends CentraliError {
  readonly problems: readonly ConfigProblem[]

  constructor(problems: readonly ConfigProblem[], hint?: string) {
    super('CONFIG_INVALID', problems.map(formatConfigProblem).join('\n'), hint === undefined ? {} : { hint })
    this.problems = problems
  }

  override toJSON(): { code: string; message: string; hint?: string; problems: readonly ConfigProblem[] } {
    return { ...super.toJSON(), problems: this.problems }
  }
}

export function formatConfigProblem(problem: ConfigProblem): string {
  const where =
    problem.line === undefined ? problem.file : `${problem.file}:${problem.line}:${problem.column ?? 1}`
  return problem.path === ''
    ? `${where}: ${problem.message}`
    : `${where}: ${problem.path}: ${problem.message}`
}

/** The user stopped the command (Ctrl-C in a prompt, SIGINT). Exit 130. */
export class CancelledError extends CentraliError {
  constructor() {
    super('CANCELLED', 'Operation cancelled', { exitCode: 130 })
  }
}

/** A system error turned into plain language (ENOENT, EACCES, ...). */
export function describeSystemError(error: unknown, action: string): CentraliError | undefined {
  if (!(error instanceof Error) || !('code' in error) || typeof error.code !== 'string') return undefined
  const path = 'path' in error && typeof error.path === 'string' ? error.path : undefined
  const target = path ?? 'the file'
  switch (error.code) {
    case 'ENOENT':
      return new UserError('FILE_NOT_FOUND', `Could not ${action}: ${target} does not exist.`, {
        cause: error,
      })
    case 'EACCES':
    case 'EPERM':
      return new UserError('PERMISSION_DENIED', `Could not ${action}: permission denied on ${target}.`, {
        hint: 'Check the owner and mode of the file and its folder.',
        cause: error,
      })
    case 'ENOSPC':
      return new UserError('DISK_FULL', `Could not ${action}: the disk is full.`, { cause: error })
    case 'EISDIR':
      return new UserError('IS_A_DIRECTORY', `Could not ${action}: ${target} is a folder, not a file.`, {
        cause: error,
      })
    default:
      return undefined
  }
}
