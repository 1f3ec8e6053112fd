import type { ResultPromise } from 'execa'

/**
 * Polls `check` until it gives a value. Fails at the deadline, or at once when `child` (the process
 * under test, called `name`) has exited: its output is in `describe()`.
 */
export async function until<T>(
  check: () => T | undefined,
  describe: () => string,
  options: { child?: ResultPromise | undefined; name?: string; timeoutMs: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    const value = check()
    if (value !== undefined) return value
    const { child } = options
    const gone = child !== undefined && (child.exitCode !== null || child.signalCode !== null)
    if (gone || Date.now() > deadline)
      throw new Error(
        `${gone ? `the ${options.name ?? 'child'} process exited` : `timed out after ${options.timeoutMs} ms`}: ${describe()}`,
      )
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
