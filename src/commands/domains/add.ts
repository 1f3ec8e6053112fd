import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../../cli/base-command.js'
import { prose } from '../../cli/help-text.js'
import { addDomains, type AddDomainsResult } from '../../project/domains.js'

export default class DomainsAdd extends BaseCommand {
  static override summary = 'Allow functions to call these hosts.'
  static override description =
    prose(`Entries are host names, normalised to lowercase punycode: "api.openai.com", "*.stripe.com" (any
subdomain, never stripe.com itself), "api.partner.io:8443" (no port means 443 only). A URL is reduced
to its host. Refused: "*", "*.com", public suffixes, wildcards in the middle, localhost, and IP
addresses unless --ip.`)

  static override examples = [
    '<%= config.bin %> domains add api.openai.com',
    "<%= config.bin %> domains add '*.stripe.com' api.partner.io:8443",
    '<%= config.bin %> domains add https://api.example.com/v1   # kept as api.example.com',
  ]

  static override strict = false
  static override args = {
    host: Args.string({ description: 'Host to allow (one or more).', required: true }),
  }

  static override flags = {
    ip: Flags.boolean({ description: 'Accept IP addresses (they skip DNS; prefer names).' }),
  }

  async run(): Promise<AddDomainsResult> {
    const { argv, flags } = await this.parse(DomainsAdd)
    const result = await addDomains({
      ...this.context(flags),
      hosts: argv as string[],
      allowIp: flags.ip,
    })
    const { output } = this
    for (const note of result.notes) output.info(`note: ${note}`)
    for (const domain of result.existing) output.info(`${domain} is already allowed; nothing to do.`)
    if (result.added.length > 0) output.success(`Allowed ${result.added.join(', ')}`)
    for (const domain of result.added) output.result(domain)
    return result
  }
}
