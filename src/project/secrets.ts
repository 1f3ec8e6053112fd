import { statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { parseDotenv } from '../secrets/dotenv.js'
import { KEY_ENV, keyFilePath } from '../secrets/key.js'
import { SECRET_NAME_PATTERN } from '../secrets/names.js'
import { MIN_REDACTED_LENGTH } from '../secrets/redact.js'
import { SecretsStore, assertSecretName } from '../secrets/store.js'
import { UserError, describeSystemError } from '../shared/errors.js'
import { loadProject, type LoadOptions, type Project } from './load.js'
import { isSecretRef, secretReferences, type TriggerConfig } from './schema.js'
import { STATE_DIR } from '../shared/state-dir.js'

/** The project's secrets store lives in its git-ignored `.centrali/` folder (DESIGN §4). */
export const SECRETS_FILE = `${STATE_DIR}/secrets.json`

/** The command that sets a secret, as shown in hints and next steps. */
export function setSecretCommand(name: string): string {
  return `centrali secrets set ${name}`
}

export interface SecretsContext extends LoadOptions {
  env: NodeJS.ProcessEnv
}

export interface SecretUse {
  trigger: string
  param: string
}

export async function openProjectStore(
  context: SecretsContext,
): Promise<{ project: Project; store: SecretsStore }> {
  const project = await loadProject(context)
  const path = join(project.root, SECRETS_FILE)
  const store = await SecretsStore.open({
    path,
    displayPath: relative(context.cwd, path) || SECRETS_FILE,
    env: context.env,
  })
  return { project, store }
}

function usesOf(project: Project, name: string): SecretUse[] {
  return secretReferences(project.config)
    .filter((reference) => reference.secret === name)
    .map(({ trigger, param }) => ({ trigger, param }))
}

export interface SetSecretResult {
  name: string
  replaced: boolean
  usedBy: SecretUse[]
  warnings: string[]
}

export async function setSecret(
  context: SecretsContext & { name: string; value: string },
): Promise<SetSecretResult> {
  assertSecretName(context.name)
  if (context.value === '') {
    throw new UserError('SECRET_VALUE_EMPTY', `The value for ${context.name} is empty; nothing was stored.`, {
      hint: 'Pass the value with --value, on stdin, or at the prompt.',
    })
  }
  const { project, store } = await openProjectStore(context)
  const replaced = await store.set(context.name, context.value)
  await store.save()
  const usedBy = usesOf(project, context.name)
  const warnings = [
    ...(store.keyWarning ? [store.keyWarning] : []),
    ...tooShortToRedact([context.name], new Map([[context.name, context.value]])),
    ...(usedBy.length === 0
      ? [
          `No trigger refers to ${context.name} yet: use { "secret": "${context.name}" } in a trigger's params.`,
        ]
      : []),
  ]
  return { name: context.name, replaced, usedBy, warnings }
}

/** A warning for each value too short for redaction to tell it from other text. */
function tooShortToRedact(names: readonly string[], values: ReadonlyMap<string, string>): string[] {
  return names
    .filter((name) => (values.get(name) ?? '').length < MIN_REDACTED_LENGTH)
    .map(
      (name) =>
        `${name} is shorter than ${MIN_REDACTED_LENGTH} characters: too short to tell from other text, it is not redacted from results and logs.`,
    )
}

export interface ListSecretsResult {
  secrets: { name: string; updatedAt: string; usedBy: SecretUse[] }[]
  /** Secrets that triggers refer to but the store does not hold. */
  missing: { name: string; usedBy: SecretUse[]; command: string }[]
}

export async function listSecrets(context: SecretsContext): Promise<ListSecretsResult> {
  const { project, store } = await openProjectStore(context)
  const referenced = [
    ...new Set(secretReferences(project.config).map((reference) => reference.secret)),
  ].sort()
  return {
    secrets: store.list().map((secret) => ({ ...secret, usedBy: usesOf(project, secret.name) })),
    missing: referenced
      .filter((name) => !store.has(name))
      .map((name) => ({ name, usedBy: usesOf(project, name), command: setSecretCommand(name) })),
  }
}

export async function removeSecret(
  context: SecretsContext & { name: string },
): Promise<{ name: string; usedBy: SecretUse[] }> {
  const { project, store } = await openProjectStore(context)
  if (!store.remove(context.name)) {
    const names = store.list().map((secret) => secret.name)
    throw new UserError('SECRET_NOT_FOUND', `There is no secret named ${context.name}.`, {
      hint: names.length === 0 ? 'The store is empty.' : `Stored: ${names.join(', ')}.`,
    })
  }
  await store.save()
  return { name: context.name, usedBy: usesOf(project, context.name) }
}

export interface ImportSecretsResult {
  imported: { name: string; replaced: boolean }[]
  warnings: string[]
}

export async function importSecrets(
  context: SecretsContext & { file: string },
): Promise<ImportSecretsResult> {
  const path = resolve(context.cwd, context.file)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw describeSystemError(error, `read ${context.file}`) ?? error
  }
  const { entries, problems } = parseDotenv(text)
  const allProblems = [
    ...problems,
    ...entries.flatMap((entry) => {
      if (!SECRET_NAME_PATTERN.test(entry.name)) {
        // The "name" of a bad line may be a pasted value: never echo it.
        return [{ line: entry.line, message: 'not a valid secret name (capital letters, digits and "_")' }]
      }
      return entry.value === '' ? [{ line: entry.line, message: `${entry.name} has an empty value` }] : []
    }),
  ].sort((a, b) => a.line - b.line)
  if (allProblems.length > 0) {
    throw new UserError(
      'DOTENV_INVALID',
      `${context.file} has ${allProblems.length === 1 ? 'a problem' : `${allProblems.length} problems`}; nothing was imported:\n  ${allProblems
        .map((problem) => `${context.file}:${problem.line}: ${problem.message}`)
        .join('\n  ')}`,
      { hint: 'Fix the lines above; each line is NAME=value.' },
    )
  }
  if (entries.length === 0) {
    throw new UserError('DOTENV_EMPTY', `${context.file} holds no NAME=value lines; nothing was imported.`)
  }
  const { project, store } = await openProjectStore(context)
  const imported: { name: string; replaced: boolean }[] = []
  // A name repeated in the file keeps its last value, as dotenv loaders do.
  const last = new Map(entries.map((entry) => [entry.name, entry.value]))
  for (const [name, value] of last) imported.push({ name, replaced: await store.set(name, value) })
  await store.save()
  const referenced = new Set(secretReferences(project.config).map((reference) => reference.secret))
  const unused = imported.filter(({ name }) => !referenced.has(name)).map(({ name }) => name)
  return {
    imported,
    warnings: [
      ...(store.keyWarning ? [store.keyWarning] : []),
      ...tooShortToRedact([...last.keys()], last),
      ...(unused.length > 0 ? [`No trigger refers to ${unused.join(', ')} yet.`] : []),
    ],
  }
}

