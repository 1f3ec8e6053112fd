import { mkdir, readdir, readFile, copyFile } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { UserError } from '../shared/errors.js'
import { CONFIG_FILE } from './load.js'
import { nameProblem, normalizeDomains, requireTemplate, scaffoldFunction } from './scaffold.js'
import { writeProjectConfig } from './edit.js'
import { PROJECT_FILES_DIR, renderPlaceholders } from './templates.js'
import { SCHEMA_FILE, SCHEMA_REF, installSchema } from './schema-file.js'

export interface InitOptions {
  cwd: string
  /** Folder to create the project in, relative to cwd. */
  directory: string
  projectName: string
  template: string
  functionName: string
  triggerName: string
  /** Domains beyond the template's own. */
  extraDomains: readonly string[]
  force: boolean
}

export interface InitResult {
  directory: string
  projectName: string
  template: string
  function: string
  trigger: string
  domains: string[]
  files: string[]
  secrets: { name: string; description: string; command: string }[]
  notes: string[]
  nextSteps: string[]
}

export const DEV_PORT = 8787

export async function initProject(options: InitOptions): Promise<InitResult> {
  const root = resolve(options.cwd, options.directory)
  const shownRoot = relative(options.cwd, root) || '.'
  const problem = nameProblem('project', options.projectName)
  if (problem) throw new UserError('NAME_INVALID', problem)
  const template = await requireTemplate(options.template)
  const scaffold = scaffoldFunction(template, options)
  const { domains: extra, notes } = await normalizeDomains(options.extraDomains)
  const domains = [...new Set([...scaffold.domains, ...extra])]

  const existing = await listFolder(root)
  if (existing.length > 0 && !options.force) {
    throw new UserError(
      'DIRECTORY_NOT_EMPTY',
      `${shownRoot} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}).`,
      {
        hint: 'Pick a new folder, or pass --force to write the project files into this one (files with the same names are replaced).',
      },
    )
  }

  const config = {
    $schema: SCHEMA_REF,
    functions: { [scaffold.functionName]: { entry: scaffold.entry } },
    triggers: { [scaffold.triggerName]: scaffold.trigger },
    domains,
    targets: { default: { type: 'runtime', url: 'http://127.0.0.1:8788' } },
  }
  const examplePayload = JSON.stringify({ payload: template.examplePayload })
  const secretSteps = scaffold.secrets
    .map(
      (secret, index) =>
        `${index === 0 ? '1' : '   '}. Set ${secret.description}: \`centrali secrets set ${secret.name}\``,
    )
    .join('\n')
  const placeholders = {
    projectName: options.projectName,
    functionName: scaffold.functionName,
    triggerName: scaffold.triggerName,
    examplePayload,
    secretSteps: secretSteps === '' ? '1. Nothing to set: this template needs no secret.' : secretSteps,
  }

  const files: string[] = []
  const write = async (path: string, content: string) => {
    const target = join(root, path)
    await mkdir(dirname(target), { recursive: true })
    await writeFileAtomic(target, content)
    files.push(path)
  }
  await mkdir(root, { recursive: true })
  const configText = `${JSON.stringify(config, null, 2)}\n`
  await writeProjectConfig(join(root, CONFIG_FILE), configText, join(shownRoot, CONFIG_FILE))
  files.push(CONFIG_FILE)
  await write(scaffold.entry, scaffold.source)
  for (const file of await readdir(PROJECT_FILES_DIR)) {
    const source = join(PROJECT_FILES_DIR, file)
    // npm drops files named .gitignore from packages, so the template stores it as _gitignore.
    const target = file === '_gitignore' ? '.gitignore' : file
    if (file.endsWith('.md'))
      await write(target, renderPlaceholders(await readFile(source, 'utf8'), placeholders))
    else {
      await copyFile(source, join(root, target))
      files.push(target)
    }
  }
  await installSchema(root)
  files.push(SCHEMA_FILE)

  const cd =
    shownRoot === '.' ? [] : [`cd ${shownRoot.includes(' ') ? JSON.stringify(shownRoot) : shownRoot}`]
  const secrets = scaffold.secrets.map((secret) => ({
    ...secret,
    command: `centrali secrets set ${secret.name}`,
  }))
  return {
    directory: root,
    projectName: options.projectName,
    template: template.name,
    function: scaffold.functionName,
    trigger: scaffold.triggerName,
    domains,
    files,
    secrets,
    notes,
    nextSteps: [
      ...cd,
      ...secrets.map((secret) => secret.command),
      'centrali dev',
      `curl -s http://127.0.0.1:${DEV_PORT}/endpoints/${scaffold.triggerName} -H 'content-type: application/json' -d '${examplePayload}'`,
    ],
  }
}

async function listFolder(path: string): Promise<string[]> {
  try {
    return await readdir(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new UserError('NOT_A_DIRECTORY', `${basename(path)} exists and is not a folder.`)
    }
    throw error
  }
}
