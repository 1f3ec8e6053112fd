import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { WorkerManifest, WorkerTrigger } from '../cloudflare/worker-runtime.js'
import { parseStoredDomainEntry } from '../egress/domain-entry.js'
import type { DomainEntry } from '../egress/domain-match.js'
import { loadProject } from '../project/load.js'
import { openProjectStore } from '../project/secrets.js'
import { DEFAULT_TIMEOUT_MS, secretReferences, type ProjectConfig } from '../project/schema.js'
import type { Manifest } from '../runtime/protocol.js'
import type { SecretsStore } from '../secrets/store.js'
import { packageRoot } from '../shared/package-root.js'
import { UserError } from '../shared/errors.js'
import type { ActiveManifest } from './api-client.js'
import { bundleFunctions, deployFilesDir, deployManifest, type DeployBundle } from './bundle.js'
import type { DeployDeps, TargetOptions } from './deploy.js'
import { computePlan, formatBytes, type DeployPlan, type SecretsWording } from './plan.js'
import { selectTarget, type TargetSummary } from './target.js'
import { withoutKeys } from '../shared/environment.js'

/**
 * The `cloudflare` deploy target (DESIGN §8): the project's functions as one Workers ES module,
 * deployed with wrangler. Secrets go to Worker secrets with `wrangler secret bulk`, over stdin.
 */
export const DEFAULT_COMPATIBILITY_DATE = '2025-09-01'
export const API_TOKEN_ENV = 'CLOUDFLARE_API_TOKEN'
export const WORKER_FILE = 'worker.js'
export const WRANGLER_CONFIG_FILE = 'wrangler.jsonc'
const INSTALL_WRANGLER = 'npm i -D wrangler'

export interface CloudflareTarget {
  name: string
  /** The Worker's name on Cloudflare. */
  worker: string
  compatibilityDate: string
  /** The environment variable holding the account id, when the target names one. */
  accountIdEnv: string | undefined
}

/** Which kind of target `--target` (or the default) names, so the command picks the deploy to run. */
export async function deployTargetType(options: TargetOptions): Promise<'runtime' | 'cloudflare'> {
  const project = await loadProject(options)
  return selectTarget(project.config, options.target).config.type
}

export function resolveCloudflareTarget(
  config: ProjectConfig,
  requested: string | undefined,
): CloudflareTarget {
  const { name, config: target } = selectTarget(config, requested)
  if (target.type !== 'cloudflare') {
    throw new UserError('TARGET_UNSUPPORTED', `Target "${name}" is not a cloudflare target.`)
  }
  return {
    name,
    worker: target.name,
    compatibilityDate: target.compatibilityDate ?? DEFAULT_COMPATIBILITY_DATE,
    accountIdEnv: target.accountIdEnv,
  }
}

/** How the plan and results name the target: there is no URL before wrangler reports one. */
export function summarizeCloudflareTarget(target: CloudflareTarget): TargetSummary {
  return { name: target.name, url: `cloudflare worker ${target.worker}` }
}

/** A Worker gets its secrets from the local store on every deploy (`wrangler secret bulk`). */
export const CLOUDFLARE_SECRETS_WORDING: SecretsWording = {
  heading: 'Secrets (sent from the local store as Worker secrets)',
  fix: (names) =>
    `Not in the local store: ${names.join(', ')}. Set ${names.length === 1 ? 'it' : 'each'} with \`centrali secrets set ${names[0]}\`, then deploy.`,
}

/** The manifest the Worker runs: triggers with their defaults filled in, domains pre-parsed. */
export function workerManifest(config: ProjectConfig): WorkerManifest {
  const triggers: Record<string, WorkerTrigger> = {}
  for (const [name, trigger] of Object.entries(config.triggers)) {
    triggers[name] = {
      function: trigger.function,
      params: trigger.params ?? {},
      timeoutMs: trigger.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(trigger.cors === undefined ? {} : { cors: trigger.cors }),
    }
  }
  const domains: DomainEntry[] = config.domains.map((text) => {
    const parsed = parseStoredDomainEntry(text)
    // The schema validated every entry when the project loaded.
    if (!parsed.ok) throw new UserError('DOMAIN_ENTRY_INVALID', `Invalid domain "${text}": ${parsed.reason}.`)
    return parsed.entry
  })
  return { triggers, domains }
}

