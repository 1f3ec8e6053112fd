import { openProjectStore, setSecretCommand } from '../project/secrets.js'
import { secretReferences } from '../project/schema.js'
import { SECRET_NAME_PATTERN } from '../secrets/names.js'
import type { SecretsStore } from '../secrets/store.js'
import { UserError } from '../shared/errors.js'
import { createRuntimeClient, type RuntimeClient } from './api-client.js'
import type { DeployDeps, TargetOptions } from './deploy.js'
import { resolveRuntimeTarget, summarizeTarget, type TargetSummary } from './target.js'

export interface SecretsPushOptions extends TargetOptions {
  /** The secrets to send; empty: every secret the triggers refer to that is set locally. */
  names: readonly string[]
}

export interface SecretsPushPlan {
  target: TargetSummary
  /** Names to send, with when the target last got a value for each (null: it has none). */
  secrets: { name: string; onTargetSince: string | null }[]
  /** Secrets the triggers refer to that the local store does not hold (only without names). */
  notSetLocally: string[]
  store: SecretsStore
  client: RuntimeClient
}

export interface SecretsPushResult {
  target: TargetSummary
  pushed: { name: string; replaced: boolean; updatedAt: string }[]
  notSetLocally: string[]
}

/** Works out what `secrets push` sends; reads no value yet. */
export async function planSecretsPush(
  options: SecretsPushOptions,
  deps: Pick<DeployDeps, 'fetch'> = {},
): Promise<SecretsPushPlan> {
  // An argument that is not a name may be a value typed in the wrong place: never echo it.
  const badIndex = options.names.findIndex((name) => !SECRET_NAME_PATTERN.test(name))
  if (badIndex !== -1) {
    throw new UserError(
      'SECRET_NAME_INVALID',
      `Argument ${badIndex + 1} is not a secret name (capital letters, digits and "_"); nothing was sent.`,
      { hint: 'secrets push takes names only; values come from the local store (`centrali secrets set`).' },
    )
  }
  const { project, store } = await openProjectStore(options)
  const target = resolveRuntimeTarget(project.config, options.target, options.env)

  let names: string[]
  let notSetLocally: string[] = []
  if (options.names.length > 0) {
    names = [...new Set(options.names)]
    const unset = names.filter((name) => !store.has(name))
    if (unset.length > 0) {
      throw new UserError(
        'SECRET_NOT_SET',
        `${unset.join(', ')} ${unset.length === 1 ? 'is' : 'are'} not in the local store; nothing was sent.`,
        { hint: `Set ${unset.length === 1 ? 'it' : 'each'} first: \`${setSecretCommand(unset[0]!)}\`.` },
      )
    }
  } else {
    const referenced = [
      ...new Set(secretReferences(project.config).map((reference) => reference.secret)),
    ].sort()
    if (referenced.length === 0) {
      throw new UserError(
        'NO_SECRETS_TO_PUSH',
        'No trigger refers to a secret, so there is nothing to push.',
        {
          hint: 'Name the secrets to send: `centrali secrets push NAME`.',
        },
      )
    }
    names = referenced.filter((name) => store.has(name))
    notSetLocally = referenced.filter((name) => !store.has(name))
    if (names.length === 0) {
      throw new UserError(
        'NO_SECRETS_TO_PUSH',
        `None of the secrets the triggers use (${referenced.join(', ')}) is set locally; nothing was sent.`,
        { hint: `Set them first: \`${setSecretCommand(referenced[0]!)}\`.` },
      )
    }
  }

  const client = createRuntimeClient({ target, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) })
  const remote = new Map((await client.secrets()).map((secret) => [secret.name, secret.updatedAt]))
  return {
    target: summarizeTarget(target),
    secrets: names.map((name) => ({ name, onTargetSince: remote.get(name) ?? null })),
    notSetLocally,
    store,
    client,
  }
}

/** Decrypts each value only to send it; nothing but names comes back. */
export async function executeSecretsPush(
  plan: SecretsPushPlan,
  deps: Pick<DeployDeps, 'step'>,
): Promise<SecretsPushResult> {
  const pushed: SecretsPushResult['pushed'] = []
  for (const secret of plan.secrets) {
    const stored = await deps.step(`Sending ${secret.name}`, async () => {
      const value = await plan.store.get(secret.name)
      // Checked when planning; gone only if the store changed underneath.
      if (value === undefined)
        throw new UserError('SECRET_NOT_SET', `${secret.name} is no longer in the local store.`)
      return plan.client.putSecret(secret.name, value)
    })
    pushed.push({ name: secret.name, replaced: secret.onTargetSince !== null, updatedAt: stored.updatedAt })
  }
  return { target: plan.target, pushed, notSetLocally: plan.notSetLocally }
}
