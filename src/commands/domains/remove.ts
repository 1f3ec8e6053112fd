import * as Args from '@oclif/core/args'
import { BaseCommand } from '../../cli/base-command.js'
import { removeDomains, type RemoveDomainsResult } from '../../project/domains.js'

export default class DomainsRemove extends BaseCommand {
  static override summary = 'Stop allowing hosts.'
  static override examples = [
    '<%= config.bin %> domains remove api.example.com',
    "<%= config.bin %> domains remove '*.stripe.com'",
  ]

  static override strict = false
  static override args = {
    host: Args.string({
      description: 'Entry to remove (one or more), as `domains list` shows it.',
      required: true,
    }),
  }

  async run(): Promise<RemoveDomainsResult> {
    const { argv, flags } = await this.parse(DomainsRemove)
    const result = await removeDomains({ ...this.context(flags), hosts: argv as string[] })
    this.output.success(`Removed ${result.removed.join(', ')}`)
    return result
  }
}
