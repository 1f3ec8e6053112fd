import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve } from 'node:path'
import type { BuildOptions as EsbuildOptions, BuildResult, Loader, Message, Plugin } from 'esbuild'
import { CentraliError } from '../shared/errors.js'
import { keyFilePath } from '../secrets/key.js'
import { STATE_DIR } from '../shared/state-dir.js'
import { RUN_EXPORT, SET_RUN, wrapInFactory } from '../sandbox/factory.js'

/**
 * One function file (TypeScript or JavaScript, classic script or module, with npm and local
 * imports) becomes one script for the sandbox. The entry gets `export { run as __centraliRun }`
 * and `__centraliSetRun(run)` appended, which work for every accepted form: a top-level `async
 * function run()`, an exported one, and `export default async function run()` (which declares
 * `run` too).
 */
export interface FunctionBuild {
  /** Content hash: the same code gives the same id, so workers load it once. */
  id: string
  /** The factory source the sandbox worker evaluates. */
  code: string
  bytes: number
  /** Every file the build read, absolute (for watchers and the build cache). */
  inputs: string[]
  /** Source map (JSON text) of `code`, sources relative to the root; only when asked for. */
  sourceMap?: string
  /** What builds but will not do what it seems to (a `console.log` call): worth saying. */
  warnings?: BuildProblem[]
}

export interface BuildProblem {
  file?: string
  line?: number
  column?: number
  lineText?: string
  message: string
}

export class BuildError extends CentraliError {
  readonly problems: readonly BuildProblem[]
  constructor(
    entry: string,
    problems: readonly BuildProblem[],
    hint = 'Fix the code above; the function runs in a sandbox with no Node built-ins (no fs, net, process).',
  ) {
    super('BUILD_FAILED', `Could not build ${entry}:\n${problems.map(formatBuildProblem).join('\n')}`, {
      hint,
    })
    this.problems = problems
  }
}

export function formatBuildProblem(problem: BuildProblem): string {
  const where =
    problem.file === undefined
      ? ''
      : problem.line === undefined
        ? `${problem.file}: `
        : `${problem.file}:${problem.line}:${(problem.column ?? 0) + 1}: `
  const frame =
    problem.lineText === undefined ? '' : `\n    ${problem.lineText}\n    ${' '.repeat(problem.column ?? 0)}^`
  return `  ${where}${problem.message}${frame}`
}

export interface BuildOptions {
  /** Project root: paths in messages are relative to it. */
  root: string
  /** The function file, relative to root. */
  entry: string
  minify?: boolean
  /** Also produce a source map of `code` (deploy keeps it beside the bundle). */
  sourceMap?: boolean
}

export async function buildFunction(options: BuildOptions): Promise<FunctionBuild> {
  const esbuild = await import('esbuild')
  const entry = entrySource(options)
  return finishBuild(options, entry, () => esbuild.build(esbuildOptions(options, entry)))
}

/** An incremental builder for one function (dev): the next rebuild reuses what the last one parsed. */
export interface FunctionBuilder {
  rebuild(): Promise<FunctionBuild>
  dispose(): Promise<void>
}

export async function createFunctionBuilder(options: BuildOptions): Promise<FunctionBuilder> {
  const esbuild = await import('esbuild')
  const entry = entrySource(options)
  const context = await esbuild.context(esbuildOptions(options, entry))
  return {
    rebuild: () => finishBuild(options, entry, () => context.rebuild()),
    dispose: () => context.dispose(),
  }
}

function esbuildOptions(options: BuildOptions, entry: EntrySource): BuildOptionsWithMetafile {
  return {
    absWorkingDir: options.root,
    entryPoints: [entry.path],
    bundle: true,
    write: false,
    metafile: true,
    // No globalName: the entry hands `run` over with a call (see SET_RUN).
    format: 'iife',
    // Not node, not a browser: only ECMAScript and the globals of the function contract.
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['worker', 'browser', 'import', 'default'],
    target: 'es2022',
    // Identifiers stay unminified: the `__require` helper is rewritten below by name.
    minifyWhitespace: options.minify ?? false,
    minifySyntax: options.minify ?? false,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    plugins: [exposeRun(entry)],
    // An output path is what esbuild needs for an external map; nothing is written (write: false).
    // At the root, the map's sources are the project's own relative paths.
    ...(options.sourceMap ? { sourcemap: 'external' as const, outfile: 'bundle.js' } : {}),
  }
}

type BuildOptionsWithMetafile = EsbuildOptions & { write: false; metafile: true }

