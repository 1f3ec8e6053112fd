import { basename, resolve } from 'node:path'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../cli/base-command.js'
import { ask, isInteractive, missingAnswersError } from '../cli/prompts.js'
import { initProject, type InitResult } from '../project/init.js'
import { nameProblem, normalizeDomains, requireTemplate } from '../project/scaffold.js'
import { BUILTIN_TEMPLATES, DEFAULT_TEMPLATE, loadAllTemplates } from '../project/templates.js'

export default class Init extends BaseCommand {
  static override summary = 'Create a project from a provider template.'
  static override description = `Writes centrali.json, one function with its endpoint trigger, the types your editor needs
(centrali-env.d.ts, tsconfig.json, the centrali.json JSON Schema), .gitignore and a README.
Asks for what is missing on a terminal; elsewhere pass the flags, or --yes for the defaults.`

  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init my-app --template openai --yes',
    '<%= config.bin %> init billing --template stripe --name billing --function checkout --trigger create-checkout',
    '<%= config.bin %> init api --template generic --domain api.partner.io --yes',
  ]

  static override args = {
    dir: Args.string({
      description: 'Folder for the project (created if needed; default: the project name).',
    }),
  }

  static override flags = {
    template: Flags.string({ char: 't', description: 'Provider template.', options: BUILTIN_TEMPLATES }),
    name: Flags.string({ char: 'n', description: 'Project name (default: the folder name).' }),
    function: Flags.string({ description: "Function name (default: the template's)." }),
    trigger: Flags.string({ description: "Endpoint trigger name (default: the template's)." }),
    domain: Flags.string({ description: 'Extra allowed domain (repeatable).', multiple: true }),
    yes: Flags.boolean({ char: 'y', description: 'Take the default for every question.' }),
    force: Flags.boolean({ description: 'Write into a folder that is not empty.' }),
  }

  async run(): Promise<InitResult> {
    const { args, flags } = await this.parse(Init)
    const { cwd } = this.context(flags)
    const interactive = isInteractive() && !flags.yes

    if (!interactive && !flags.yes) {
      const missing = [
        ...(flags.template === undefined ? [`--template <${BUILTIN_TEMPLATES.join('|')}>`] : []),
        ...(flags.name === undefined && args.dir === undefined
          ? ['--name <name> (or a [dir] argument)']
          : []),
      ]
      if (missing.length > 0) throw missingAnswersError(missing, 'Or pass --yes to take the defaults.')
    }

    let name = flags.name ?? (args.dir === undefined ? undefined : basename(resolve(cwd, args.dir)))
    let templateName = flags.template
    let functionName = flags.function
    let triggerName = flags.trigger
    let extraDomains = flags.domain ?? []
    let force = flags.force

    if (interactive) {
      const templates = await loadAllTemplates()
      name ??= await ask((p, context) =>
        p.input(
          {
            message: 'Project name',
            default: 'my-proxy',
            validate: (value) => nameProblem('project', value) ?? true,
          },
          context,
        ),
      )
      templateName ??= await ask((p, context) =>
        p.select(
          {
            message: 'Template',
            choices: templates.map((template) => ({
              value: template.name,
              name: `${template.name}: ${template.description}`,
            })),
          },
          context,
        ),
      )
      const template = await requireTemplate(templateName)
      functionName ??= await ask((p, context) =>
        p.input(
          {
            message: 'Function name',
            default: template.function,
            validate: (value) => nameProblem('function', value) ?? true,
          },
          context,
        ),
      )
      triggerName ??= await ask((p, context) =>
        p.input(
          {
            message: 'Endpoint trigger name',
            default: template.trigger,
            validate: (value) => nameProblem('trigger', value) ?? true,
          },
          context,
        ),
      )
      if (flags.domain === undefined) {
        const answer = await ask((p, context) =>
          p.input(
            {
              message: `Extra allowed domains besides ${template.domains.join(', ')} (comma-separated, empty for none)`,
              validate: async (value) => (await domainsProblem(value)) ?? true,
            },
            context,
          ),
        )
        extraDomains = splitList(answer)
      }
    }

    templateName ??= DEFAULT_TEMPLATE
    const template = await requireTemplate(templateName)
    name ??= 'my-proxy'
    const directory = args.dir ?? name
    if (interactive && !force && (await folderHasFiles(resolve(cwd, directory)))) {
      force = await ask((p, context) =>
        p.confirm(
          { message: `${directory} is not empty. Write the project files into it anyway?`, default: false },
          context,
        ),
      )
    }

    const result = await initProject({
      cwd,
      directory,
      projectName: name,
      template: template.name,
      functionName: functionName ?? template.function,
      triggerName: triggerName ?? template.trigger,
      extraDomains,
      force,
    })
    this.render(result)
    return result
  }

  private render(result: InitResult): void {
    const { output } = this
    for (const note of result.notes) output.info(`  domain ${note}`)
    output.success(
      `Created ${result.projectName} from the ${result.template} template in ${result.directory}`,
    )
    for (const file of result.files) output.result(`  ${file}`)
    output.result()
    output.result(output.paint('bold', 'Next steps:'))
    for (const step of result.nextSteps) output.result(`  ${step}`)
  }
}

function splitList(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

async function domainsProblem(value: string): Promise<string | undefined> {
  try {
    await normalizeDomains(splitList(value))
    return undefined
  } catch (error) {
    return (error as Error).message
  }
}

async function folderHasFiles(path: string): Promise<boolean> {
  const { readdir } = await import('node:fs/promises')
  return (await readdir(path).catch(() => [])).length > 0
}
