import { loadProject, type LoadOptions } from '../project/load.js'
import { MAX_UPLOAD_BYTES, type UploadRequest, type VersionInfo } from '../runtime/protocol.js'
import { CentraliError, UserError } from '../shared/errors.js'
import { createRuntimeClient, type Activation, type RuntimeClient } from './api-client.js'
import { bundleFunctions, deployManifest, uploadRequest, writeDeployFiles } from './bundle.js'
import { computePlan, formatBytes, secretsPushCommand, type DeployPlan } from './plan.js'
import {
  endpointUrl,
  resolveRuntimeTarget,
  summarizeTarget,
  type RuntimeTarget,
  type TargetSummary,
} from './target.js'

/**
 * Runs one step of a command and reports it (a spinner on a terminal, a line otherwise). `done`
 * describes the result in a few words once the step has finished.
 */
export type StepRunner = <T>(label: string, work: () => Promise<T>, done?: (value: T) => string) => Promise<T>

export interface TargetOptions extends LoadOptions {
  env: NodeJS.ProcessEnv
  /** `--target`; without it, "default" or the only target. */
  target?: string | undefined
}

export interface DeployDeps {
  step: StepRunner
  /** The HTTP client's fetch (tests). */
  fetch?: typeof fetch
}

export interface PreparedDeploy {
  plan: DeployPlan
  target: RuntimeTarget
  /** Where the bundles and manifest were written, relative to the project root. */
  files: string
  request: UploadRequest
  client: RuntimeClient
}

export interface DeployResult {
  target: TargetSummary
  dryRun: boolean
  plan: DeployPlan
  /** The version created and activated; null for a dry run. */
  version: VersionInfo | null
  /** The version that was active before; null on a first deploy and for a dry run. */
  previous: string | null
  endpoints: { trigger: string; url: string }[]
  files: string
}

/** Bundles every function, writes what would be sent, and compares it with the target's active version. */
export async function prepareDeploy(options: TargetOptions, deps: DeployDeps): Promise<PreparedDeploy> {
  const project = await loadProject(options)
  const target = resolveRuntimeTarget(project.config, options.target, options.env)
  const functionCount = Object.keys(project.config.functions).length
  if (functionCount === 0) {
    throw new UserError('NO_FUNCTIONS', 'centrali.json defines no functions: there is nothing to deploy.', {
      hint: 'Add one with `centrali functions new <name> --template generic`.',
    })
  }
  const client = createRuntimeClient({ target, ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }) })

  const { request, files } = await deps.step(
    `Bundling ${functionCount} function${functionCount === 1 ? '' : 's'}`,
    async () => {
      const bundles = await bundleFunctions(project.root, project.config)
      const manifest = deployManifest(project.config, bundles)
      const files = await writeDeployFiles(project.root, target.name, manifest, bundles)
      return { request: uploadRequest(manifest, bundles), files }
    },
    ({ request }) =>
      `${formatBytes(Object.values(request.manifest.functions).reduce((total, fn) => total + fn.size, 0))}, minified`,
  )

  const [active, remoteSecrets] = await deps.step(
    `Reading what ${target.name} runs`,
    () => Promise.all([client.activeManifest(), client.secrets()]),
    ([active]) => (active === null ? 'nothing deployed yet' : `${active.version.id} is active`),
  )
  const plan = computePlan({
    target: summarizeTarget(target),
    config: project.config,
    manifest: request.manifest,
    active,
    remoteSecrets,
  })
  return { plan, target, files, request, client }
}

/** A deploy must not activate code whose secrets the target cannot give it. */
export function assertDeployable(prepared: PreparedDeploy): void {
  const { plan } = prepared
  if (plan.missingSecrets.length === 0) return
  const names = plan.missingSecrets
  throw new UserError(
    'SECRETS_MISSING_ON_TARGET',
    `${plan.target.name} does not have the secret${names.length === 1 ? '' : 's'} ${names.join(', ')}, which the triggers use; nothing was deployed.`,
    {
      hint: `Send ${names.length === 1 ? 'it' : 'them'} from the local store: \`${secretsPushCommand(plan.target.name, names)}\``,
    },
  )
}

/** Uploads the new version, then activates it. */
export async function executeDeploy(prepared: PreparedDeploy, deps: DeployDeps): Promise<DeployResult> {
  assertDeployable(prepared)
  const { client, request, target } = prepared
  const body = JSON.stringify(request)
  const bytes = Buffer.byteLength(body)
  if (bytes > MAX_UPLOAD_BYTES) {
    throw new UserError(
      'DEPLOY_TOO_LARGE',
      `This deploy is ${formatBytes(bytes)}; a runtime takes at most ${formatBytes(MAX_UPLOAD_BYTES)} at once.`,
      { hint: `Look at what the bundles in ${prepared.files} pull in, and trim large dependencies.` },
    )
  }
  const version = await deps.step(
    `Uploading to ${target.name}`,
    () => client.upload(request),
    (version) => `${version.id}, ${formatBytes(bytes)} sent`,
  )
  let activation: Activation
  try {
    activation = await deps.step(
      `Activating ${version.id}`,
      // Only over what the plan was made against: a deploy that landed meanwhile is not replaced unseen.
      () => client.activate(version.id, { expectedActive: prepared.plan.active }),
      (activation) => (activation.previous === null ? 'first version' : `replaces ${activation.previous}`),
    )
  } catch (error) {
    throw await notActivated(error, version.id, client)
  }
  return {
    ...dryRunResult(prepared),
    dryRun: false,
    version: { ...version, active: true },
    previous: activation.previous,
  }
}

/** An activation that failed after the upload: say so, and which version still serves. */
async function notActivated(error: unknown, id: string, client: RuntimeClient): Promise<unknown> {
  if (!(error instanceof CentraliError)) return error
  const active = await client.versions().then(
    (list) => list.active,
    () => undefined,
  )
  const serving =
    active === undefined
      ? 'which version serves could not be read'
      : active === null
        ? 'no version is active'
        : `${active} still serves`
  if (error.code === 'ACTIVE_CHANGED') {
    return new UserError(
      'ACTIVE_CHANGED',
      `${id} was uploaded but not activated: ${active ?? 'another version'} is now active (someone deployed meanwhile); run deploy again`,
      {
        hint: 'A new deploy compares against what is active now; `centrali versions` shows both.',
        cause: error,
      },
    )
  }
  return new UserError(error.code, `${id} was uploaded but not activated, so ${serving}: ${error.message}`, {
    ...(error.hint === undefined ? {} : { hint: error.hint }),
    cause: error,
  })
}

export function dryRunResult(prepared: PreparedDeploy): DeployResult {
  const target = summarizeTarget(prepared.target)
  return {
    target,
    dryRun: true,
    plan: prepared.plan,
    version: null,
    previous: null,
    endpoints: Object.keys(prepared.request.manifest.triggers).map((trigger) => ({
      trigger,
      url: endpointUrl(target, trigger),
    })),
    files: prepared.files,
  }
}