async function finishBuild(
  options: BuildOptions,
  entry: EntrySource,
  run: () => Promise<BuildResult<BuildOptionsWithMetafile>>,
): Promise<FunctionBuild> {
  let result: BuildResult<BuildOptionsWithMetafile>
  try {
    result = await run()
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors
    if (errors === undefined) throw error
    // esbuild says a missing entry with its own stack, or as an absolute path it could not resolve.
    const missing = await missingEntry(entry, options)
    if (missing !== undefined)
      throw new BuildError(
        options.entry,
        [missing],
        'Restore the file, or set the function\'s "entry" in centrali.json to where it is now.',
      )
    throw new BuildError(options.entry, await problemsOf(errors, entry, options))
  }
  if (!(await declaresRun(entry)))
    throw new BuildError(options.entry, [{ file: shownEntry(entry, options), message: NO_RUN }])
  const output = result.outputFiles.find((file) => !file.path.endsWith('.map'))
  // esbuild turns `typeof require` into `typeof __require`, its helper that throws "Dynamic require
  // is not supported": `require` would look present. DESIGN §2 says it is absent, and code that
  // checks before requiring an optional dependency must take the "absent" branch.
  const bundle = escapeHtmlCommentMarkers((output?.text ?? '').replaceAll('typeof __require', '"undefined"'))
  await refuseSesRejectedText(bundle, Object.keys(result.metafile.inputs), options)
  const code = wrapInFactory(bundle)
  const map = result.outputFiles.find((file) => file.path.endsWith('.map'))
  const warnings = await findConsoleCalls(bundle, Object.keys(result.metafile.inputs), options.root)
  return {
    id: createHash('sha256').update(code).digest('hex').slice(0, 16),
    code,
    bytes: Buffer.byteLength(code),
    inputs: Object.keys(result.metafile.inputs).map((input) => resolve(options.root, input)),
    ...(map === undefined ? {} : { sourceMap: shiftSourceMap(map.text, factoryPrefixLines()) }),
    ...(warnings.length === 0 ? {} : { warnings }),
  }
}

/** What a function file that declares no `run` is told, whichever way the build finds out. */
const NO_RUN = 'the file does not declare `async function run()`'

function shownEntry(entry: EntrySource, options: BuildOptions): string {
  return relative(options.root, entry.path) || entry.path
}

/**
 * The problem of an entry that is not there (deleted, moved, or renamed in another case, which a
 * case-sensitive file system tells apart), or `undefined` when it is.
 */
async function missingEntry(entry: EntrySource, options: BuildOptions): Promise<BuildProblem | undefined> {
  if (
    await stat(entry.path).then(
      () => true,
      () => false,
    )
  )
    return undefined
  const name = basename(entry.path).toLowerCase()
  const sameButCase = await readdir(dirname(entry.path)).then(
    (names) => names.find((other) => other.toLowerCase() === name),
    () => undefined,
  )
  const file = shownEntry(entry, options)
  return {
    file,
    message:
      sameButCase === undefined
        ? "the file does not exist (deleted or moved?); centrali.json names it as the function's entry"
        : `the file does not exist, but ${relative(options.root, join(dirname(entry.path), sameButCase))} does: file names are case-sensitive here`,
  }
}

/**
 * In TypeScript, esbuild takes an export of a name the file does not declare for a type and drops
 * it, so a .ts entry without `run` would build, and fail at every request. Its text is transformed
 * alone with the export appended: the export stays only where `run` is a value.
 */
async function declaresRun(entry: EntrySource): Promise<boolean> {
  if (entry.text === undefined || (entry.loader !== 'ts' && entry.loader !== 'tsx')) return true
  // A rebuild for an imported module's save reads the same entry: its verdict stands.
  if (entry.runChecked?.text === entry.text) return entry.runChecked.declared
  const declared = await transformKeepsRun(entry.text, entry.loader)
  entry.runChecked = { text: entry.text, declared }
  return declared
}

async function transformKeepsRun(text: string, loader: 'ts' | 'tsx'): Promise<boolean> {
  const esbuild = await import('esbuild')
  try {
    const { code } = await esbuild.transform(`${text}\n;export { run as ${RUN_EXPORT} };\n`, {
      loader,
      format: 'esm',
      logLevel: 'silent',
    })
    return code.includes(RUN_EXPORT)
  } catch {
    // It built with the project's tsconfig: what fails alone (decorators, JSX settings) is no verdict.
    return true
  }
}