export interface ResolvedParams {
  values: Record<string, string | number | boolean | null>
  /** Secret name → value, for redaction. */
  secrets: Map<string, string>
}

export interface ResolveParamsOptions {
  root: string
  cwd: string
  env: NodeJS.ProcessEnv
  triggerName: string
  trigger: TriggerConfig
}

/**
 * A trigger's params as its invocation gets them: static values as written, secret references
 * decrypted from the project's store (opened now, so a secret set a moment ago is used).
 */
export async function resolveTriggerParams(options: ResolveParamsOptions): Promise<ResolvedParams> {
  const values: ResolvedParams['values'] = {}
  const secrets = new Map<string, string>()
  let store: SecretsStore | undefined
  for (const [param, value] of Object.entries(options.trigger.params ?? {})) {
    if (!isSecretRef(value)) {
      values[param] = value
      continue
    }
    const path = join(options.root, SECRETS_FILE)
    store ??= await SecretsStore.open({
      path,
      displayPath: relative(options.cwd, path) || SECRETS_FILE,
      env: options.env,
    })
    const secret = await store.get(value.secret)
    if (secret === undefined) {
      throw new UserError(
        'SECRET_MISSING',
        `Trigger ${options.triggerName} needs the secret ${value.secret} (param "${param}"), which is not set.`,
        { hint: `Set it with \`${setSecretCommand(value.secret)}\`.` },
      )
    }
    values[param] = secret
    secrets.set(value.secret, secret)
  }
  return { values, secrets }
}

/**
 * resolveTriggerParams for a server that invokes many times (`dev`): each trigger's answer is used
 * again while its config is the same object and the secrets store and key file are the same files
 * (device, inode, size, change times; the store is replaced by a rename on every write). The check
 * is a synchronous stat, where resolving reads and decrypts the store through the thread pool on
 * every request; a secret set a moment ago is still used by the very next request.
 */
export function createTriggerParamsResolver(): (options: ResolveParamsOptions) => Promise<ResolvedParams> {
  const resolved = new Map<
    string,
    { trigger: TriggerConfig; files: string; params: Promise<ResolvedParams> }
  >()
  return (options) => {
    const files = Object.values(options.trigger.params ?? {}).some(isSecretRef)
      ? `${fileIdentity(join(options.root, SECRETS_FILE))} ${
          options.env[KEY_ENV]?.trim() ? 'env' : fileIdentity(keyFilePath(options.env))
        }`
      : ''
    const cached = resolved.get(options.triggerName)
    if (cached?.trigger === options.trigger && cached.files === files) return cached.params
    const params = resolveTriggerParams(options)
    resolved.set(options.triggerName, { trigger: options.trigger, files, params })
    // A failure (a missing secret, an unreadable store) is not kept: the next request tries again.
    params.catch(() => {
      if (resolved.get(options.triggerName)?.params === params) resolved.delete(options.triggerName)
    })
    return params
  }
}

function fileIdentity(path: string): string {
  const info = statSync(path, { bigint: true, throwIfNoEntry: false })
  return info === undefined ? 'none' : `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`
}
