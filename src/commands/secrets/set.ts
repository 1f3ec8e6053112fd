import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../../cli/base-command.js'
import { prose } from '../../cli/help-text.js'
import { ask, isInteractive, missingAnswersError } from '../../cli/prompts.js'
import { readStdin } from '../../cli/stdin.js'
import { setSecret, setSecretCommand, type SetSecretResult } from '../../project/secrets.js'
import { assertSecretName } from '../../secrets/store.js'
import { UsageError } from '../../shared/errors.js'

export default class SecretsSet extends BaseCommand {
  static override summary = 'Store a secret, encrypted (AES-256-GCM), in .centrali/secrets.json.'
  static override description =
    prose(`The value comes from a hidden prompt on a terminal, from stdin, or from --value. It is never printed.
The key lives outside the project: CENTRALI_SECRETS_KEY (base64, 32 bytes) or
$XDG_CONFIG_HOME/centrali/secrets.key (created on first use, mode 0600).`)

  static override examples = [
    '<%= config.bin %> secrets set OPENAI_API_KEY',
    'echo "$OPENAI_API_KEY" | <%= config.bin %> secrets set OPENAI_API_KEY',
    '<%= config.bin %> secrets set STRIPE_SECRET_KEY --value sk_test_123   # lands in shell history',
  ]

  // Not strict: a value typed as a second argument must not be echoed back in a usage error.
  static override strict = false
  static override args = {
    name: Args.string({ description: 'Secret name: capital letters, digits and "_".', required: true }),
  }

  static override flags = {
    value: Flags.string({
      description: 'The value (prefer stdin or the prompt: flags land in shell history).',
    }),
  }

  async run(): Promise<SetSecretResult> {
    const { args, argv, flags } = await this.parse(SecretsSet)
    if (argv.length > 1) {
      throw new UsageError(
        'VALUE_AS_ARGUMENT',
        'secrets set takes one argument, the name; the value was not stored.',
        {
          hint: `Give the value at the prompt or on stdin (echo "$VALUE" | ${setSecretCommand(args.name)}); an argument would stay in your shell history.`,
        },
      )
    }
    // Refuse a bad name before anyone types a value for it.
    assertSecretName(args.name)
    let value = flags.value
    if (value === undefined) {
      if (isInteractive()) {
        // No mask: not even the length of the value shows.
        value = await ask((p, context) => p.password({ message: `Value for ${args.name} (hidden)` }, context))
      } else if (!process.stdin.isTTY) {
        // One trailing newline is what `echo` adds; it is not part of the secret.
        value = (await readStdin()).replace(/\r?\n$/, '')
      } else {
        throw missingAnswersError(
          ['--value <value>'],
          `Or pipe it: echo "$VALUE" | ${setSecretCommand(args.name)}`,
        )
      }
    }
    const result = await setSecret({ ...this.context(flags), name: args.name, value })
    this.warnAll(result.warnings)
    this.output.success(`${result.replaced ? 'Replaced' : 'Stored'} ${result.name}`)
    for (const use of result.usedBy) this.output.result(`  used by trigger ${use.trigger} as ${use.param}`)
    return result
  }
}
