import { secretReferences, type ProjectConfig, type TriggerConfig } from '../project/schema.js'
import type { Manifest } from '../runtime/protocol.js'
import type { ActiveManifest, RemoteSecret } from './api-client.js'
import type { TargetSummary } from './target.js'

/** What a deploy would change on its target, against the version active there. */
export interface DeployPlan {
  target: TargetSummary
  /** The version compared against; null on a first deploy. */
  active: string | null
  functions: FunctionPlan[]
  triggers: TriggerPlan[]
  domains: DomainPlan[]
  /** Secrets the triggers refer to, and whether the target holds each. */
  secrets: SecretPlan[]
  missingSecrets: string[]
  /** Bytes of every bundle of the new version. */
  totalSize: number
  /** Whether anything differs from the active version (always true on a first deploy). */
  changed: boolean
}

export interface FunctionPlan {
  name: string
  change: 'new' | 'changed' | 'unchanged' | 'removed'
  /** Null when removed. */
  size: number | null
  hash: string | null
  /** Null when new. */
  previousSize: number | null
  previousHash: string | null
}

export interface TriggerPlan {
  name: string
  change: 'added' | 'changed' | 'unchanged' | 'removed'
  function: string
  /** The settings that differ (`params`, `timeoutMs`, `cors`, ...), for a changed trigger. */
  fields: string[]
}

export interface DomainPlan {
  domain: string
  change: 'added' | 'unchanged' | 'removed'
}

export interface SecretPlan {
  name: string
  usedBy: { trigger: string; param: string }[]
  onTarget: boolean
}

export function computePlan(options: {
  target: TargetSummary
  config: ProjectConfig
  manifest: Manifest
  active: ActiveManifest | null
  remoteSecrets: readonly RemoteSecret[]
}): DeployPlan {
  const { manifest } = options
  const before: Manifest = options.active?.manifest ?? { functions: {}, triggers: {}, domains: [] }

  const functions: FunctionPlan[] = []
  for (const [name, now] of Object.entries(manifest.functions)) {
    const was = own(before.functions, name)
    functions.push({
      name,
      change: was === undefined ? 'new' : was.bundle === now.bundle ? 'unchanged' : 'changed',
      size: now.size,
      hash: now.bundle,
      previousSize: was?.size ?? null,
      previousHash: was?.bundle ?? null,
    })
  }
  for (const [name, was] of Object.entries(before.functions)) {
    if (own(manifest.functions, name) !== undefined) continue
    functions.push({
      name,
      change: 'removed',
      size: null,
      hash: null,
      previousSize: was.size,
      previousHash: was.bundle,
    })
  }

  const triggers: TriggerPlan[] = []
  for (const [name, now] of Object.entries(manifest.triggers)) {
    const was = own(before.triggers, name)
    const fields = was === undefined ? [] : changedFields(was, now)
    triggers.push({
      name,
      change: was === undefined ? 'added' : fields.length > 0 ? 'changed' : 'unchanged',
      function: now.function,
      fields,
    })
  }
  for (const [name, was] of Object.entries(before.triggers)) {
    if (own(manifest.triggers, name) === undefined) {
      triggers.push({ name, change: 'removed', function: was.function, fields: [] })
    }
  }

  const domains: DomainPlan[] = [
    ...manifest.domains.map((domain) => ({
      domain,
      change: before.domains.includes(domain) ? ('unchanged' as const) : ('added' as const),
    })),
    ...before.domains
      .filter((domain) => !manifest.domains.includes(domain))
      .map((domain) => ({ domain, change: 'removed' as const })),
  ]

  const onTarget = new Set(options.remoteSecrets.map((secret) => secret.name))
  const secrets = new Map<string, SecretPlan>()
  for (const reference of secretReferences(options.config)) {
    const entry = secrets.get(reference.secret) ?? {
      name: reference.secret,
      usedBy: [],
      onTarget: onTarget.has(reference.secret),
    }
    entry.usedBy.push({ trigger: reference.trigger, param: reference.param })
    secrets.set(reference.secret, entry)
  }
  const secretPlans = [...secrets.values()].sort((a, b) => a.name.localeCompare(b.name))

  return {
    target: options.target,
    active: options.active?.version.id ?? null,
    functions,
    triggers,
    domains,
    secrets: secretPlans,
    missingSecrets: secretPlans.filter((secret) => !secret.onTarget).map((secret) => secret.name),
    totalSize: Object.values(manifest.functions).reduce((total, fn) => total + fn.size, 0),
    changed:
      options.active === null ||
      functions.some((fn) => fn.change !== 'unchanged') ||
      triggers.some((trigger) => trigger.change !== 'unchanged') ||
      domains.some((domain) => domain.change !== 'unchanged'),
  }
}

/** Own keys only: a function named `constructor` must not find Object.prototype's. */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}

