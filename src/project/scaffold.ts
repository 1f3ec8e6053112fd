import { UserError } from '../shared/errors.js'
import { normalizeDomainEntry } from '../egress/domain-entry.js'
import { checkAddress } from '../egress/ip-policy.js'
import { NAME_PATTERN, type TriggerConfig } from './schema.js'
import { listTemplateNames, loadTemplate, renderPlaceholders, type Template } from './templates.js'

/** What one function made from a template adds to a project: shared by `init` and `functions new`. */
export interface FunctionScaffold {
  template: Template
  functionName: string
  triggerName: string
  entry: string
  source: string
  trigger: TriggerConfig
  domains: string[]
  secrets: { name: string; description: string }[]
}

export const DEFAULT_CORS_ORIGINS = ['http://localhost:5173']

export function nameProblem(kind: 'project' | 'function' | 'trigger', value: string): string | undefined {
  if (kind === 'project') return value.trim() === '' ? 'the project name is empty' : undefined
  return NAME_PATTERN.test(value)
    ? undefined
    : `"${value}" is not a valid ${kind} name: use lowercase letters, digits, "-" or "_" (at most 63, starting with a letter or digit)`
}

export async function requireTemplate(name: string): Promise<Template> {
  const template = await loadTemplate(name)
  if (template === undefined) {
    const known = await listTemplateNames()
    throw new UserError('TEMPLATE_UNKNOWN', `There is no template named "${name}".`, {
      hint: `Pick one of: ${known.join(', ')}.`,
    })
  }
  return template
}

/** Validates and normalises domains typed by the user; all problems at once, nothing half-applied. */
export async function normalizeDomains(
  inputs: readonly string[],
  allowIp = false,
): Promise<{ domains: string[]; notes: string[] }> {
  // The public suffix list is large; only commands that take new domains load it.
  const { isPublicSuffix } = await import('../egress/public-suffix.js')
  const domains: string[] = []
  const notes: string[] = []
  const problems: string[] = []
  for (const input of inputs) {
    const result = normalizeDomainEntry(input, { allowIp, isPublicSuffix })
    if (!result.ok) {
      problems.push(`${input}: ${result.reason}`)
      continue
    }
    const address = result.entry.ip ? checkAddress(result.entry.host) : undefined
    if (address !== undefined && !address.allowed) {
      problems.push(
        `${input}: ${address.reason}; the egress guard blocks such addresses whatever the allowlist says (to call a local server in tests, use --map)`,
      )
      continue
    }
    if (result.text !== input)
      notes.push(`${input} → ${result.text}${result.notes.length ? ` (${result.notes.join('; ')})` : ''}`)
    else notes.push(...result.notes.map((note) => `${input}: ${note}`))
    if (!domains.includes(result.text)) domains.push(result.text)
  }
  if (problems.length > 0) {
    throw new UserError(
      'DOMAIN_INVALID',
      `Refused ${problems.length === 1 ? 'a domain' : `${problems.length} domains`}:\n  ${problems.join('\n  ')}`,
      {
        hint: 'Give a host name such as api.example.com or *.example.com (port optional: api.example.com:8443).',
      },
    )
  }
  return { domains, notes }
}

export function scaffoldFunction(
  template: Template,
  names: { functionName: string; triggerName: string; projectName: string },
): FunctionScaffold {
  for (const [kind, value] of [
    ['function', names.functionName],
    ['trigger', names.triggerName],
  ] as const) {
    const problem = nameProblem(kind, value)
    if (problem) throw new UserError('NAME_INVALID', problem)
  }
  const entry = `functions/${names.functionName}.ts`
  return {
    template,
    functionName: names.functionName,
    triggerName: names.triggerName,
    entry,
    source: renderPlaceholders(template.source, { ...names }),
    trigger: {
      type: 'endpoint',
      function: names.functionName,
      params: template.params,
      timeoutMs: template.timeoutMs,
      cors: { origins: DEFAULT_CORS_ORIGINS },
      examplePayload: template.examplePayload,
    },
    domains: template.domains,
    secrets: Object.entries(template.secrets).map(([name, description]) => ({ name, description })),
  }
}
