import { loadProject } from '../project/load.js'
import type { VersionInfo } from '../runtime/protocol.js'
import { UserError } from '../shared/errors.js'
import { createRuntimeClient, type RuntimeClient } from './api-client.js'
import type { DeployDeps, TargetOptions } from './deploy.js'
import { endpointUrl, resolveRuntimeTarget, summarizeTarget, type TargetSummary } from './target.js'

export interface VersionsResult {
  target: TargetSummary
  active: string | null
  /** Newest first, as the runtime lists them. */
  versions: VersionInfo[]
}

async function connect(
  options: TargetOptions,
  deps: Pick<DeployDeps, 'fetch'>,
): Promise<{ target: TargetSummary; client: RuntimeClient }> {
  const project = await loadProject(options)
  const target = resolveRuntimeTarget(project.config, options.target, options.env)
  const client = createRuntimeClient({ target, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) })
  return { target: summarizeTarget(target), client }
}

export async function listVersions(
  options: TargetOptions,
  deps: Pick<DeployDeps, 'fetch'> = {},
): Promise<VersionsResult> {
  const { target, client } = await connect(options, deps)
  const { active, versions } = await client.versions()
  return { target, active, versions }
}

export interface RollbackPlan {
  target: TargetSummary
  /** What is active now (null when nothing is). */
  from: VersionInfo | null
  to: VersionInfo
  client: RuntimeClient
}

export interface RollbackResult {
  target: TargetSummary
  active: VersionInfo
  previous: string | null
  /** False when the version asked for was active already (nothing was sent). */
  changed: boolean
  endpoints: { trigger: string; url: string }[]
}

/**
 * Which version a rollback activates: the one asked for, else the one uploaded just before the
 * active one (so rolling back twice goes two versions back).
 */
export async function planRollback(
  options: TargetOptions & { version?: string | undefined },
  deps: Pick<DeployDeps, 'fetch'> = {},
): Promise<RollbackPlan> {
  const { target, client } = await connect(options, deps)
  const { active, versions } = await client.versions()
  const from = versions.find((version) => version.id === active) ?? null
  if (options.version !== undefined) {
    const to = versions.find((version) => version.id === options.version)
    if (to === undefined) {
      throw new UserError('VERSION_NOT_FOUND', `${target.name} has no version ${options.version}.`, {
        hint:
          versions.length === 0
            ? 'Nothing has been deployed there yet.'
            : `Versions: ${versions.map((version) => version.id).join(', ')} (see \`centrali versions\`).`,
      })
    }
    return { target, from, to, client }
  }
  if (from === null) {
    throw new UserError('NO_ACTIVE_VERSION', `${target.name} has no active version to roll back from.`, {
      hint:
        versions.length === 0
          ? 'Deploy first with `centrali deploy`.'
          : `Name the version to activate: \`centrali rollback ${versions[0]!.id}\`.`,
    })
  }
  // Newest first: the version before the active one comes right after it in the list.
  const to = versions[versions.indexOf(from) + 1]
  if (to === undefined) {
    throw new UserError(
      'NO_PREVIOUS_VERSION',
      `${from.id} is the oldest version on ${target.name}: there is nothing before it.`,
      {
        hint: 'See `centrali versions` for what is there.',
      },
    )
  }
  return { target, from, to, client }
}

export async function executeRollback(plan: RollbackPlan): Promise<RollbackResult> {
  const endpoints = (version: VersionInfo) =>
    version.triggers.map((trigger) => ({ trigger, url: endpointUrl(plan.target, trigger) }))
  if (plan.from?.id === plan.to.id) {
    return {
      target: plan.target,
      active: plan.to,
      previous: plan.to.id,
      changed: false,
      endpoints: endpoints(plan.to),
    }
  }
  const activation = await plan.client.activate(plan.to.id)
  return {
    target: plan.target,
    active: { ...plan.to, active: true },
    previous: activation.previous,
    changed: true,
    endpoints: endpoints(plan.to),
  }
}
