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

/** The bundle exposes the function's `run` under this name on this global (esbuild globalName). */
export const BUNDLE_GLOBAL = '__centraliModule'
export const RUN_EXPORT = '__centraliRun'

const FACTORY_HEAD = `(function (${FACTORY_PARAMETERS.join(', ')}) {\n`
const FACTORY_TAIL = `\nreturn ${BUNDLE_GLOBAL}.${RUN_EXPORT};\n})`

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
