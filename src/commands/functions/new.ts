import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../../cli/base-command.js'
import { askTemplate, isInteractive, missingAnswersError } from '../../cli/prompts.js'
import { addFunction, type AddFunctionResult } from '../../project/functions.js'
import { BUILTIN_TEMPLATES } from '../../project/templates.js'

export default class FunctionsNew extends BaseCommand {
  static override summary = 'Add a function and its endpoint trigger to the project.'
  static override description =
    'Writes functions/<name>.ts from a provider template and adds the function, its endpoint trigger and the domains it needs to centrali.json (comments and formatting kept).'

  static override examples = [
    '<%= config.bin %> functions new chat --template openai',
    '<%= config.bin %> functions new checkout --template stripe --trigger create-checkout',
  ]

  static override args = {
    name: Args.string({ description: 'Function name.', required: true }),
  }

  static override flags = {
    template: Flags.string({ char: 't', description: 'Provider template.', options: [...BUILTIN_TEMPLATES] }),
    trigger: Flags.string({ description: 'Endpoint trigger name (default: the function name).' }),
  }

  async run(): Promise<AddFunctionResult> {
    const { args, flags } = await this.parse(FunctionsNew)
    let template = flags.template
    if (template === undefined) {
      if (!isInteractive()) throw missingAnswersError([`--template <${BUILTIN_TEMPLATES.join('|')}>`])
      template = await askTemplate()
    }
    const result = await addFunction({
      ...this.context(flags),
      name: args.name,
      template,
      ...(flags.trigger === undefined ? {} : { trigger: flags.trigger }),
    })
    const { output } = this
    output.success(
      `Added function ${result.function} (${result.file}) with endpoint trigger ${result.trigger}`,
    )
    if (result.domainsAdded.length > 0)
      output.result(`Allowed domains added: ${result.domainsAdded.join(', ')}`)
    for (const secret of result.secrets) output.result(`Set ${secret.description}: ${secret.command}`)
    output.result(`Try it: centrali invoke ${result.trigger}   (sends its examplePayload from centrali.json)`)
    return result
  }
}
