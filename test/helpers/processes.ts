import type { ResultPromise } from 'execa'

/** Ends every child still running (SIGKILL) and waits for them all: no process outlives its test. */
export async function killAll(children: readonly ResultPromise[]): Promise<void> {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.all(children.map((child) => child.catch(() => undefined)))
}

/**
 * After each test: ends the children it left running and closes its upstreams, then empties both
 * lists for the next test.
 */
export async function endAll(
  children: ResultPromise[],
  servers: { close(): Promise<void> }[],
): Promise<void> {
  await killAll(children)
  children.length = 0
  await Promise.all(servers.map((server) => server.close()))
  servers.length = 0
}

/**
 * Stops a process shared by a whole file as a user would (SIGTERM), and kills it if it has not
 * exited 8 s later.
 */
export async function stopGracefully(child: ResultPromise | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const killer = setTimeout(() => child.kill('SIGKILL'), 8000)
  await child.catch(() => undefined)
  clearTimeout(killer)
}
