import { isIP } from 'node:net'
import type { ProjectConfig } from '../project/schema.js'
import { UsageError, UserError } from '../shared/errors.js'

/** Where a deploy goes (DESIGN §8): a `centrali serve` runtime, reached with a token from the env. */
export const DEFAULT_TOKEN_ENV = 'CENTRALI_TOKEN'

export interface RuntimeTarget {
  name: string
  /** The target's URL without a trailing slash: API paths and endpoint URLs are appended to it. */
  url: string
  /** The environment variable the token came from, named in hints. */
  tokenEnv: string
  token: string
}

/** What a result shows of a target: never the token. */
export interface TargetSummary {
  name: string
  url: string
}

export function summarizeTarget(target: RuntimeTarget): TargetSummary {
  return { name: target.name, url: target.url }
}

/** A target as centrali.json declares it, with its name. */
export type SelectedTarget = { name: string; config: NonNullable<ProjectConfig['targets']>[string] }

/** `--target NAME`; without it the target named "default", else the only one. */
export function selectTarget(config: ProjectConfig, requested: string | undefined): SelectedTarget {
  const targets = config.targets ?? {}
  const names = Object.keys(targets)
  if (names.length === 0) {
    throw new UserError('NO_TARGETS', 'centrali.json has no deploy targets.', {
      hint: 'Add one: "targets": { "default": { "type": "runtime", "url": "https://runtime.example.com" } }',
    })
  }
  const name =
    requested ?? (Object.hasOwn(targets, 'default') ? 'default' : names.length === 1 ? names[0] : undefined)
  if (name === undefined) {
    throw new UsageError(
      'TARGET_REQUIRED',
      `centrali.json has several targets and none is named "default".`,
      {
        hint: `Pass --target with one of: ${names.join(', ')}.`,
      },
    )
  }
  const target = Object.hasOwn(targets, name) ? targets[name] : undefined
  if (target === undefined) {
    throw new UsageError('TARGET_NOT_FOUND', `There is no target named "${name}" in centrali.json.`, {
      hint: `Targets: ${names.join(', ')}.`,
    })
  }
  return { name, config: target }
}

/**
 * A `runtime` target (`centrali serve`); the URL must keep the token private (https, or plain http
 * on loopback). Versions, rollback and secrets push only exist on runtime targets.
 */
export function resolveRuntimeTarget(
  config: ProjectConfig,
  requested: string | undefined,
  env: NodeJS.ProcessEnv,
): RuntimeTarget {
  const { name, config: target } = selectTarget(config, requested)
  if (target.type !== 'runtime') {
    throw new UserError(
      'TARGET_UNSUPPORTED',
      `Target "${name}" is of type "${target.type}", which this command does not support.`,
      {
        hint: 'A cloudflare target has no versions here: `centrali deploy` sends its code and secrets with wrangler, and rollback is `wrangler rollback`.',
      },
    )
  }
  const url = new URL(target.url)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(
      'TARGET_URL_INVALID',
      `Target "${name}" has the URL ${target.url}, which is not http(s).`,
      {
        hint: `Set targets.${name}.url to the https:// URL of the runtime.`,
      },
    )
  }
  if (url.username !== '' || url.password !== '') {
    throw new UserError('TARGET_URL_INVALID', `Target "${name}" has a user name or password in its URL.`, {
      hint: `Remove it from targets.${name}.url: the deploy token goes in an environment variable.`,
    })
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new UserError(
      'TARGET_URL_INSECURE',
      `Target "${name}" uses plain http:// to ${url.host}: the deploy token and secrets would cross the network unencrypted.`,
      { hint: `Use https:// in targets.${name}.url (plain http is only for 127.0.0.1, ::1 and localhost).` },
    )
  }
  const tokenEnv = target.tokenEnv ?? DEFAULT_TOKEN_ENV
  const token = env[tokenEnv]?.trim()
  if (token === undefined || token === '') {
    throw new UserError(
      'DEPLOY_TOKEN_MISSING',
      `No deploy token: the environment variable ${tokenEnv} is not set.`,
      {
        hint: `Set ${tokenEnv} to the admin token of the runtime at ${url.origin}, which \`centrali serve\` prints once, on its first start${target.tokenEnv === undefined ? ` (or name another variable in targets.${name}.tokenEnv)` : ''}.`,
      },
    )
  }
  // Only printable ASCII goes in a header; the token is never echoed, not even in this refusal.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new UserError(
      'DEPLOY_TOKEN_INVALID',
      `The deploy token in ${tokenEnv} has characters a token cannot have (spaces, line breaks, control or non-ASCII characters); it was not sent.`,
      { hint: `Set ${tokenEnv} to the token exactly as the runtime printed it, on one line.` },
    )
  }
  return { name, url: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, tokenEnv, token }
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1')
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}

/** Where a trigger is served on a target (the HTTP contract, DESIGN §6). */
export function endpointUrl(target: TargetSummary, trigger: string): string {
  return `${target.url}/endpoints/${encodeURIComponent(trigger)}`
}