const CONSOLE_CALL = /\bconsole\s*\.\s*(?:log|info|warn|error|debug|trace|dir|table)\b/
/** At most this many console calls are named: the first few say it. */
const MAX_CONSOLE_WARNINGS = 3

/**
 * The sandbox has no `console` (DESIGN §2 lists its globals), so `console.log(x)` throws where a
 * person expects a line: each such call in the project's own files (not its packages') is named,
 * with the call that shows a value instead. The bundle is searched first, so a function without
 * one reads no file.
 */
async function findConsoleCalls(
  bundle: string,
  inputs: readonly string[],
  root: string,
): Promise<BuildProblem[]> {
  if (!CONSOLE_CALL.test(bundle)) return []
  const ownFiles = inputs.filter((input) => !input.split(/[\\/]/).includes('node_modules'))
  const found: BuildProblem[] = []
  for await (const at of linesMatching(CONSOLE_CALL, ownFiles, root)) {
    // A call commented out is no call.
    if (at.lineText.slice(0, at.column).includes('//')) continue
    found.push({
      ...at,
      message:
        'console does not exist in the sandbox, so this call throws; use api.log(value) or api.logError(value), which dev and the runtime show',
    })
    if (found.length === MAX_CONSOLE_WARNINGS) break
  }
  return found
}

/** Each line where `pattern` occurs in the files a build read, in the order esbuild read them. */
async function* linesMatching(
  pattern: RegExp,
  inputs: readonly string[],
  root: string,
): AsyncGenerator<Required<Omit<BuildProblem, 'message'>>> {
  for (const input of inputs) {
    const text = await readFile(resolve(root, input), 'utf8').catch(() => '')
    for (const [index, lineText] of text.split('\n').entries()) {
      const column = lineText.search(pattern)
      if (column !== -1) yield { file: input, line: index + 1, column, lineText }
    }
  }
}

/** Lines the factory wrapper puts before the bundle. */
function factoryPrefixLines(): number {
  return wrapInFactory('\u0000').split('\u0000')[0]!.split('\n').length - 1
}

/**
 * The map describes esbuild's output; `code` has the factory's lines before it. In a v3 map each
 * `;` of `mappings` starts the next generated line, so leading ones move every mapping down. (The
 * rewrites above shift a few columns on the rare lines they touch; lines stay exact.)
 */
function shiftSourceMap(mapText: string, lines: number): string {
  const map = JSON.parse(mapText) as { mappings: string; file?: string }
  map.mappings = ';'.repeat(lines) + map.mappings
  delete map.file
  return JSON.stringify(map)
}

/**
 * SES refuses to evaluate source text containing `<!--` or `-->` anywhere, strings included, and
 * HTML email templates are full of them. In a bundle they only occur inside strings, templates,
 * regular expressions and comments, where `<\\!--` and `--\\>` mean the same text (identity escapes).
 */
function escapeHtmlCommentMarkers(bundle: string): string {
  return bundle.replaceAll('<!--', '<\\!--').replaceAll('-->', '--\\>')
}

/**
 * SES also refuses text that looks like `import(` or `eval(`, strings included. Caught here, at
 * build time, with the line in the user's file, rather than at the first invocation.
 */
