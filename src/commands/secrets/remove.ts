import * as Args from '@oclif/core/args'
import { BaseCommand } from '../../cli/base-command.js'
import { removeSecret } from '../../project/secrets.js'

export default class SecretsRemove extends BaseCommand {
  static override summary = 'Remove a secret from the local store.'
  static override examples = ['<%= config.bin %> secrets remove OPENAI_API_KEY']

  static override args = {
    name: Args.string({ description: 'Secret name.', required: true }),
  }

  async run(): Promise<{ name: string; usedBy: { trigger: string; param: string }[] }> {
    const { args, flags } = await this.parse(SecretsRemove)
    const result = await removeSecret({ ...this.context(flags), name: args.name })
    this.output.success(`Removed ${result.name}`)
    for (const use of result.usedBy)
      this.output.warn(`trigger ${use.trigger} still refers to ${result.name} (param ${use.param})`)
    return result
  }
}
