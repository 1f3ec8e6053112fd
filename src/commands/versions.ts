import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { targetFlag } from '../cli/flags.js'
import { formatBytes, table } from '../deploy/plan.js'
import { listVersions, type VersionsResult } from '../deploy/versions.js'

export default class Versions extends BaseCommand {
  static override summary = 'List the versions deployed to a target, newest first, and which is active.'
  static override description =
    prose(`Each deploy creates a version (v1, v2, ...) on the target; one of them is active. Activate
another with \`centrali rollback\`.`)

  static override examples = [
    '<%= config.bin %> versions',
    '<%= config.bin %> versions --target staging',
    '<%= config.bin %> versions --json',
  ]

  static override flags = { target: targetFlag }

  async run(): Promise<VersionsResult> {
    const { flags } = await this.parse(Versions)
    const result = await listVersions({ ...this.context(flags), target: flags.target })
    const { output } = this
    if (result.versions.length === 0) {
      output.info(`Nothing has been deployed to ${result.target.name} (${result.target.url}) yet.`)
      return result
    }
    const rows = result.versions.map((version) => [
      version.id,
      formatTime(version.createdAt),
      formatBytes(version.size),
      version.functions.join(', '),
      version.id === result.active ? output.paint('green', 'active') : '',
    ])
    for (const line of table([['VERSION', 'CREATED (UTC)', 'SIZE', 'FUNCTIONS', ''], ...rows], '')) {
      output.result(line)
    }
    if (result.active === null) output.info(`No version is active on ${result.target.name}.`)
    return result
  }
}

function formatTime(iso: string): string {
  const time = new Date(iso)
  return Number.isNaN(time.getTime()) ? iso : time.toISOString().slice(0, 19).replace('T', ' ')
}