const SES_REJECTED = [
  {
    pattern: /\bimport\s*(?:\(|\/[/*])/,
    what: 'a dynamic import(',
    fix: 'import modules statically; in text, write the parenthesis as String.fromCharCode(40)',
  },
  {
    pattern: /\beval\s*(?:\(|\/[/*])/,
    what: 'a direct eval(',
    fix: 'in code, use (0, eval)(...); in text, write the parenthesis as String.fromCharCode(40)',
  },
]

async function refuseSesRejectedText(
  bundle: string,
  inputs: readonly string[],
  options: BuildOptions,
): Promise<void> {
  const found = SES_REJECTED.filter(({ pattern }) => pattern.test(bundle))
  if (found.length === 0) return
  const problems: BuildProblem[] = []
  for (const { pattern, what, fix } of found) {
    const message = `the sandbox refuses source text containing ${what}, even inside a string or comment; ${fix}`
    // The first place it occurs, when a file (rather than esbuild's own code) holds it.
    let first: BuildProblem = { message }
    for await (const at of linesMatching(pattern, inputs, options.root)) {
      first = { ...at, message }
      break
    }
    problems.push(first)
  }
  throw new BuildError(options.entry, problems)
}

/** The entry file, and its text as the last build read it (before the lines exposeRun appends). */
interface EntrySource {
  path: string
  text?: string
  loader?: Loader
  /** The last text `declaresRun` looked at, and what it found. */
  runChecked?: { text: string; declared: boolean }
}

function entrySource(options: BuildOptions): EntrySource {
  return { path: resolve(options.root, options.entry) }
}

function exposeRun(entry: EntrySource): Plugin {
  return {
    name: 'centrali-expose-run',
    setup(build) {
      const keyDirectory = dirname(keyFilePath(process.env))
      build.onLoad({ filter: /.*/ }, async (args) => {
        const secretFile = holdsSecrets(args.path, keyDirectory)
        if (secretFile !== undefined) return { errors: [{ text: secretFile }] }
        if (args.path !== entry.path) return undefined
        const source = await readFile(args.path, 'utf8')
        const loader = /\.[cm]?tsx?$/.test(args.path) ? (args.path.endsWith('x') ? 'tsx' : 'ts') : 'js'
        entry.text = source
        entry.loader = loader
        return { contents: `${source}\n;export { run as ${RUN_EXPORT} };\n${SET_RUN}(run);\n`, loader }
      })
    },
  }
}

/**
 * Why a function may not import this file, when it holds secrets: code (or a package it uses)
 * importing the store, the key or a .env file would carry every secret in its bundle, to anyone who
 * can read its responses and to every deploy target.
 */
function holdsSecrets(path: string, keyDirectory: string): string | undefined {
  const parts = path.split(/[\\/]/)
  const name = parts.at(-1) ?? ''
  const what = parts.includes(STATE_DIR)
    ? `it is in ${STATE_DIR}/, where the secrets store lives`
    : /^\.env(\..*)?$/.test(name)
      ? 'a .env file holds secrets'
      : name === 'secrets.key' || name === 'master.key' || dirname(path) === keyDirectory
        ? "it is centrali's secrets key"
        : undefined
  return what === undefined
    ? undefined
    : `a function may not import ${name}: ${what}; give the function a secret through its trigger's params ({ "secret": "NAME" })`
}

/**
 * A build's errors as problems in the person's own files. A file that ends inside something
 * unfinished (a block, a string, a comment) fails in the lines exposeRun appends, which are not
 * theirs: the error would name a line past the end of their file and show our code. The entry is
 * then parsed alone, which finds the same mistake where it was made.
 */
async function problemsOf(
  errors: readonly Message[],
  entry: EntrySource,
  options: BuildOptions,
): Promise<BuildProblem[]> {
  const inEntry = (message: Message) =>
    message.location !== null && resolve(options.root, message.location.file) === entry.path
  const entryLines = entry.text?.split('\n').length ?? Infinity
  const appended = errors.filter((message) => inEntry(message) && message.location!.line > entryLines)
  if (entry.text === undefined || appended.length === 0) {
    return errors.map((message) => toProblem(message, options.root))
  }
  let alone: readonly Message[] = []
  try {
    const esbuild = await import('esbuild')
    await esbuild.transform(entry.text, { loader: entry.loader, sourcefile: entry.path, logLevel: 'silent' })
  } catch (error) {
    alone = (error as { errors?: Message[] }).errors ?? []
  }
  // Alone the file parses: the appended lines failed for a reason of their own (what `run` is),
  // which is said of the file, without their line.
  const own = alone.length > 0 ? alone : appended.map((message) => ({ ...message, location: null }))
  const file = shownEntry(entry, options)
  return [
    ...own.map((message) => ({ ...toProblem(message, options.root), file })),
    ...errors.filter((message) => !inEntry(message)).map((message) => toProblem(message, options.root)),
  ]
}

function toProblem(message: Message, root: string): BuildProblem {
  const text = message.text
    .replace(/^"run" is not declared in this file$/, NO_RUN)
    .replace(/^Could not resolve "(node:)?([\w/]+)"[\s\S]*$/, (whole, _prefix, name: string) =>
      isNodeBuiltin(name)
        ? `"${name}" is a Node built-in; functions run in a sandbox without it (use api.* for the network)`
        : `${whole} (is it installed? run npm install in the project)`,
    )
  const location = message.location
  if (!location) return { message: text }
  return {
    file: relative(root, resolve(root, location.file)) || location.file,
    line: location.line,
    column: location.column,
    lineText: location.lineText,
    message: text,
  }
}

const NODE_BUILTINS = new Set([
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'child_process',
  'os',
  'path',
  'crypto',
  'process',
  'tls',
  'dns',
  'stream',
  'buffer',
  'util',
  'url',
  'worker_threads',
  'zlib',
  'events',
])

function isNodeBuiltin(name: string): boolean {
  return NODE_BUILTINS.has(name)
}
