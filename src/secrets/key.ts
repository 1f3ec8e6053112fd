import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { UserError } from '../shared/errors.js'
import { KEY_BYTES } from './envelope.js'

export const KEY_ENV = 'CENTRALI_SECRETS_KEY'

export interface SecretsKey {
  key: Buffer
  /** Where it came from, for messages: the variable name or the file path. Never the key. */
  source: string
  /** A warning about the key file, such as a mode that lets others read it. */
  warning?: string
}

export interface KeyOptions {
  env: NodeJS.ProcessEnv
  /** Create the key file when there is none (only when something is about to be encrypted). */
  create: boolean
}

/** `$XDG_CONFIG_HOME/centrali/secrets.key`, else `~/.config/centrali/secrets.key`. Never in a project. */
export function keyFilePath(env: NodeJS.ProcessEnv): string {
  const configHome =
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(homedir(), '.config')
  return join(configHome, 'centrali', 'secrets.key')
}

export async function resolveSecretsKey(options: KeyOptions): Promise<SecretsKey | undefined> {
  const fromEnv = options.env[KEY_ENV]?.trim()
  if (fromEnv !== undefined && fromEnv !== '') {
    return { key: decodeKey(fromEnv, KEY_ENV), source: KEY_ENV }
  }
  const path = keyFilePath(options.env)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    if (!options.create) return undefined
    return { key: await createKeyFile(path), source: path }
  }
  const mode = (await stat(path)).mode & 0o777
  const warning =
    (mode & 0o077) !== 0
      ? `The secrets key file ${path} can be read by other users (mode ${mode.toString(8)}); run \`chmod 600 ${path}\`.`
      : undefined
  return { key: decodeKey(text.trim(), path), source: path, ...(warning ? { warning } : {}) }
}

function decodeKey(text: string, source: string): Buffer {
  const key = Buffer.from(text, 'base64')
  // Round-trip check: Buffer.from silently skips characters that are not base64.
  if (key.length !== KEY_BYTES || key.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
    throw new UserError(
      'SECRETS_KEY_INVALID',
      `The secrets key in ${source} is not ${KEY_BYTES} bytes of base64.`,
      {
        hint: `Generate one with \`node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"\`.`,
      },
    )
  }
  return key
}

async function createKeyFile(path: string): Promise<Buffer> {
  const folder = join(path, '..')
  await mkdir(folder, { recursive: true, mode: 0o700 })
  const key = randomBytes(KEY_BYTES)
  try {
    // 'wx': never replace a key another process created meanwhile; losing a key loses every secret.
    await writeFile(path, `${key.toString('base64')}\n`, { flag: 'wx', mode: 0o600 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      return decodeKey((await readFile(path, 'utf8')).trim(), path)
    throw error
  }
  await chmod(path, 0o600)
  return key
}
