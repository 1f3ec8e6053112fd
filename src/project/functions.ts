import { mkdir, unlink, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { UserError } from '../shared/errors.js'
import { applyJsonEdits, writeProjectConfig, type JsonEdit } from './edit.js'
import { displayPath, loadProject, type LoadOptions } from './load.js'
import { setSecretCommand } from './secrets.js'
import { requireTemplate, scaffoldFunction } from './scaffold.js'

export interface AddFunctionOptions extends LoadOptions {
  name: string
  template: string
  /** Trigger name; defaults to the function name. */
  trigger?: string
}

export interface AddFunctionResult {
  function: string
  trigger: string
  file: string
  domainsAdded: string[]
  secrets: { name: string; description: string; command: string }[]
}

export async function addFunction(options: AddFunctionOptions): Promise<AddFunctionResult> {
  const project = await loadProject(options)
  const template = await requireTemplate(options.template)
  const triggerName = options.trigger ?? options.name
  const scaffold = scaffoldFunction(template, {
    functionName: options.name,
    triggerName,
    projectName: '',
  })
  const { config } = project
  if (options.name in config.functions) {
    throw new UserError('FUNCTION_EXISTS', `The project already has a function named "${options.name}".`, {
      hint: 'Pick another name.',
    })
  }
  if (triggerName in config.triggers) {
    throw new UserError('TRIGGER_EXISTS', `The project already has a trigger named "${triggerName}".`, {
      hint: 'Name the new trigger with --trigger.',
    })
  }
  const file = join(project.root, scaffold.entry)
  const domainsAdded = scaffold.domains.filter((domain) => !config.domains.includes(domain))
  const edits: JsonEdit[] = [
    { path: ['functions', scaffold.functionName], value: { entry: scaffold.entry } },
    { path: ['triggers', scaffold.triggerName], value: scaffold.trigger },
    ...domainsAdded.map((domain): JsonEdit => ({ append: 'domains', value: domain })),
  ]
  const text = applyJsonEdits(project.text, edits)
  await mkdir(dirname(file), { recursive: true })
  try {
    // 'wx': an existing file is never overwritten.
    await writeFile(file, scaffold.source, { flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UserError('FILE_EXISTS', `${relative(options.cwd, file)} already exists.`, {
        hint: 'Pick another function name, or move the file away first.',
      })
    }
    throw error
  }
  try {
    await writeProjectConfig(project.configPath, text, displayPath(options.cwd, project.configPath))
  } catch (error) {
    // Leave nothing half-added: the new file goes if the config could not take the function.
    await unlink(file).catch(() => undefined)
    throw error
  }
  return {
    function: scaffold.functionName,
    trigger: scaffold.triggerName,
    file: relative(options.cwd, file),
    domainsAdded,
    secrets: scaffold.secrets.map((secret) => ({
      ...secret,
      command: setSecretCommand(secret.name),
    })),
  }
}