/**
 * Globals of the Workers runtime that the function contract withholds (DESIGN §2): the factory is
 * wrapped in a function whose parameters of these names are undefined, so the function's code sees
 * none of them. (Module code is strict: no sloppy `this` reaches the real global object.)
 */
const WITHHELD_WORKER_GLOBALS = [
  'fetch',
  'self',
  'caches',
  'crypto',
  'navigator',
  'scheduler',
  'WebSocket',
  'HTMLRewriter',
  'EventSource',
  'addEventListener',
  'process',
  'require',
  'Buffer',
  'Request',
  'Response',
  'Headers',
] as const

/** The entry module: the runtime, the manifest, and one factory per function. */
export function workerEntrySource(
  runtimePath: string,
  manifest: WorkerManifest,
  bundles: readonly DeployBundle[],
): string {
  const factories = bundles
    .map(
      (bundle) =>
        `  ${JSON.stringify(bundle.function)}: (function (${WITHHELD_WORKER_GLOBALS.join(', ')}) {\n    return ${bundle.code}\n  })(),`,
    )
    .join('\n')
  return [
    '// Generated by `centrali deploy`: the project functions as a Cloudflare Workers module.',
    `import { createWorker } from ${JSON.stringify(runtimePath)}`,
    `const manifest = ${JSON.stringify(manifest, null, 2)}`,
    `const factories = {\n${factories}\n}`,
    'export default createWorker({ manifest, factories })',
    '',
  ].join('\n')
}

/** The runtime as shipped (built into dist/), or its source when running from a checkout. */
function runtimeModulePath(): string {
  const root = packageRoot()
  const built = join(root, 'dist', 'cloudflare', 'worker-runtime.js')
  return existsSync(built) ? built : join(root, 'src', 'cloudflare', 'worker-runtime.ts')
}

export interface WorkerBuild {
  /** The Workers ES module, one file. */
  code: string
  size: number
  bundles: DeployBundle[]
  manifest: Manifest
}

