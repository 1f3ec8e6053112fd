import { BaseCommand } from '../../cli/base-command.js'
import { prose } from '../../cli/help-text.js'
import { confirmChange, requireConfirmation } from '../../cli/confirm.js'
import { confirmFlag, targetFlag } from '../../cli/flags.js'
import { createStepRunner } from '../../cli/progress.js'
import { executeSecretsPush, planSecretsPush, type SecretsPushResult } from '../../deploy/secrets-push.js'
import { setSecretCommand } from '../../project/secrets.js'

export default class SecretsPush extends BaseCommand {
  static override summary = 'Send secrets from the local store to a deploy target.'
  static override description =
    prose(`Without names, sends every secret the triggers refer to that is set locally. Values are
decrypted only to be sent (over https, or plain http to this machine) and stored encrypted by the
runtime; they are never printed. A deploy needs every secret its triggers use to be on the target.`)

  static override examples = [
    '<%= config.bin %> secrets push',
    '<%= config.bin %> secrets push OPENAI_API_KEY --target staging',
    '<%= config.bin %> secrets push STRIPE_SECRET_KEY --yes',
  ]

  // Names are variadic; an argument that is not a name is refused without being echoed.
  static override strict = false

  static override flags = { target: targetFlag, yes: confirmFlag('Send') }

  async run(): Promise<SecretsPushResult> {
    const { argv, flags } = await this.parse(SecretsPush)
    requireConfirmation({ yes: flags.yes, action: 'secrets push' })
    const { output } = this
    const plan = await planSecretsPush({
      ...this.context(flags),
      target: flags.target,
      names: argv as string[],
    })
    for (const name of plan.notSetLocally) {
      output.warn(
        `${name} is used by a trigger but not set locally, so it is not sent: \`${setSecretCommand(name)}\``,
      )
    }
    const { name, url } = plan.target
    const names = plan.secrets.map((secret) =>
      secret.onTargetSince === null
        ? secret.name
        : `${secret.name} (replaces the value set ${secret.onTargetSince})`,
    )
    await confirmChange(`Send ${names.join(', ')} to ${name} (${url})?`, flags.yes)
    const result = await executeSecretsPush(plan, { step: createStepRunner({ json: output.json }) })
    for (const secret of result.pushed) {
      output.result(`${secret.name}${output.paint('dim', secret.replaced ? '  replaced' : '  added')}`)
    }
    return result
  }
}
