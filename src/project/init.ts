import { mkdir, readdir, readFile } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { endpointCurl } from '../shared/curl.js'
import { UserError } from '../shared/errors.js'
import { CONFIG_FILE } from './load.js'
import { nameProblem, normalizeDomains, requireTemplate, scaffoldFunction } from './scaffold.js'
import { writeProjectConfig } from './edit.js'
import { DEFAULT_TEMPLATE, PROJECT_FILES_DIR, renderPlaceholders } from './templates.js'
import { SCHEMA_FILE, installSchema } from './schema-file.js'
import { setSecretCommand } from './secrets.js'
import { STATE_DIR } from '../shared/state-dir.js'

export interface InitOptions {
  cwd: string
  /** Folder to create the project in, relative to cwd; default: a folder named after the project. */
  directory?: string
  /** Default: my-proxy. */
  projectName?: string
  /** Default: generic. */
  template?: string
  /** Default: the template's. */
  functionName?: string
  /** Default: the template's. */
  triggerName?: string
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
  /** Files that were there already and were kept (with --force). */
  kept: string[]
  secrets: { name: string; description: string; command: string }[]
  notes: string[]
  nextSteps: string[]
}

export const DEV_PORT = 8787
export const DEFAULT_PROJECT_NAME = 'my-proxy'

/** Project files a user may have written themselves: with --force they are kept, not replaced. */
const KEPT_IF_PRESENT = new Set(['README.md', 'tsconfig.json'])
const GITIGNORE_LINE = `${STATE_DIR}/`

export async function initProject(options: InitOptions): Promise<InitResult> {
  const projectName = options.projectName ?? DEFAULT_PROJECT_NAME
  const problem = nameProblem('project', projectName)
  if (problem) throw new UserError('NAME_INVALID', problem)
  const root = resolve(options.cwd, projectFolder(options))
  const shownRoot = relative(options.cwd, root) || '.'
  const template = await requireTemplate(options.template ?? DEFAULT_TEMPLATE)
  const scaffold = scaffoldFunction(template, {
    projectName,
    functionName: options.functionName ?? template.function,
    triggerName: options.triggerName ?? template.trigger,
  })
  const { domains: extra, notes } = await normalizeDomains(options.extraDomains)
  const domains = [...new Set([...scaffold.domains, ...extra])]

  const existing = await listFolder(root)
  if (existing.length > 0 && !options.force) {
    throw new UserError(
      'DIRECTORY_NOT_EMPTY',
      `${shownRoot} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}).`,
      {
        hint: 'Pick a new folder, or pass --force to write the project files into this one (an existing .gitignore gets a line added; README.md and tsconfig.json are kept; other files with the same names are replaced).',
      },
    )
  }

  const config = {
    $schema: SCHEMA_FILE,
    functions: { [scaffold.functionName]: { entry: scaffold.entry } },
    triggers: { [scaffold.triggerName]: scaffold.trigger },
    domains,
    targets: { default: { type: 'runtime', url: 'http://127.0.0.1:8788' } },
  }
  const examplePayload = JSON.stringify({ payload: template.examplePayload })
  const secretSteps = scaffold.secrets
    .map(
      (secret, index) =>
        `${index === 0 ? '1.' : '  '} Set ${secret.description}: \`${setSecretCommand(secret.name)}\``,
    )
    .join('\n')
  const placeholders = {
    projectName,
    functionName: scaffold.functionName,
    triggerName: scaffold.triggerName,
    examplePayload,
    secretSteps: secretSteps === '' ? '1. Nothing to set: this template needs no secret.' : secretSteps,
  }

  const files: string[] = []
  const kept: string[] = []
  const present = new Set(existing)
  const write = async (path: string, content: string) => {
    if (KEPT_IF_PRESENT.has(path) && present.has(path)) {
      kept.push(path)
      return
    }
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
    const content = await readFile(source, 'utf8')
    if (target === '.gitignore' && present.has(target)) {
      // Never replace a user's .gitignore: it may be what keeps their .env out of git.
      const current = await readFile(join(root, target), 'utf8')
      if (
        current.split(/\r?\n/).some((line) => line.trim() === GITIGNORE_LINE || line.trim() === STATE_DIR)
      ) {
        kept.push(target)
      } else {
        await writeFileAtomic(
          join(root, target),
          `${current}${current.endsWith('\n') || current === '' ? '' : '\n'}${GITIGNORE_LINE}\n`,
        )
        files.push(target)
      }
    } else await write(target, file.endsWith('.md') ? renderPlaceholders(content, placeholders) : content)
  }
  await installSchema(root)
  files.push(SCHEMA_FILE)

  const cd =
    shownRoot === '.' ? [] : [`cd ${shownRoot.includes(' ') ? JSON.stringify(shownRoot) : shownRoot}`]
  const secrets = scaffold.secrets.map((secret) => ({ ...secret, command: setSecretCommand(secret.name) }))
  return {
    directory: root,
    projectName,
    template: template.name,
    function: scaffold.functionName,
    trigger: scaffold.triggerName,
    domains,
    files,
    kept,
    secrets,
    notes,
    nextSteps: [
      ...cd,
      ...secrets.map((secret) => secret.command),
      'centrali dev',
      endpointCurl(`http://127.0.0.1:${DEV_PORT}`, scaffold.triggerName, template.examplePayload),
    ],
  }
}

/** Where the project goes: `directory`, else a folder named after the project (a plain name then). */
export function projectFolder(options: Pick<InitOptions, 'directory' | 'projectName'>): string {
  if (options.directory !== undefined) return options.directory
  const projectName = options.projectName ?? DEFAULT_PROJECT_NAME
  const name = projectName.trim()
  if (name === '.' || name === '..' || /[/\\:*?"<>|]/.test(name)) {
    throw new UserError(
      'NAME_INVALID',
      `The project name "${projectName}" cannot be used as a folder name.`,
      {
        hint: 'Give the folder as the [dir] argument, or pick a name without path characters.',
      },
    )
  }
  return name
}

/** True when the folder does not exist or has nothing in it. */
export async function isFolderEmpty(path: string): Promise<boolean> {
  return (await listFolder(path)).length === 0
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
