import { readFile, stat } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import {
  findNodeAtLocation,
  parse,
  parseTree,
  printParseErrorCode,
  type Node as JsonNode,
  type ParseError,
} from 'jsonc-parser'
import type { z } from 'zod'
import {
  ConfigError,
  UserError,
  describeSystemError,
  formatConfigProblem,
  type ConfigProblem,
} from '../shared/errors.js'
import { parseStoredDomainEntry } from '../egress/domain-entry.js'
import { projectConfigSchema, type ProjectConfig } from './schema.js'

export const CONFIG_FILE = 'centrali.json'

export interface Project {
  /** Folder holding centrali.json. */
  root: string
  configPath: string
  /** The raw text, for edits that keep the user's formatting. */
  text: string
  config: ProjectConfig
  /** Unknown keys and other problems that do not stop the command. */
  warnings: ConfigProblem[]
}

export const JSONC_OPTIONS = { allowTrailingComma: true, disallowComments: false } as const

/** How a project file is named in messages: relative to where the command runs. */
export function displayPath(cwd: string, path: string): string {
  return relative(cwd, path) || path
}

/** Walks up from `cwd` to the nearest folder with a centrali.json. */
export async function findProjectRoot(cwd: string): Promise<string> {
  let folder = resolve(cwd)
  for (;;) {
    if (await isFile(join(folder, CONFIG_FILE))) return folder
    const parent = dirname(folder)
    if (parent === folder) {
      throw new UserError(
        'PROJECT_NOT_FOUND',
        `No ${CONFIG_FILE} found in ${resolve(cwd)} or any folder above it.`,
        {
          hint: 'Run `centrali init` to create a project, or pass --cwd with the project folder.',
        },
      )
    }
    folder = parent
  }
}

export interface LoadOptions {
  cwd: string
  /** Receives problems that do not stop the command, such as unknown keys. */
  warn?: (message: string) => void
}

export async function loadProject(options: LoadOptions): Promise<Project> {
  const root = await findProjectRoot(options.cwd)
  const configPath = join(root, CONFIG_FILE)
  let text: string
  try {
    text = withoutBom(await readFile(configPath, 'utf8'))
  } catch (error) {
    throw describeSystemError(error, `read ${configPath}`) ?? error
  }
  const shownPath = displayPath(options.cwd, configPath)
  const { config, warnings } = parseProjectConfig(text, shownPath)
  for (const warning of warnings) options.warn?.(formatConfigProblem(warning))
  return { root, configPath, text, config, warnings }
}

/**
 * The text of a file as JSON means it: a UTF-8 byte order mark, which some editors write first
 * (Notepad, "UTF-8 with BOM"), is no JSON and would fail the whole file at 1:1. It is not written back.
 */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

/**
 * Parses and validates the text of a centrali.json. Throws a ConfigError listing every problem at
 * once; unknown keys come back as warnings and are dropped from the result.
 */
export function parseProjectConfig(
  text: string,
  file: string,
): { config: ProjectConfig; warnings: ConfigProblem[] } {
  // Said as what it is: an editor that truncates before it writes can leave the file so a moment.
  if (text.trim() === '') {
    throw new ConfigError(
      [
        {
          file,
          path: '',
          message: 'the file is empty; expected an object such as { "functions": {}, "triggers": {} }',
        },
      ],
      "Write the project's configuration into it (`centrali init` makes one), or restore it from version control.",
    )
  }
  const syntaxErrors: ParseError[] = []
  const data: unknown = parse(text, syntaxErrors, JSONC_OPTIONS)
  if (syntaxErrors.length > 0) {
    // jsonc-parser says a file cut short again for each value and brace left open where it ends:
    // the first error at a place is the one that means something.
    const firstAtEachPlace = syntaxErrors.filter(
      (error, index) => syntaxErrors.findIndex((other) => other.offset === error.offset) === index,
    )
    throw new ConfigError(
      firstAtEachPlace.map((error) => ({
        file,
        path: '',
        ...lineAndColumn(text, error.offset),
        message: `JSON syntax error: ${describeParseError(error)}`,
      })),
      'Fix the JSON syntax; comments and trailing commas are allowed.',
    )
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ConfigError([
      { file, path: '', message: 'expected an object such as { "functions": {}, "triggers": {} }' },
    ])
  }

  const tree = parseTree(text, [], JSONC_OPTIONS)
  const locate = (path: PropertyKey[]): Pick<ConfigProblem, 'line' | 'column'> => {
    // The closest node that exists: a missing key is reported at the object that lacks it.
    for (let length = path.length; length >= 0 && tree; length--) {
      const node = findNodeAtLocation(tree, path.slice(0, length) as (string | number)[])
      if (node) return lineAndColumn(text, keyOffset(node))
    }
    return {}
  }

  let input: unknown = data
  const warnings: ConfigProblem[] = []
  for (;;) {
    const result = projectConfigSchema.safeParse(input)
    if (result.success) {
      // Entries are compared in their normal form (a hand-written API.OpenAI.com is api.openai.com);
      // the array keeps its length and order, so indices still point into the file.
      result.data.domains = normalDomainEntries(result.data.domains)
      warnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
      return { config: result.data, warnings }
    }
    const unknownKeys = result.error.issues.filter((issue) => issue.code === 'unrecognized_keys')
    const errors = result.error.issues.filter((issue) => issue.code !== 'unrecognized_keys')
    if (errors.length > 0) {
      throw new ConfigError(
        errors
          .flatMap((issue) => describeIssue(issue))
          .map(({ path, message }) => ({ file, path: formatJsonPath(path), ...locate(path), message })),
        `Edit ${file}; the JSON Schema in .centrali/centrali.schema.json gives your editor completion.`,
      )
    }
    for (const issue of unknownKeys) {
      for (const key of issue.keys) {
        const path = [...issue.path, key]
        warnings.push({ file, path: formatJsonPath(path), ...locate(path), message: 'unknown key, ignored' })
      }
    }
    input = withoutKeys(input, unknownKeys)
  }
}

