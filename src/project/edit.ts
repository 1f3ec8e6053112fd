import {
  applyEdits,
  findNodeAtLocation,
  modify,
  parseTree,
  type Edit,
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
export type JsonEdit =
  /** Set (or, with `value: undefined`, remove) the value at `path`. */
  | { path: JSONPath; value: unknown }
  /** Append `value` to the array at the root key `append`, creating the array if needed. */
  | { append: string; value: unknown }

export function applyJsonEdits(text: string, edits: readonly JsonEdit[]): string {
  const formattingOptions = detectFormatting(text)
  let result = text
  for (const edit of edits) {
    const changes =
      'append' in edit
        ? appendEdits(result, edit.append, edit.value, formattingOptions)
        : modify(result, edit.path, edit.value, { formattingOptions })
    result = applyEdits(result, changes)
  }
  return result
}

/**
 * Appending after the last element of a one-per-line array: jsonc-parser would put the new element
 * between the old last element and its trailing `// comment`, so the comment would move to the new
 * line. Here the comma goes right after the old value and the new line after its comment.
 */
function appendEdits(
  text: string,
  key: string,
  value: unknown,
  formattingOptions: FormattingOptions,
): Edit[] {
  const root = parseTree(text, [], JSONC_OPTIONS)
  const array = root ? findNodeAtLocation(root, [key]) : undefined
  if (array?.type !== 'array') return modify(text, [key], [value], { formattingOptions })
  const last = array.children?.at(-1)
  if (last === undefined) return modify(text, [key, -1], value, { formattingOptions, isArrayInsertion: true })
  const valueEnd = last.offset + last.length
  const lineEnd = text.indexOf('\n', valueEnd)
  const arrayEnd = array.offset + array.length
  const lastOnOwnLine =
    lineEnd !== -1 &&
    lineEnd < arrayEnd - 1 &&
    /^\s*(\/\/.*|\/\*.*\*\/\s*)?$/.test(text.slice(valueEnd, lineEnd).replace(/\r$/, ''))
  if (!lastOnOwnLine) return modify(text, [key, -1], value, { formattingOptions, isArrayInsertion: true })
  const lineStart = text.lastIndexOf('\n', last.offset) + 1
  const indent = /^[ \t]*/.exec(text.slice(lineStart))![0]
  const eol = formattingOptions.eol ?? '\n'
  const insertAt = text[lineEnd - 1] === '\r' ? lineEnd - 1 : lineEnd
  return [
    { offset: valueEnd, length: 0, content: ',' },
    { offset: insertAt, length: 0, content: `${eol}${indent}${JSON.stringify(value)}` },
  ]
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
