import {
  applyEdits,
  findNodeAtLocation,
  modify,
  parseTree,
  type FormattingOptions,
  type JSONPath,
} from 'jsonc-parser'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { JSONC_OPTIONS, parseProjectConfig } from './load.js'

/**
 * Edits of centrali.json go through jsonc-parser so the user's comments, key order and indentation
 * survive, and land atomically. Each edit is validated before anything is written: an edit that
 * would make the file invalid is a bug, and it must not reach the disk.
 */
export interface JsonEdit {
  path: JSONPath
  /** `undefined` removes the value. */
  value: unknown
  /** Insert into an array at the index in `path` (-1 appends) instead of replacing. */
  insert?: boolean
}

export function applyJsonEdits(text: string, edits: readonly JsonEdit[]): string {
  const formattingOptions = detectFormatting(text)
  let result = text
  for (const edit of edits) {
    result = applyEdits(
      result,
      modify(result, edit.path, edit.value, { formattingOptions, isArrayInsertion: edit.insert ?? false }),
    )
  }
  return result
}

export async function writeProjectConfig(
  configPath: string,
  text: string,
  displayPath: string,
): Promise<void> {
  parseProjectConfig(text, displayPath)
  await writeFileAtomic(configPath, text)
}

function detectFormatting(text: string): FormattingOptions {
  const indent = /^([ \t]+)\S/m.exec(text)?.[1] ?? '  '
  return {
    insertSpaces: !indent.startsWith('\t'),
    tabSize: indent.startsWith('\t') ? 1 : indent.length,
    eol: text.includes('\r\n') ? '\r\n' : '\n',
  }
}

/** Edits that append `values` to the array at `key` of the root object, creating it if needed. */
export function appendToRootArray(text: string, key: string, values: readonly unknown[]): JsonEdit[] {
  if (values.length === 0) return []
  const root = parseTree(text, [], JSONC_OPTIONS)
  const existing = root ? findNodeAtLocation(root, [key]) : undefined
  if (existing?.type !== 'array') return [{ path: [key], value: [...values] }]
  return values.map((value) => ({ path: [key, -1], value, insert: true }))
}
