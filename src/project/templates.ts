import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as z from 'zod/mini'
import { packageRoot } from '../shared/package-root.js'
import { paramValueSchema } from './schema.js'

/**
 * Provider templates are real folders in the package's templates/ directory, found relative to this
 * module (never the working directory): `<name>/template.json` describes the function, its trigger,
 * domains and secrets; `<name>/function.ts` is the code; `_project/` holds the files every new
 * project gets. Text files go through one tiny `{{placeholder}}` step.
 */
export const TEMPLATES_DIR = join(packageRoot(), 'templates')
export const PROJECT_FILES_DIR = join(TEMPLATES_DIR, '_project')

/** The template names, for flag choices (which must be known without reading the disk). A test
 *  checks this list against the templates/ folder. */
export const BUILTIN_TEMPLATES = ['generic', 'openai', 'stripe'] as const
export const DEFAULT_TEMPLATE = 'generic'

const templateManifestSchema = z.strictObject({
  description: z.string(),
  function: z.string(),
  trigger: z.string(),
  domains: z.array(z.string()),
  params: z.record(z.string(), paramValueSchema),
  secrets: z.record(z.string(), z.string()),
  timeoutMs: z.int(),
  examplePayload: z.json(),
})

export interface Template extends z.output<typeof templateManifestSchema> {
  name: string
  /** Source of the function file, placeholders not yet filled. */
  source: string
}

export async function listTemplateNames(): Promise<string[]> {
  const entries = await readdir(TEMPLATES_DIR, { withFileTypes: true })
  return entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
    .map((entry) => entry.name)
    .sort()
}

export async function loadTemplate(name: string): Promise<Template | undefined> {
  if (!(await listTemplateNames()).includes(name)) return undefined
  const folder = join(TEMPLATES_DIR, name)
  const manifest = templateManifestSchema.parse(
    JSON.parse(await readFile(join(folder, 'template.json'), 'utf8')),
  )
  return { ...manifest, name, source: await readFile(join(folder, 'function.ts'), 'utf8') }
}

export async function loadAllTemplates(): Promise<Template[]> {
  const templates = await Promise.all((await listTemplateNames()).map((name) => loadTemplate(name)))
  return templates.filter((template): template is Template => template !== undefined)
}

export function renderPlaceholders(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole)
}
