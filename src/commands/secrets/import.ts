import * as Args from '@oclif/core/args'
import { BaseCommand } from '../../cli/base-command.js'
import { importSecrets, type ImportSecretsResult } from '../../project/secrets.js'

export default class SecretsImport extends BaseCommand {
  static override summary = 'Store every NAME=value of a dotenv file as an encrypted secret.'
  static override description =
    'All or nothing: a file with a bad line imports nothing. Values are never printed. Delete the plain-text file afterwards.'

  static override examples = ['<%= config.bin %> secrets import .env.local']

  static override args = {
    file: Args.string({ description: 'dotenv file.', required: true }),
  }

  async run(): Promise<ImportSecretsResult> {
    const { args, flags } = await this.parse(SecretsImport)
    const result = await importSecrets({ ...this.context(flags), file: args.file })
    this.warnAll(result.warnings)
    this.output.success(`Imported ${result.imported.length} secret${result.imported.length === 1 ? '' : 's'}`)
    for (const secret of result.imported)
      this.output.result(`  ${secret.name}${secret.replaced ? ' (replaced)' : ''}`)
    return result
  }
}
