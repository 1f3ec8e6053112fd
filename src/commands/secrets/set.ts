import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../../cli/base-command.js'
import { ask, isInteractive, missingAnswersError } from '../../cli/prompts.js'
import { setSecret, type SetSecretResult } from '../../project/secrets.js'
import { readStdin } from '../../cli/stdin.js'

export default class SecretsSet extends BaseCommand {
  static override summary = 'Store a secret, encrypted (AES-256-GCM), in .centrali/secrets.json.'
  static override description = `The value comes from a hidden prompt on a terminal, from --value, or from stdin. It is never printed.
The key lives outside the project: CENTRALI_SECRETS_KEY (base64, 32 bytes) or
$XDG_CONFIG_HOME/centrali/secrets.key (created on first use, mode 0600).`

  static override examples = [
    '<%= config.bin %> secrets set OPENAI_API_KEY',
    'echo "$OPENAI_API_KEY" | <%= config.bin %> secrets set OPENAI_API_KEY',
    '<%= config.bin %> secrets set STRIPE_SECRET_KEY --value sk_test_123   # lands in shell history',
  ]

  static override args = {
    name: Args.string({ description: 'Secret name: capital letters, digits and "_".', required: true }),
  }

  static override flags = {
    value: Flags.string({
      description: 'The value (prefer stdin or the prompt: flags land in shell history).',
    }),
  }

  async run(): Promise<SetSecretResult> {
    const { args, flags } = await this.parse(SecretsSet)
    let value = flags.value
    if (value === undefined) {
      if (isInteractive()) {
        value = await ask((p, context) =>
          p.password({ message: `Value for ${args.name}`, mask: true }, context),
        )
      } else if (!process.stdin.isTTY) {
        // One trailing newline is what `echo` adds; it is not part of the secret.
        value = (await readStdin()).replace(/\r?\n$/, '')
      } else {
        throw missingAnswersError(
          ['--value <value>'],
          `Or pipe it: echo "$VALUE" | centrali secrets set ${args.name}`,
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
