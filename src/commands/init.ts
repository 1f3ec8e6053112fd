import { basename, resolve } from 'node:path'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../cli/base-command.js'
import { prose } from '../cli/help-text.js'
import { ask, askTemplate, isInteractive, missingAnswersError } from '../cli/prompts.js'
import {
  DEFAULT_PROJECT_NAME,
  initProject,
  isFolderEmpty,
  projectFolder,
  type InitResult,
} from '../project/init.js'
import { nameProblem, normalizeDomains, requireTemplate } from '../project/scaffold.js'
import { BUILTIN_TEMPLATES } from '../project/templates.js'

export default class Init extends BaseCommand {
  static override summary = 'Create a project from a provider template.'
  static override description =
    prose(`Writes centrali.json, one function with its endpoint trigger, the types your editor needs
(centrali-env.d.ts, tsconfig.json, the centrali.json JSON Schema), .gitignore and a README.
Asks for what is missing on a terminal; elsewhere pass the flags, or --yes for the defaults.`)

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
    template: Flags.string({
      char: 't',
      description: 'Provider template (default: generic).',
      options: [...BUILTIN_TEMPLATES],
    }),
    name: Flags.string({
      char: 'n',
      description: `Project name (default: the folder name, else ${DEFAULT_PROJECT_NAME}).`,
    }),
    function: Flags.string({ description: "Function name (default: the template's)." }),
    trigger: Flags.string({ description: "Endpoint trigger name (default: the template's)." }),
    domain: Flags.string({ description: 'Extra allowed domain (repeatable).', multiple: true }),
    yes: Flags.boolean({ char: 'y', description: 'Take the default for every question.' }),
    force: Flags.boolean({
      description:
        'Write into a folder that is not empty (a .gitignore gets a line added; README.md and tsconfig.json are kept).',
    }),
  }

  async run(): Promise<InitResult> {
    const { args, flags } = await this.parse(Init)
    const { cwd } = this.context(flags)
    const interactive = isInteractive() && !flags.yes
    const answers = {
      projectName: flags.name ?? (args.dir === undefined ? undefined : basename(resolve(cwd, args.dir))),
      template: flags.template,
      functionName: flags.function,
      triggerName: flags.trigger,
      extraDomains: flags.domain ?? [],
      force: flags.force,
    }

    if (!interactive && !flags.yes) {
      const missing = [
        ...(answers.template === undefined ? [`--template <${BUILTIN_TEMPLATES.join('|')}>`] : []),
        ...(answers.projectName === undefined ? ['--name <name> (or a [dir] argument)'] : []),
      ]
      if (missing.length > 0) throw missingAnswersError(missing, 'Or pass --yes to take the defaults.')
    }

    if (interactive) {
      answers.projectName ??= await ask((p, context) =>
        p.input(
          {
            message: 'Project name',
            default: DEFAULT_PROJECT_NAME,
            validate: (value) => nameProblem('project', value) ?? true,
          },
          context,
        ),
      )
      answers.template ??= await askTemplate()
      const template = await requireTemplate(answers.template)
      answers.functionName ??= await ask((p, context) =>
        p.input(
          {
            message: 'Function name',
            default: template.function,
            validate: (value) => nameProblem('function', value) ?? true,
          },
          context,
        ),
      )
      answers.triggerName ??= await ask((p, context) =>
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
        answers.extraDomains = splitList(answer)
      }
      const folder = projectFolder({ directory: args.dir, projectName: answers.projectName })
      if (!answers.force && !(await isFolderEmpty(resolve(cwd, folder)))) {
        answers.force = await ask((p, context) =>
          p.confirm(
            { message: `${folder} is not empty. Write the project files into it anyway?`, default: false },
            context,
          ),
        )
      }
    }

    const result = await initProject({ cwd, directory: args.dir, ...answers })
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
    for (const file of result.kept) output.result(`  ${file} (kept yours)`)
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
