import { loadProject } from '../project/load.js'
import type { VersionInfo } from '../runtime/protocol.js'
import { UserError } from '../shared/errors.js'
import { createRuntimeClient, type RuntimeClient } from './api-client.js'
import type { DeployDeps, TargetOptions } from './deploy.js'
import { endpointUrl, resolveRuntimeTarget, summarizeTarget, type TargetSummary } from './target.js'

export interface VersionsResult {
  target: TargetSummary
  active: string | null
  /** The version active before the current one: what `rollback` goes back to. */
  previous: string | null
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
  const { active, previous, versions } = await client.versions()
  return { target, active, previous, versions }
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
 * Which version a rollback activates: the one asked for (`v3`, or just `3`), else the one that was
 * active before the current one, so a second rollback undoes the first (as `kubectl rollout undo`).
 */
export async function planRollback(
  options: TargetOptions & { version?: string | undefined },
  deps: Pick<DeployDeps, 'fetch'> = {},
): Promise<RollbackPlan> {
  const { target, client } = await connect(options, deps)
  const { active, previous, versions } = await client.versions()
  const from = versions.find((version) => version.id === active) ?? null
  const listed =
    versions.length === 0
      ? 'Nothing has been deployed there yet.'
      : `Versions: ${versions.map((version) => version.id).join(', ')} (see \`centrali versions\`).`
  const wanted = options.version === undefined ? previous : versionId(options.version)
  if (wanted === null) {
    const other = versions.find((version) => version.id !== active)
    throw new UserError(
      'NO_PREVIOUS_VERSION',
      `${target.name} has no previous version: nothing to roll back to.`,
      {
        hint:
          other === undefined
            ? listed
            : `Name the version to activate, such as \`centrali rollback ${other.id}\`. ${listed}`,
      },
    )
  }
  const to = versions.find((version) => version.id === wanted)
  if (to === undefined) {
    throw new UserError('VERSION_NOT_FOUND', `${target.name} has no version ${wanted}.`, { hint: listed })
  }
  return { target, from, to, client }
}

/** `3` is `v3`. */
function versionId(text: string): string {
  return /^\d+$/.test(text) ? `v${text}` : text
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
