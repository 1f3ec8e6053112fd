/**
 * The shape of a function's code as the sandbox runs it: the bundle wrapped in a factory whose
 * parameters shadow the globals that differ per invocation. The worker evaluates the factory once
 * and calls it per invocation with that invocation's values (see worker.ts).
 */
export const FACTORY_PARAMETERS = [
  'globalThis',
  'executionParams',
  'triggerParams',
  'api',
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  // The per-invocation Compartment's own evaluator, so `Function(...)` code sees its globalThis.
  'Function',
  // Powers of the factory's Compartment that the contract withholds.
  'Compartment',
  'lockdown',
  'harden',
] as const

export type RunFunction = () => unknown
export type Factory = (...globals: unknown[]) => RunFunction | undefined

export interface InvocationTimers {
  setTimeout: unknown
  clearTimeout: unknown
  setInterval: unknown
  clearInterval: unknown
}

/**
 * Calls a factory with one invocation's values, in FACTORY_PARAMETERS order; the withheld powers
 * stay undefined. As arguments, not gathered in an object first: with such an object, each
 * invocation's values outlived V8's young collections until the next full one (measured in the
 * sandbox worker: 1.3 KB promoted per trivial invocation, 0.5 without it).
 */
export function callFactory(
  factory: Factory,
  ownGlobal: unknown,
  executionParams: unknown,
  triggerParams: unknown,
  api: unknown,
  timers: InvocationTimers,
  evaluator: unknown,
): RunFunction | undefined {
  return factory(
    ownGlobal,
    executionParams,
    triggerParams,
    api,
    timers.setTimeout,
    timers.clearTimeout,
    timers.setInterval,
    timers.clearInterval,
    evaluator,
  )
}

/**
 * The bundle hands the function's `run` to the factory by calling this (the build appends the
 * call to the entry). A call, not an export: for an export esbuild adds its CommonJS interop
 * (getters defined on a fresh object per invocation), and objects reached from those getters
 * outlived V8's young collections: a trivial invocation promoted 540 bytes to the old generation,
 * now about 20.
 */
export const SET_RUN = '__centraliSetRun'
/** The entry still exports `run` under this name: esbuild then fails a file that declares none. */
export const RUN_EXPORT = '__centraliRun'

// On one line, so a source map of the bundle is shifted by whole lines (see build/bundle.ts).
const FACTORY_HEAD = `(function (${FACTORY_PARAMETERS.join(', ')}) { let ${RUN_EXPORT}; const ${SET_RUN} = (run) => { ${RUN_EXPORT} = run };\n`
/**
 * The name the function's code goes by in stack traces, so a frame of it is told from every other
 * evaluated code (the worker's error classes, code the function evaluates itself).
 */
export const FUNCTION_SOURCE_URL = 'centrali-function'
const FACTORY_TAIL = `\nreturn ${RUN_EXPORT};\n})\n//# sourceURL=${FUNCTION_SOURCE_URL}`

export function wrapInFactory(bundle: string): string {
  return `${FACTORY_HEAD}${bundle}${FACTORY_TAIL}`
}

/**
 * Whether a function's code can reach a global object of its own: only by naming `globalThis` or
 * `Function` (a compartment's evaluator). Code that names neither gets no Compartment per
 * invocation (the costliest part of starting one); it is handed the factory compartment's frozen
 * global instead, which holds built-ins only, so nothing can be kept there or reached through it.
 * Matched as plain text, so a mention in a string or comment (or any `\\u` escape, which could
 * spell either name) merely costs a Compartment.
 */
export function needsOwnGlobal(factoryCode: string): boolean {
  const bundle =
    factoryCode.startsWith(FACTORY_HEAD) && factoryCode.endsWith(FACTORY_TAIL)
      ? factoryCode.slice(FACTORY_HEAD.length, -FACTORY_TAIL.length)
      : factoryCode
  return /globalThis|Function|\\u/.test(bundle)
}
