import { BaseCommand } from '../../cli/base-command.js'
import { listSecrets, type ListSecretsResult } from '../../project/secrets.js'

export default class SecretsList extends BaseCommand {
  static override summary = 'Show stored secret names, who uses them, and which are missing. Never values.'
  static override examples = ['<%= config.bin %> secrets list', '<%= config.bin %> secrets list --json']

  async run(): Promise<ListSecretsResult> {
    const { flags } = await this.parse(SecretsList)
    const result = await listSecrets(this.context(flags))
    const { output } = this
    if (result.secrets.length === 0) output.info('No secrets stored.')
    for (const secret of result.secrets) {
      const uses = secret.usedBy.map((use) => `${use.trigger}.${use.param}`)
      output.result(
        `${secret.name}${output.paint('dim', uses.length > 0 ? `  (used by ${uses.join(', ')})` : '  (unused)')}`,
      )
    }
    for (const missing of result.missing) {
      const uses = missing.usedBy.map((use) => `${use.trigger}.${use.param}`).join(', ')
      output.warn(`${missing.name} is missing (needed by ${uses}): \`${missing.command}\``)
    }
    return result
  }
}
