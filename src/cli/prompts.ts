import type * as InquirerPrompts from '@inquirer/prompts'
import { CancelledError, UsageError } from '../shared/errors.js'

/** Prompts only when a person is there to answer: stdin and stdout are terminals and CI is unset. */
export function isInteractive(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && (env.CI === undefined || env.CI === '')
}

export type Prompts = typeof InquirerPrompts

/**
 * Loads the prompt library only when a prompt is about to be shown (keeps start-up fast), and maps
 * Ctrl-C to "Operation cancelled" (exit 130). Prompts draw on stderr so stdout stays the result.
 */
export async function ask<T>(
  question: (prompts: Prompts, context: { output: NodeJS.WriteStream }) => Promise<T>,
): Promise<T> {
  const prompts = await import('@inquirer/prompts')
  try {
    return await question(prompts, { output: process.stderr })
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) {
      throw new CancelledError()
    }
    throw error
  }
}

/** One error naming every flag a non-interactive run must pass. */
export function missingAnswersError(missing: readonly string[], alternative?: string): UsageError {
  return new UsageError(
    'MISSING_FLAGS',
    `Missing ${missing.length === 1 ? 'an answer' : 'answers'} and no terminal to ask on (stdin or stdout is not a TTY, or CI is set): pass ${missing.join(', ')}.`,
    alternative === undefined ? {} : { hint: alternative },
  )
}

/** The template question, shared by `init` and `functions new`. */
export async function askTemplate(): Promise<string> {
  const { loadAllTemplates } = await import('../project/templates.js')
  const templates = await loadAllTemplates()
  return ask((p, context) =>
    p.select(
      {
        message: 'Template',
        choices: templates.map((template) => ({
          value: template.name,
          name: `${template.name}: ${template.description}`,
        })),
      },
      context,
    ),
  )
}
