import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { toJsonSchema } from './schema.js'

/**
 * The JSON Schema editors use to complete centrali.json. It is written into the project's
 * `.centrali/` folder (by `init`, and later by `dev`), so completion works with nothing installed
 * and nothing fetched. The same text ships in the package as `centrali/centrali.schema.json`.
 */
export const SCHEMA_FILE = '.centrali/centrali.schema.json'
export const SCHEMA_REF = SCHEMA_FILE

export function schemaText(): string {
  return `${JSON.stringify(toJsonSchema(), null, 2)}\n`
}

export async function installSchema(root: string): Promise<void> {
  await mkdir(join(root, '.centrali'), { recursive: true })
  await writeFileAtomic(join(root, SCHEMA_FILE), schemaText())
}