function changedFields(before: TriggerConfig, after: TriggerConfig): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])] as (keyof TriggerConfig)[]
  return keys.filter((key) => canonicalJson(before[key]) !== canonicalJson(after[key])).sort()
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` compare equal. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'undefined'
}

/** The command that sends secrets from the local store to a target. */
export function secretsPushCommand(targetName: string, names: readonly string[]): string {
  return `centrali secrets push --target ${targetName} ${names.join(' ')}`
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

type PlanStyle = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan'
type PlanPaint = (style: PlanStyle, text: string) => string

const MARKS = {
  new: ['+', 'green'],
  added: ['+', 'green'],
  changed: ['~', 'yellow'],
  unchanged: ['=', 'dim'],
  removed: ['-', 'red'],
} as const satisfies Record<string, [string, PlanStyle]>

/** The plan as lines of text: one section each for functions, triggers, domains and secrets. */
/** How a target gets its secrets, for the plan's secrets section (a runtime by default). */
export interface SecretsWording {
  heading: string
  fix: (names: readonly string[]) => string
}

export function renderPlan(plan: DeployPlan, paint: PlanPaint, secretsWording?: SecretsWording): string[] {
  const heading =
    plan.active === null
      ? `Plan for ${plan.target.name} (${plan.target.url}): first deploy, nothing is active there yet`
      : `Plan for ${plan.target.name} (${plan.target.url}), against the active version ${plan.active}${plan.changed ? '' : ': no changes'}`
  const lines = [paint('bold', heading), '', paint('bold', 'Functions')]
  lines.push(
    ...table(
      plan.functions.map((fn) => {
        const size =
          fn.change === 'removed'
            ? `was ${formatBytes(fn.previousSize ?? 0)}`
            : fn.change === 'changed'
              ? sizeChange(fn.previousSize ?? 0, fn.size ?? 0)
              : formatBytes(fn.size ?? 0)
        return [marked(fn.change, fn.name, paint), size, paint(MARKS[fn.change][1], fn.change)]
      }),
    ),
  )
  if (plan.triggers.length > 0) {
    lines.push(paint('bold', 'Triggers'))
    lines.push(
      ...table(
        plan.triggers.map((trigger) => [
          marked(trigger.change, trigger.name, paint),
          `→ ${trigger.function}`,
          paint(
            MARKS[trigger.change][1],
            trigger.change === 'changed' ? `changed: ${trigger.fields.join(', ')}` : trigger.change,
          ),
        ]),
      ),
    )
  }
  if (plan.domains.length > 0) {
    lines.push(paint('bold', 'Domains'))
    lines.push(
      ...table(
        plan.domains.map((domain) => [
          marked(domain.change, domain.domain, paint),
          paint(MARKS[domain.change][1], domain.change),
        ]),
      ),
    )
  }
  if (plan.secrets.length > 0) {
    lines.push(paint('bold', secretsWording?.heading ?? `Secrets on ${plan.target.name}`))
    lines.push(
      ...table(
        plan.secrets.map((secret) => [
          `${secret.onTarget ? paint('green', '✔') : paint('red', '✖')} ${secret.name}`,
          secret.onTarget ? 'set' : paint('red', 'missing'),
          paint('dim', `used by ${secret.usedBy.map((use) => `${use.trigger}.${use.param}`).join(', ')}`),
        ]),
      ),
    )
  }
  const count = plan.functions.filter((fn) => fn.change !== 'removed').length
  lines.push('', `${formatBytes(plan.totalSize)} in ${count} function${count === 1 ? '' : 's'}`)
  if (plan.missingSecrets.length > 0) {
    lines.push(
      paint(
        'red',
        secretsWording?.fix(plan.missingSecrets) ??
          `Missing on ${plan.target.name}: ${plan.missingSecrets.join(', ')}. Send ${plan.missingSecrets.length === 1 ? 'it' : 'them'} with \`${secretsPushCommand(plan.target.name, plan.missingSecrets)}\``,
      ),
    )
  }
  return lines
}

function marked(change: keyof typeof MARKS, name: string, paint: PlanPaint): string {
  const [symbol, style] = MARKS[change]
  return `${paint(style, symbol)} ${name}`
}

/** Before → after, with the difference in bytes: a small edit does not show at KiB precision. */
function sizeChange(before: number, after: number): string {
  const delta = after - before
  const sign = delta < 0 ? '-' : '+'
  return `${formatBytes(before)} → ${formatBytes(after)} (${sign}${formatBytes(Math.abs(delta))})`
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')

/** Rows of cells, each column padded to its widest cell (colour codes take no room), indented. */
export function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const visible = (cell: string) => cell.replace(ANSI, '').length
  const widths: number[] = []
  for (const row of rows)
    row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, visible(cell))))
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, index) =>
          index === row.length - 1 ? cell : cell + ' '.repeat(widths[index]! - visible(cell)),
        )
        .join('  ')
        .trimEnd(),
  )
}
