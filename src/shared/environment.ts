/** The variables that hold centrali's own keys: the secrets key, and `serve`'s master key and token. */
export const KEY_VARIABLES = [
  'CENTRALI_SECRETS_KEY',
  'CENTRALI_MASTER_KEY',
  'CENTRALI_RUNTIME_TOKEN',
] as const

let commandEnvironment: NodeJS.ProcessEnv | undefined

/**
 * The environment a command's services read, keys included. Taken once per process, and the keys
 * are then removed from `process.env`: a process centrali starts without naming an environment
 * (esbuild's service, which inherits it) never sees them.
 */
export function takeEnvironment(): NodeJS.ProcessEnv {
  if (commandEnvironment === undefined) {
    commandEnvironment = { ...process.env }
    for (const name of KEY_VARIABLES) delete process.env[name]
  }
  return commandEnvironment
}

/** An environment for a process centrali starts with one of its own (wrangler): without the keys. */
export function withoutKeys(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env }
  for (const name of KEY_VARIABLES) delete copy[name]
  return copy
}
