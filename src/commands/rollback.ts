import * as Args from '@oclif/core/args'
import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { confirmChange, requireConfirmation } from '../cli/confirm.js'
import { confirmFlag, targetFlag } from '../cli/flags.js'
import { table } from '../deploy/plan.js'
import { executeRollback, planRollback, type RollbackResult } from '../deploy/versions.js'

export default class Rollback extends BaseCommand {
  static override summary = 'Activate an earlier version on a target.'
  static override description =
    prose(`Without a version, activates the one that was active before the current one, so a second
rollback undoes the first. Versions are kept whole on the target, so this is instant; \`centrali versions\`
lists them.`)

  static override examples = [
    '<%= config.bin %> rollback',
    '<%= config.bin %> rollback v3',
    '<%= config.bin %> rollback --target staging --yes',
  ]

  static override args = {
    version: Args.string({
      description: 'Version to activate, such as v3 or 3 (default: the one active before the current one).',
    }),
  }

  static override flags = { target: targetFlag, yes: confirmFlag('Activate') }

  async run(): Promise<RollbackResult> {
    const { args, flags } = await this.parse(Rollback)
    requireConfirmation({ yes: flags.yes, action: 'rollback' })
    const plan = await planRollback({ ...this.context(flags), target: flags.target, version: args.version })
    const { output } = this
    const { to, from, target } = plan
    if (from?.id !== to.id) {
      await confirmChange(
        `Activate ${to.id} (${to.createdAt}; ${to.functions.join(', ')}) on ${target.name}${from === null ? '' : `, replacing ${from.id}`}?`,
        flags.yes,
      )
    }
    const result = await executeRollback(plan)
    if (result.changed) {
      output.success(
        `${result.active.id} is now active on ${target.name}${result.previous === null ? '' : ` (was ${result.previous})`}`,
      )
    } else {
      output.info(`${result.active.id} is already active on ${target.name}; nothing changed.`)
    }
    output.result(`Active on ${target.name}: ${result.active.id} (deployed ${result.active.createdAt})`)
    for (const line of table(result.endpoints.map((endpoint) => [endpoint.trigger, endpoint.url]))) {
      output.result(line)
    }
    return result
  }
}
