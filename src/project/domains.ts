import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { entryMatches, parseStoredDomainEntry } from '../egress/domain-entry.js'
import { UserError } from '../shared/errors.js'
import { applyJsonEdits, writeProjectConfig } from './edit.js'
import { displayPath, loadProject, type LoadOptions, type Project } from './load.js'
import { normalizeDomains } from './scaffold.js'
import { loadAllTemplates } from './templates.js'

export interface AddDomainsResult {
  added: string[]
  /** Entries that were there already (adding is then a no-op). */
  existing: string[]
  /** How inputs were normalised, and what was dropped from them. */
  notes: string[]
  domains: string[]
}

export async function addDomains(
  options: LoadOptions & { hosts: readonly string[]; allowIp: boolean },
): Promise<AddDomainsResult> {
  const project = await loadProject(options)
  const { domains, notes } = await normalizeDomains(options.hosts, options.allowIp)
  const current = project.config.domains
  const added = domains.filter((domain) => !current.includes(domain))
  const existing = domains.filter((domain) => current.includes(domain))
  if (added.length > 0) {
    const text = applyJsonEdits(
      project.text,
      added.map((domain) => ({ append: 'domains', value: domain })),
    )
    await writeProjectConfig(project.configPath, text, displayPath(options.cwd, project.configPath))
  }
  return { added, existing, notes, domains: [...current, ...added] }
}

export interface RemoveDomainsResult {
  removed: string[]
  domains: string[]
}

export async function removeDomains(
  options: LoadOptions & { hosts: readonly string[] },
): Promise<RemoveDomainsResult> {
  const project = await loadProject(options)
  const current = project.config.domains
  // Match on the normal form, so `API.Example.com` removes `api.example.com`; IPs were added with --ip.
  const wanted = options.hosts.map((host) => {
    const result = parseStoredDomainEntry(host)
    return { host, text: result.ok ? result.text : host }
  })
  const missing = wanted.filter(({ text }) => !current.includes(text))
  if (missing.length > 0) {
    throw new UserError(
      'DOMAIN_NOT_FOUND',
      `Not in the allowlist: ${missing.map(({ host }) => host).join(', ')}.`,
      {
        hint: current.length === 0 ? 'The allowlist is empty.' : `Allowed now: ${current.join(', ')}.`,
      },
    )
  }
  const removeTexts = new Set(wanted.map(({ text }) => text))
  // Remove from the end so earlier indices stay valid.
  const indices = current.flatMap((domain, index) => (removeTexts.has(domain) ? [index] : [])).reverse()
  const text = applyJsonEdits(
    project.text,
    indices.map((index) => ({ remove: ['domains', index] })),
  )
  await writeProjectConfig(project.configPath, text, displayPath(options.cwd, project.configPath))
  return { removed: [...removeTexts], domains: current.filter((domain) => !removeTexts.has(domain)) }
}

export interface DomainListing {
  domain: string
  /** Functions whose source (or trigger params) names a host this entry allows. */
  functions: string[]
  /** Built-in templates that need this entry. */
  templates: string[]
}

export interface ListDomainsResult {
  domains: DomainListing[]
  /** https hosts the functions' sources name that no entry allows: calls to them will be blocked. */
  notAllowed: { host: string; functions: string[] }[]
}

/** `https://host[:port]` literals in a function's source: a cheap hint of what it calls. */
const URL_LITERAL = /https:\/\/([a-z0-9.-]+\.[a-z]{2,})(?::(\d+))?/gi

export async function listDomains(options: LoadOptions): Promise<ListDomainsResult> {
  const project = await loadProject(options)
  const entries = project.config.domains.flatMap((text) => {
    const result = parseStoredDomainEntry(text)
    return result.ok ? [{ text, entry: result.entry }] : []
  })
  const calls = await hostsCalledByFunctions(project)
  const templates = await loadAllTemplates()
  const listings = entries.map(({ text, entry }) => ({
    domain: text,
    functions: [...calls]
      .filter(([, hosts]) => hosts.some(({ host, port }) => entryMatches(entry, host, port)))
      .map(([name]) => name),
    templates: templates
      .filter((template) => template.domains.includes(text))
      .map((template) => template.name),
  }))
  const notAllowed = new Map<string, string[]>()
  for (const [name, hosts] of calls) {
    for (const { host, port } of hosts) {
      if (entries.some(({ entry }) => entryMatches(entry, host, port))) continue
      const key = port === 443 ? host : `${host}:${port}`
      notAllowed.set(key, [...new Set([...(notAllowed.get(key) ?? []), name])])
    }
  }
  return { domains: listings, notAllowed: [...notAllowed].map(([host, functions]) => ({ host, functions })) }
}

async function hostsCalledByFunctions(
  project: Project,
): Promise<Map<string, { host: string; port: number }[]>> {
  const calls = new Map<string, { host: string; port: number }[]>()
  for (const [name, { entry }] of Object.entries(project.config.functions)) {
    let source: string
    try {
      source = await readFile(join(project.root, entry), 'utf8')
    } catch {
      continue // A missing function file is reported by the commands that run it.
    }
    // Trigger params count too: the generic template keeps its base URL there.
    const paramText = Object.values(project.config.triggers)
      .filter((trigger) => trigger.function === name)
      .flatMap((trigger) => Object.values(trigger.params ?? {}))
      .filter((value) => typeof value === 'string')
      .join('\n')
    const hosts = [...`${source}\n${paramText}`.matchAll(URL_LITERAL)].map((match) => ({
      host: match[1]!.toLowerCase(),
      port: match[2] === undefined ? 443 : Number(match[2]),
    }))
    calls.set(name, hosts)
  }
  return calls
}
