import type { ResultPromise } from 'execa'

/** Ends every child still running (SIGKILL) and waits for them all: no process outlives its test. */
export async function killAll(children: readonly ResultPromise[]): Promise<void> {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.all(children.map((child) => child.catch(() => undefined)))
}
