import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import * as z from 'zod/mini'
import { projectConfigSchema } from './schema.js'
import { STATE_DIR } from '../shared/state-dir.js'

/**
 * The JSON Schema editors use to complete centrali.json. It is written into the project's
 * `.centrali/` folder (by `init`, and later by `dev`), so completion works with nothing installed
 * and nothing fetched. The same text ships in the package as `centrali/centrali.schema.json`.
 */
export const SCHEMA_FILE = `${STATE_DIR}/centrali.schema.json`

/** Kept out of schema.ts: the JSON Schema generator is large, and only `init` and the build need it. */
export function toJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(projectConfigSchema, { target: 'draft-7', io: 'input' }),
    title: 'centrali.json',
    description: 'A centrali project: functions, endpoint triggers, allowed domains and deploy targets.',
  }
}

export function schemaText(): string {
  return `${JSON.stringify(toJsonSchema(), null, 2)}\n`
}

export async function installSchema(root: string): Promise<void> {
  await mkdir(join(root, STATE_DIR), { recursive: true })
  await writeFileAtomic(join(root, SCHEMA_FILE), schemaText())
}
