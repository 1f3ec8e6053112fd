import { CancelledError, UsageError } from '../shared/errors.js'
import { ask, isInteractive } from './prompts.js'

/**
 * Commands that change what a target serves ask first on a terminal; elsewhere they need --yes.
 * Called before any work, so a script that forgot --yes fails at once and sends nothing.
 */
export function requireConfirmation(options: { yes: boolean; action: string; alternative?: string }): void {
  if (options.yes || isInteractive()) return
  throw new UsageError(
    'CONFIRMATION_REQUIRED',
    `${options.action} needs a confirmation and there is no terminal to ask on (stdin or stdout is not a TTY, or CI is set): pass --yes.`,
    options.alternative === undefined ? {} : { hint: options.alternative },
  )
}

/** Asks unless --yes; "no" stops the command as cancelled (exit 130), having changed nothing. */
export async function confirmChange(message: string, yes: boolean): Promise<void> {
  if (yes) return
  const confirmed = await ask((p, context) => p.confirm({ message, default: true }, context))
  if (!confirmed) throw new CancelledError()
}