/** Bundles every function and the runtime into one Workers module (esbuild, no Node built-ins). */
export async function buildWorker(root: string, config: ProjectConfig): Promise<WorkerBuild> {
  const bundles = await bundleFunctions(root, config)
  const esbuild = await import('esbuild')
  const result = await esbuild.build({
    stdin: {
      contents: workerEntrySource(runtimeModulePath(), workerManifest(config), bundles),
      resolveDir: root,
      sourcefile: 'centrali-worker-entry.js',
      loader: 'js',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    legalComments: 'none',
    // Also drops esbuild's path comments, which would name folders of this machine.
    minifyWhitespace: true,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0]?.text ?? ''
  return { code, size: Buffer.byteLength(code), bundles, manifest: deployManifest(config, bundles) }
}

export function wranglerConfigText(target: CloudflareTarget): string {
  const config = {
    name: target.worker,
    main: WORKER_FILE,
    compatibility_date: target.compatibilityDate,
    // centrali already bundled the module; wrangler uploads it as is.
    no_bundle: true,
    workers_dev: true,
  }
  return `// Generated by \`centrali deploy\` for the target "${target.name}"; rewritten on every deploy.\n${JSON.stringify(config, null, 2)}\n`
}

export interface PreparedCloudflareDeploy {
  plan: DeployPlan
  target: CloudflareTarget
  /** Where worker.js, wrangler.jsonc and manifest.json were written, relative to the project root. */
  files: string
  root: string
  /** Names of the secrets the triggers use that the local store holds: sent by `secret bulk`. */
  secrets: string[]
  store: SecretsStore
  size: number
  triggers: string[]
}

export interface CloudflareDeployResult {
  target: TargetSummary
  dryRun: boolean
  plan: DeployPlan
  files: string
  /** Secret names sent to the Worker (never values). */
  secretsSent: string[]
  /** The workers.dev URL wrangler reported, when it did. */
  url: string | null
  endpoints: { trigger: string; url: string }[]
}

/** Builds the Worker, writes it and its wrangler config, and compares it with the last deploy from here. */
export async function prepareCloudflareDeploy(
  options: TargetOptions,
  deps: Pick<DeployDeps, 'step'>,
): Promise<PreparedCloudflareDeploy> {
  const { project, store } = await openProjectStore(options)
  const target = resolveCloudflareTarget(project.config, options.target)
  const functionCount = Object.keys(project.config.functions).length
  if (functionCount === 0) {
    throw new UserError('NO_FUNCTIONS', 'centrali.json defines no functions: there is nothing to deploy.', {
      hint: 'Add one with `centrali functions new <name> --template generic`.',
    })
  }
  const dir = join(project.root, deployFilesDir(target.name))
  // Cloudflare keeps no centrali manifest: the plan compares with what this machine deployed last.
  const previous = await readPreviousManifest(join(dir, 'manifest.json'))
  const build = await deps.step(
    `Building the Worker (${functionCount} function${functionCount === 1 ? '' : 's'})`,
    async () => {
      const build = await buildWorker(project.root, project.config)
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, WORKER_FILE), build.code)
      await writeFile(join(dir, WRANGLER_CONFIG_FILE), wranglerConfigText(target))
      await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(build.manifest, null, 2)}\n`)
      return build
    },
    (build) => `${formatBytes(build.size)} module`,
  )
  const referenced = [
    ...new Set(secretReferences(project.config).map((reference) => reference.secret)),
  ].sort()
  const secrets = referenced.filter((name) => store.has(name))
  const plan = computePlan({
    target: summarizeCloudflareTarget(target),
    config: project.config,
    manifest: build.manifest,
    active: previous,
    // Every deploy sends the secrets the local store holds: those are the ones the Worker will have.
    remoteSecrets: secrets.map((name) => ({ name, updatedAt: '' })),
  })
  return {
    plan,
    target,
    files: deployFilesDir(target.name),
    root: project.root,
    secrets,
    store,
    size: build.size,
    triggers: Object.keys(project.config.triggers),
  }
}

async function readPreviousManifest(path: string): Promise<ActiveManifest | null> {
  try {
    const manifest = JSON.parse(await readFile(path, 'utf8')) as Manifest
    return {
      manifest,
      version: {
        id: 'the last deploy from here',
        createdAt: '',
        size: 0,
        functions: Object.keys(manifest.functions),
        triggers: Object.keys(manifest.triggers),
        active: true,
      },
    }
  } catch {
    return null
  }
}

export function cloudflareDryRunResult(prepared: PreparedCloudflareDeploy): CloudflareDeployResult {
  return {
    target: prepared.plan.target,
    dryRun: true,
    plan: prepared.plan,
    files: prepared.files,
    secretsSent: [],
    url: null,
    endpoints: [],
  }
}

/** Runs `wrangler deploy`, then `wrangler secret bulk` with the values on stdin. */
export async function executeCloudflareDeploy(
  prepared: PreparedCloudflareDeploy,
  options: { env: NodeJS.ProcessEnv },
  deps: Pick<DeployDeps, 'step'>,
): Promise<CloudflareDeployResult> {
  const { plan, target } = prepared
  if (plan.missingSecrets.length > 0) {
    const names = plan.missingSecrets
    throw new UserError(
      'SECRETS_MISSING_ON_TARGET',
      `The local store does not hold ${names.join(', ')}, which the triggers use; nothing was deployed.`,
      { hint: `Set ${names.length === 1 ? 'it' : 'each'} first: \`centrali secrets set ${names[0]}\`.` },
    )
  }
  const token = options.env[API_TOKEN_ENV]
  if (token === undefined || token === '') {
    throw new UserError('CLOUDFLARE_TOKEN_MISSING', `No Cloudflare API token: ${API_TOKEN_ENV} is not set.`, {
      hint: `Create a token with the "Edit Cloudflare Workers" template and set ${API_TOKEN_ENV}.`,
    })
  }
  // wrangler gets its own credentials, never centrali's keys.
  const env: NodeJS.ProcessEnv = withoutKeys(options.env)
  if (target.accountIdEnv !== undefined) {
    const accountId = options.env[target.accountIdEnv]
    if (accountId === undefined || accountId === '') {
      throw new UserError(
        'CLOUDFLARE_ACCOUNT_MISSING',
        `No Cloudflare account id: ${target.accountIdEnv} is not set.`,
        {
          hint: `Set ${target.accountIdEnv} to the account id (Cloudflare dashboard, Workers overview).`,
        },
      )
    }
    env.CLOUDFLARE_ACCOUNT_ID = accountId
  }
  const cwd = join(prepared.root, prepared.files)
  const wrangler = wranglerCommand(prepared.root)
  const configArgs = ['--config', WRANGLER_CONFIG_FILE]

  const deployed = await deps.step(
    `Deploying ${target.worker} with wrangler`,
    () => runWrangler(wrangler, ['deploy', ...configArgs], { cwd, env }),
    () => 'deployed',
  )
  if (prepared.secrets.length > 0) {
    await deps.step(
      `Sending ${prepared.secrets.length} secret${prepared.secrets.length === 1 ? '' : 's'}`,
      async () => {
        const values: Record<string, string> = {}
        for (const name of prepared.secrets) {
          const value = await prepared.store.get(name)
          if (value === undefined)
            throw new UserError('SECRET_NOT_SET', `${name} is no longer in the local store.`)
          values[name] = value
        }
        // Over stdin only: never an argument (visible in ps) nor a file left on disk.
        await runWrangler(wrangler, ['secret', 'bulk', ...configArgs], {
          cwd,
          env,
          input: JSON.stringify(values),
        })
      },
      () => prepared.secrets.join(', '),
    )
  }
  const url = /https:\/\/[^\s]+\.workers\.dev\b/.exec(deployed)?.[0] ?? null
  return {
    ...cloudflareDryRunResult(prepared),
    dryRun: false,
    secretsSent: prepared.secrets,
    url,
    endpoints:
      url === null
        ? []
        : prepared.triggers.map((trigger) => ({
            trigger,
            url: `${url}/endpoints/${encodeURIComponent(trigger)}`,
          })),
  }
}

/** The project's own wrangler when installed there, else the one on PATH. */
function wranglerCommand(root: string): string {
  const local = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'wrangler.cmd' : 'wrangler')
  return existsSync(local) ? local : 'wrangler'
}

async function runWrangler(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        reject(
          new UserError(
            'WRANGLER_NOT_FOUND',
            'wrangler is not installed: the cloudflare target deploys with it.',
            {
              hint: `Install it in the project: \`${INSTALL_WRANGLER}\` (or globally with npm i -g wrangler).`,
            },
          ),
        )
      } else reject(error)
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
    child.on('close', (code) => {
      if (code === 0) resolve(output)
      else {
        const tail = output.trim().split('\n').slice(-15).join('\n')
        reject(
          new UserError(
            'WRANGLER_FAILED',
            `wrangler ${args.slice(0, 2).join(' ')} failed (exit ${code ?? 'signal'}):\n${tail}`,
            {
              hint: `Check ${API_TOKEN_ENV} and the account; the files wrangler used are in ${options.cwd}.`,
            },
          ),
        )
      }
    })
  })
}
