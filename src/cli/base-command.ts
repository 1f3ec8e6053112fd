import { Command } from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import * as Flags from '@oclif/core/flags'
import type * as Interfaces from '@oclif/core/interfaces'
import { CentraliError, UsageError, describeSystemError } from '../shared/errors.js'
import { takeEnvironment } from '../shared/environment.js'
import { colorEnabled, createOutput, painter, renderErrorText, type Output } from './output.js'

export type BaseFlags = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags']>

/**
 * Every command: `--json` (the returned value becomes stdout; errors become
 * `{ "error": { code, message, hint } }`), `--cwd`, exit codes 0 / 1 (fixable) / 2 (usage) /
 * 130 (cancelled), and one renderer for errors so only bugs print a stack.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    cwd: Flags.directory({
      description: 'Run as if started in this folder.',
      helpGroup: 'GLOBAL',
      exists: true,
    }),
  }

  private outputInstance: Output | undefined

  protected get output(): Output {
    this.outputInstance ??= createOutput({ json: this.jsonEnabled() })
    return this.outputInstance
  }

  /** What every service gets: where to run, the environment, and where warnings go. */
  protected context(flags: { cwd?: string | undefined }): {
    cwd: string
    env: NodeJS.ProcessEnv
    warn: (message: string) => void
  } {
    return {
      cwd: flags.cwd ?? process.cwd(),
      env: takeEnvironment(),
      warn: (message) => this.output.warn(message),
    }
  }

  protected warnAll(warnings: readonly string[]): void {
    for (const warning of warnings) this.output.warn(warning)
  }

  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<never> {
    if (error instanceof Errors.ExitError) throw error
    const known = toCentraliError(error)
    const isBug = known === undefined
    const shown =
      known ??
      new CentraliError('INTERNAL_ERROR', error.message || String(error), {
        hint: 'This is a bug in centrali; please report it with the output above.',
      })
    if (this.jsonEnabled()) {
      this.logJson({ error: shown.toJSON() })
    } else {
      const paint = painter(colorEnabled(process.stderr))
      process.stderr.write(`${renderErrorText(shown, paint, isBug ? error.stack : undefined)}\n`)
    }
    throw new Errors.ExitError(shown.exitCode)
  }
}

function toCentraliError(error: Error): CentraliError | undefined {
  if (error instanceof CentraliError) return error
  if (error instanceof Errors.CLIError && 'parse' in error) {
    // oclif's parser: unknown flag, missing argument, bad option value.
    return new UsageError('USAGE_ERROR', error.message.replace(/\nSee more help with --help$/, ''), {
      hint: 'Run the command with --help for its flags and examples.',
    })
  }
  // A flag's own parser refused its value (not a number, out of range, no such folder): oclif
  // rethrows that as a plain Error whose message has this shape.
  const refusedValue = /^Parsing --([\w-]+) \n\t([\s\S]*?)(?:\nSee more help with --help)?$/.exec(
    error.message,
  )
  if (refusedValue) {
    return new UsageError('USAGE_ERROR', `--${refusedValue[1]}: ${refusedValue[2]}`, {
      hint: 'Run the command with --help for its flags and examples.',
    })
  }
  return describeSystemError(error, 'complete the command')
}
