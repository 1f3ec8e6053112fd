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

export function wrapInFactory(bundle: string): string {
  return `(function (${FACTORY_PARAMETERS.join(', ')}) {\n${bundle}\nreturn ${BUNDLE_GLOBAL}.${RUN_EXPORT};\n})`
}