type Issue = z.core.$ZodIssue

/** Domain entries in their normal form, where they parse (the schema has reported those that do not). */
export function normalDomainEntries(domains: readonly string[]): string[] {
  return domains.map((entry) => {
    const parsed = parseStoredDomainEntry(entry)
    return parsed.ok ? parsed.text : entry
  })
}

/** A schema problem as people read it: its JSON path and what was expected (a union: its closest branch). */
export function describeIssue(issue: Issue): { path: PropertyKey[]; message: string }[] {
  if (issue.code === 'invalid_key') {
    return issue.issues.map((inner) => ({ path: issue.path, message: `invalid name: ${inner.message}` }))
  }
  if (
    issue.code === 'invalid_union' &&
    issue.errors.length > 0 &&
    issue.message.startsWith('Invalid input')
  ) {
    // A union where every branch failed: the closest branch's first problem says the most.
    const closest = issue.errors.reduce((best, errors) => (errors.length < best.length ? errors : best))
    return closest.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }))
  }
  return [{ path: issue.path, message: humanMessage(issue) }]
}

function humanMessage(issue: Issue): string {
  if (issue.code !== 'invalid_type') return issue.message
  const generic = issue.message.startsWith('Invalid input')
  if (issue.input === undefined) return `missing: ${generic ? `expected ${issue.expected}` : issue.message}`
  return generic ? `expected ${issue.expected}, got ${typeName(issue.input)}` : issue.message
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`
}

function withoutKeys(input: unknown, issues: { path: PropertyKey[]; keys: string[] }[]): unknown {
  const copy: unknown = structuredClone(input)
  for (const issue of issues) {
    let target: unknown = copy
    for (const segment of issue.path) target = (target as Record<PropertyKey, unknown>)[segment]
    for (const key of issue.keys) delete (target as Record<string, unknown>)[key]
  }
  return copy
}

/** `triggers.openai-chat.timeoutMs`, `domains[2]`, `functions["a.b"]`. */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  let text = ''
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`
    else if (/^[A-Za-z_$][\w$-]*$/.test(String(segment)))
      text += text === '' ? String(segment) : `.${String(segment)}`
    else text += `[${JSON.stringify(String(segment))}]`
  }
  return text
}

function keyOffset(node: JsonNode): number {
  // Point at the property's key rather than its value when there is one.
  return node.parent?.type === 'property' && node.parent.children?.[0]
    ? node.parent.children[0].offset
    : node.offset
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1
  let lineStart = 0
  for (let index = 0; index < offset && index < text.length; index++) {
    if (text.charCodeAt(index) === 10) {
      line++
      lineStart = index + 1
    }
  }
  return { line, column: offset - lineStart + 1 }
}

function describeParseError(error: ParseError): string {
  const descriptions: Record<string, string> = {
    InvalidSymbol: 'unexpected character',
    InvalidNumberFormat: 'invalid number',
    PropertyNameExpected: 'expected a property name in double quotes',
    ValueExpected: 'expected a value',
    ColonExpected: 'expected ":"',
    CommaExpected: 'expected ","',
    CloseBraceExpected: 'expected "}"',
    CloseBracketExpected: 'expected "]"',
    EndOfFileExpected: 'unexpected text after the end',
    UnexpectedEndOfString: 'unterminated string',
    UnexpectedEndOfComment: 'unterminated comment',
    UnexpectedEndOfNumber: 'unterminated number',
    InvalidUnicode: 'invalid unicode escape',
    InvalidEscapeCharacter: 'invalid escape character',
    InvalidCharacter: 'invalid character',
  }
  const code = printParseErrorCode(error.error)
  return descriptions[code] ?? code
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}
