import { BaseCommand } from '../../cli/base-command.js'
import { listDomains, type ListDomainsResult } from '../../project/domains.js'

export default class DomainsList extends BaseCommand {
  static override summary = 'Show the allowed domains and what needs them.'
  static override description =
    'For each entry: the functions whose code or trigger params name a host it allows, and the built-in templates that need it. Hosts named in code that no entry allows are listed too: calls to them will be blocked.'

  static override examples = ['<%= config.bin %> domains list', '<%= config.bin %> domains list --json']

  async run(): Promise<ListDomainsResult> {
    const { flags } = await this.parse(DomainsList)
    const result = await listDomains(this.context(flags))
    const { output } = this
    if (result.domains.length === 0)
      output.info(
        'No domains are allowed: functions cannot call anything yet. Add one with `centrali domains add <host>`.',
      )
    for (const { domain, functions, templates } of result.domains) {
      const uses = [
        ...(functions.length > 0 ? [`functions: ${functions.join(', ')}`] : []),
        ...(templates.length > 0 ? [`templates: ${templates.join(', ')}`] : []),
      ]
      output.result(`${domain}${uses.length > 0 ? output.paint('dim', `  (${uses.join('; ')})`) : ''}`)
    }
    for (const { host, functions } of result.notAllowed) {
      output.warn(
        `${functions.join(', ')} ${functions.length === 1 ? 'names' : 'name'} ${host}, which is not allowed: \`centrali domains add ${host}\``,
      )
    }
    return result
  }
}
