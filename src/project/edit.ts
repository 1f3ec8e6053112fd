import {
  applyEdits,
  createScanner,
  getNodeValue,
  modify,
  parse,
  parseTree,
  type Edit,
  type JSONPath,
  type Node as JsonNode,
  type ParseError,
} from 'jsonc-parser'
import { writeFileAtomic } from '../shared/atomic-write.js'
import { JSONC_OPTIONS, parseProjectConfig } from './load.js'

/**
 * Edits of centrali.json keep the user's comments, key order, indentation, line endings and
 * trailing-comma style: each edit is a minimal change of the raw text, placed with the offsets
 * jsonc-parser's `parseTree` gives. Nothing outside the edited value (and the comma next to it) is
 * rewritten. Each result is checked against the same edit applied to the parsed data; an edit that
 * would make the file invalid is a bug, and it must not reach the disk.
 */
export type JsonEdit =
  /**
   * Set the value at `path`, creating missing objects on the way; `value: undefined` removes it
   * (same as `{ remove: path }`).
   */
  | { path: JSONPath; value: unknown }
  /** Append `value` to the array at the root key `append`, creating the array if needed. */
  | { append: string; value: unknown }
  /** Remove the property or array element at `remove`; a missing one is left alone. */
  | { remove: JSONPath }

type Operation =
  | { kind: 'set'; path: JSONPath; value: unknown }
  | { kind: 'append'; path: JSONPath; value: unknown }
  | { kind: 'remove'; path: JSONPath }

export function applyJsonEdits(text: string, edits: readonly JsonEdit[]): string {
  let result = text
  for (const edit of edits) result = applyOperation(result, toOperation(edit))
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

function toOperation(edit: JsonEdit): Operation {
  if ('remove' in edit) return { kind: 'remove', path: edit.remove }
  // A JSON round trip drops `undefined` properties and turns other non-JSON values into what would
  // be written, so the printed text and the verification see the same data.
  if ('append' in edit) return { kind: 'append', path: [edit.append], value: toJson(edit.value) }
  if (edit.value === undefined) return { kind: 'remove', path: edit.path }
  return { kind: 'set', path: edit.path, value: toJson(edit.value) }
}

function toJson(value: unknown): unknown {
  const text = JSON.stringify(value)
  return text === undefined ? null : JSON.parse(text)
}

function applyOperation(text: string, operation: Operation): string {
  const errors: ParseError[] = []
  const root = parseTree(text, errors, JSONC_OPTIONS)
  let expected: string | undefined
  const isExpected = (result: string): boolean => {
    expected ??= JSON.stringify(applyToData(parse(text, [], JSONC_OPTIONS), operation))
    const resultErrors: ParseError[] = []
    const data: unknown = parse(result, resultErrors, JSONC_OPTIONS)
    return resultErrors.length <= errors.length && JSON.stringify(data) === expected
  }
  const document = root && new Document(text, root)
  if (document) {
    const raw = rawEdits(document, operation)
    if (raw) {
      const result = applyEdits(text, raw)
      if (isExpected(result)) return result
    }
  }
  // No root value (an empty file), an unclosed container, or a layout the raw edits got wrong.
  const fallback = applyEdits(text, fallbackEdits(text, document, operation))
  if (isExpected(fallback)) return fallback
  throw new Error(`Could not edit ${formatPath(operation.path)} without breaking the file.`)
}

/**
 * Edits that touch nothing but the target: `modify` without formattingOptions changes only the
 * value (and adds the comma before a new member); a removal takes the member and one comma. Only
 * an empty file is formatted, as there is nothing else in it.
 */
function fallbackEdits(text: string, document: Document | undefined, operation: Operation): Edit[] {
  if (!document) {
    if (operation.kind === 'remove') return []
    const value = operation.kind === 'append' ? [operation.value] : operation.value
    const formattingOptions = { insertSpaces: true, tabSize: 2, eol: detectEol(text) }
    return modify(text, operation.path, value, { formattingOptions })
  }
  switch (operation.kind) {
    case 'remove': {
      const target = removalTarget(document, operation.path)
      if (!target) return []
      const { container, member } = target
      const children = container.children ?? []
      const index = children.indexOf(member)
      const memberEnd = member.offset + member.length
      const next = children[index + 1]
      const previous = children[index - 1]
      const comma =
        document.comma(memberEnd, next?.offset ?? container.offset + container.length) ??
        (previous && document.comma(previous.offset + previous.length, member.offset))
      const edits = [{ offset: member.offset, length: member.length, content: '' }]
      return comma ? [...edits, { offset: comma.offset, length: 1, content: '' }] : edits
    }
    case 'set':
      return modify(text, operation.path, operation.value, {})
    case 'append': {
      const array = document.find(operation.path)
      return array?.type === 'array'
        ? modify(text, [...operation.path, -1], operation.value, { isArrayInsertion: true })
        : modify(text, operation.path, [operation.value], {})
    }
  }
}

/** The operation applied to plain data: what the edited text must parse to. */
function applyToData(data: unknown, operation: Operation): unknown {
  const { path } = operation
  if (path.length === 0) return operation.kind === 'remove' ? undefined : operation.value
  const root = structuredClone(data) ?? (typeof path[0] === 'number' ? [] : {})
  let parent = root as Record<string | number, unknown>
  for (const [index, segment] of path.slice(0, -1).entries()) {
    let next = parent[segment]
    if (typeof next !== 'object' || next === null) {
      if (operation.kind === 'remove') return root
      next = typeof path[index + 1] === 'number' ? [] : {}
      parent[segment] = next
    }
    parent = next as Record<string | number, unknown>
  }
  const key = path.at(-1)!
  if (operation.kind === 'set') parent[key] = operation.value
  else if (operation.kind === 'append') {
    const current = parent[key]
    if (Array.isArray(current)) current.push(operation.value)
    else parent[key] = [operation.value]
  } else if (Array.isArray(parent) && typeof key === 'number') {
    if (key < parent.length) parent.splice(key, 1)
  } else delete parent[key]
  return root
}

function formatPath(path: JSONPath): string {
  return path.length === 0 ? 'the root value' : path.map(String).join('.')
}

// jsonc-parser declares SyntaxKind as an ambient const enum, which isolatedModules cannot read.
const COMMA = 5
const LINE_COMMENT = 12
const BLOCK_COMMENT = 13
const LINE_BREAK = 14
const WHITESPACE = 15
const EOF = 17

interface Token {
  kind: number
  offset: number
  end: number
}

/** What follows a value on its own line: its comma and comments, up to the line break. */
interface Trailer {
  /** End of the value, its comma and its comments on the same line (block comments in full). */
  end: number
  comma?: Token
  lineBreak?: Token
}

interface InlineStyle {
  /** Whitespace after a comma between members on one line. */
  comma: string
  /** The colon between a key and its value, with its whitespace. */
  colon: string
  /** Whitespace inside the braces of a one-line object / brackets of a one-line array. */
  objectPadding: string
  arrayPadding: string
}

type Insertion = { key: string; value: unknown } | { key?: undefined; value: unknown }

/** The text being edited, its parse tree, and the layout facts the edits copy. */
class Document {
  readonly eol: string
  readonly unit: string

  constructor(
    readonly text: string,
    readonly root: JsonNode,
  ) {
    this.eol = detectEol(text)
    this.unit = this.detectIndentUnit()
  }

  /** The node at `path`; with duplicate keys the last one, the one whose value counts. */
  find(path: JSONPath): JsonNode | undefined {
    return findNode(this.root, path)
  }

  lineStart(offset: number): number {
    return this.text.lastIndexOf('\n', offset - 1) + 1
  }

  lineIndent(offset: number): string {
    const start = this.lineStart(offset)
    return this.text.slice(start, this.spacesAfter(start))
  }

  isFirstOnLine(offset: number): boolean {
    return this.spacesBefore(offset) === this.lineStart(offset)
  }

  /** Where the run of spaces and tabs that starts at `offset` ends. */
  spacesAfter(offset: number): number {
    let end = offset
    while (this.text[end] === ' ' || this.text[end] === '\t') end++
    return end
  }

  /** Where the run of spaces and tabs that ends at `offset` starts. */
  spacesBefore(offset: number): number {
    let start = offset
    while (this.text[start - 1] === ' ' || this.text[start - 1] === '\t') start--
    return start
  }

  isMultiline(node: JsonNode): boolean {
    return this.text.slice(node.offset, node.offset + node.length).includes('\n')
  }

  /** Comments, commas, whitespace and line breaks from `start` up to `end`. */
  tokens(start: number, end: number): Token[] {
    const scanner = createScanner(this.text, false)
    scanner.setPosition(start)
    const tokens: Token[] = []
    for (;;) {
      const kind: number = scanner.scan()
      const offset = scanner.getTokenOffset()
      if (kind === EOF || offset >= end) return tokens
      tokens.push({ kind, offset, end: offset + scanner.getTokenLength() })
    }
  }

  /** The comma and comments after `node` on its line; `limit` is where the next member or the bracket starts. */
  trailer(node: JsonNode, limit: number): Trailer {
    const trailer: Trailer = { end: node.offset + node.length }
    for (const token of this.tokens(trailer.end, limit)) {
      if (token.kind === WHITESPACE) continue
      if (token.kind === LINE_BREAK) return { ...trailer, lineBreak: token }
      if (token.kind === COMMA) {
        if (trailer.comma) break
        trailer.comma = token
      } else if (token.kind !== LINE_COMMENT && token.kind !== BLOCK_COMMENT) break
      trailer.end = token.end
    }
    return trailer
  }

  comma(start: number, end: number): Token | undefined {
    return this.tokens(start, end).find((token) => token.kind === COMMA)
  }

  /** Offset of the closing bracket, if the container is closed. */
  close(container: JsonNode): number | undefined {
    const offset = container.offset + container.length - 1
    const expected = container.type === 'object' ? '}' : ']'
    return container.length >= 2 && this.text[offset] === expected ? offset : undefined
  }

  /**
   * One member per line, nested by the file's indent unit, continuation lines prefixed with
   * `indent` (the indentation of the line the value starts on).
   */
  pretty(value: unknown, indent: string, style: InlineStyle): string {
    const inner = indent + this.unit
    if (Array.isArray(value)) {
      if (value.length === 0) return '[]'
      const items = value.map((item) => `${this.eol}${inner}${this.pretty(item, inner, style)}`)
      return `[${items.join(',')}${this.eol}${indent}]`
    }
    if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value)
      if (entries.length === 0) return '{}'
      const members = entries.map(
        ([key, item]) =>
          `${this.eol}${inner}${JSON.stringify(key)}${style.colon}${this.pretty(item, inner, style)}`,
      )
      return `{${members.join(',')}${this.eol}${indent}}`
    }
    return JSON.stringify(value)
  }

  inline(value: unknown, style: InlineStyle): string {
    if (Array.isArray(value)) {
      if (value.length === 0) return '[]'
      const items = value.map((item) => this.inline(item, style)).join(`,${style.comma}`)
      return `[${style.arrayPadding}${items}${style.arrayPadding}]`
    }
    if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value)
      if (entries.length === 0) return '{}'
      const members = entries
        .map(([key, item]) => `${JSON.stringify(key)}${style.colon}${this.inline(item, style)}`)
        .join(`,${style.comma}`)
      return `{${style.objectPadding}${members}${style.objectPadding}}`
    }
    return JSON.stringify(value)
  }

  /** How one-line containers are spaced: first what `near` does, then the rest of the file. */
  inlineStyle(near: JsonNode): InlineStyle {
    const found: Partial<InlineStyle> = {}
    const visit = (node: JsonNode): void => {
      const children = node.children ?? []
      if (node.type === 'property') {
        const [key, value] = children
        const colon = key && value ? this.text.slice(key.offset + key.length, value.offset) : ''
        if (found.colon === undefined && /^[ \t]*:[ \t]*$/.test(colon)) found.colon = colon.trimStart()
      } else if ((node.type === 'object' || node.type === 'array') && children.length > 0) {
        const padding = node.type === 'object' ? 'objectPadding' : 'arrayPadding'
        if (found[padding] === undefined && !this.isMultiline(node)) {
          found[padding] = /^[ \t]*/.exec(this.text.slice(node.offset + 1))![0]
        }
        for (const [index, item] of children.slice(1).entries()) {
          const previous = children[index]!
          const between = this.text.slice(previous.offset + previous.length, item.offset)
          const comma = /^[ \t]*,([ \t]*)$/.exec(between)
          if (found.comma === undefined && comma) found.comma = comma[1]
        }
      }
      children.forEach(visit)
    }
    visit(near)
    visit(this.root)
    return { comma: ' ', colon: ': ', objectPadding: ' ', arrayPadding: '', ...found }
  }

  /**
   * The indent unit: what a member first on its line adds to the indentation of its container's
   * line, for the first container that has one; else the first indented line; else two spaces.
   */
  private detectIndentUnit(): string {
    const queue = [this.root]
    for (let node = queue.shift(); node; node = queue.shift()) {
      const children = node.children ?? []
      if (node.type === 'object' || node.type === 'array') {
        const base = this.lineIndent(node.offset)
        for (const item of children) {
          if (!this.isFirstOnLine(item.offset)) continue
          const indent = this.lineIndent(item.offset)
          if (indent.length > base.length && indent.startsWith(base)) return indent.slice(base.length)
        }
      }
      queue.push(...children)
    }
    return /^([ \t]+)\S/m.exec(this.text)?.[1] ?? '  '
  }
}

function detectEol(text: string): string {
  return /\r?\n/.exec(text)?.[0] ?? '\n'
}

function findNode(root: JsonNode, path: JSONPath): JsonNode | undefined {
  let node: JsonNode | undefined = root
  for (const segment of path) node = node && child(node, segment)
  return node
}

function child(node: JsonNode, segment: string | number): JsonNode | undefined {
  if (node.type === 'array' && typeof segment === 'number') return node.children?.[segment]
  if (node.type !== 'object' || typeof segment !== 'string') return undefined
  const property = node.children?.findLast(
    (item) => item.children?.length === 2 && item.children[0]!.value === segment,
  )
  return property?.children?.[1]
}

/** Raw-text edits for the operation, or undefined where they cannot be made safely. */
function rawEdits(document: Document, operation: Operation): Edit[] | undefined {
  switch (operation.kind) {
    case 'set':
      return setEdits(document, operation.path, operation.value)
    case 'append': {
      const array = document.find(operation.path)
      if (array?.type === 'array') return insertEdits(document, array, { value: operation.value })
      return setEdits(document, operation.path, [operation.value])
    }
    case 'remove': {
      const target = removalTarget(document, operation.path)
      return target ? removeEdits(document, target.container, target.member) : []
    }
  }
}

/** The member to remove (for an object's value, its property) and its container. */
function removalTarget(
  document: Document,
  path: JSONPath,
): { container: JsonNode; member: JsonNode } | undefined {
  const node = document.find(path)
  const member = node?.parent?.type === 'property' ? node.parent : node
  const container = member?.parent
  if (!member || !container) {
    if (node) throw new Error('Cannot remove the root value.')
    return undefined
  }
  return { container, member }
}

function setEdits(document: Document, path: JSONPath, value: unknown): Edit[] | undefined {
  // The deepest node that exists on the path.
  let node = document.root
  let depth = 0
  for (; depth < path.length; depth++) {
    const next = child(node, path[depth]!)
    if (!next) break
    node = next
  }
  if (depth === path.length) return replaceEdits(document, node, value)
  // What is missing below it becomes part of the inserted value.
  const inserted = path
    .slice(depth + 1)
    .reduceRight<unknown>(
      (item, segment) => (typeof segment === 'number' ? [item] : { [segment]: item }),
      value,
    )
  const segment = path[depth]!
  if (node.type === 'object' && typeof segment === 'string') {
    return insertEdits(document, node, { key: segment, value: inserted })
  }
  if (node.type === 'array' && segment === (node.children?.length ?? 0)) {
    return insertEdits(document, node, { value: inserted })
  }
  const what =
    node.type === 'array'
      ? `an array of ${node.children?.length ?? 0}`
      : node.type === 'object'
        ? 'an object'
        : `a ${node.type}`
  throw new Error(`Cannot set ${formatPath(path)}: ${formatPath(path.slice(0, depth))} is ${what}.`)
}

function replaceEdits(document: Document, node: JsonNode, value: unknown): Edit[] {
  if (JSON.stringify(getNodeValue(node)) === JSON.stringify(value)) return []
  const style = document.inlineStyle(node.parent ?? node)
  const pretty = (): string => document.pretty(value, document.lineIndent(node.offset), style)
  let content: string
  if (typeof value !== 'object' || value === null) content = JSON.stringify(value)
  else if (document.isMultiline(node)) content = pretty()
  else {
    // A one-line container stays one line; so does a value in a one-line parent.
    const nonEmpty = (node.type === 'object' || node.type === 'array') && (node.children?.length ?? 0) > 0
    const container = node.parent?.type === 'property' ? node.parent.parent : node.parent
    content =
      nonEmpty || (container && !document.isMultiline(container)) ? document.inline(value, style) : pretty()
  }
  return [{ offset: node.offset, length: node.length, content }]
}

/** Adds a member at the end of an object or array, laid out like the members it already has. */
function insertEdits(document: Document, container: JsonNode, insertion: Insertion): Edit[] | undefined {
  const close = document.close(container)
  if (close === undefined) return undefined
  const { eol, unit } = document
  const style = document.inlineStyle(container)
  const member = (valueText: string): string =>
    insertion.key === undefined ? valueText : `${JSON.stringify(insertion.key)}${style.colon}${valueText}`
  const open = container.offset
  const children = container.children ?? []
  const last = children.at(-1)

  if (!last) {
    const inside = document.tokens(open + 1, close)
    const comments = inside.filter((token) => token.kind === LINE_COMMENT || token.kind === BLOCK_COMMENT)
    if (inside.some((token) => token.kind === LINE_BREAK)) {
      // `{\n}` or `[\n  // none yet\n]`: a new line after the last comment, indented like the comments.
      const ownLine = comments.find((token) => document.isFirstOnLine(token.offset))
      const indent = ownLine ? document.lineIndent(ownLine.offset) : document.lineIndent(open) + unit
      const at = comments.at(-1)?.end ?? open + 1
      return [
        {
          offset: at,
          length: 0,
          content: `${eol}${indent}${member(document.pretty(insertion.value, indent, style))}`,
        },
      ]
    }
    const parent = container.parent?.type === 'property' ? container.parent.parent : container.parent
    const spread =
      comments.length === 0 &&
      (container.type === 'object' || (typeof insertion.value === 'object' && insertion.value !== null)) &&
      (!parent || document.isMultiline(parent))
    if (spread) {
      // `"functions": {}` in a multi-line file: the new member on its own line.
      const base = document.lineIndent(open)
      const indent = base + unit
      const content = `${eol}${indent}${member(document.pretty(insertion.value, indent, style))}${eol}${base}`
      return [{ offset: open + 1, length: close - open - 1, content }]
    }
    // `[]`, `[ ]`, `[ /* none */ ]`: stays one line.
    const valueText = member(document.inline(insertion.value, style))
    if (comments.length > 0) return [{ offset: comments.at(-1)!.end, length: 0, content: ` ${valueText}` }]
    const padding =
      close > open + 1 ? ' ' : container.type === 'object' ? style.objectPadding : style.arrayPadding
    return [{ offset: open + 1, length: close - open - 1, content: `${padding}${valueText}${padding}` }]
  }

  const lastEnd = last.offset + last.length
  const trailer = document.trailer(last, close)
  if (!document.isFirstOnLine(last.offset)) {
    // One-line container, or several members per line: the new one goes right after the last.
    const valueText = member(document.inline(insertion.value, style))
    if (trailer.comma)
      return [{ offset: trailer.comma.end, length: 0, content: `${style.comma}${valueText},` }]
    return [{ offset: lastEnd, length: 0, content: `,${style.comma}${valueText}` }]
  }
  // One member per line: a new line after the last member's comma and comments, same indentation.
  const indent = document.lineIndent(last.offset)
  const line = `${eol}${indent}${member(document.pretty(insertion.value, indent, style))}`
  // The file's trailing-comma habit carries over to the new last member.
  if (trailer.comma) return [{ offset: trailer.end, length: 0, content: `${line},` }]
  if (trailer.end === lastEnd) return [{ offset: lastEnd, length: 0, content: `,${line}` }]
  return [
    { offset: lastEnd, length: 0, content: ',' },
    { offset: trailer.end, length: 0, content: line },
  ]
}

/** Removes a member with its comma and the comments on its line; its neighbours' comments stay. */
function removeEdits(document: Document, container: JsonNode, member: JsonNode): Edit[] | undefined {
  const close = document.close(container)
  if (close === undefined) return undefined
  const { text } = document
  const children = container.children ?? []
  const index = children.indexOf(member)
  const previous = children[index - 1]
  const next = children[index + 1]
  const memberEnd = member.offset + member.length
  const trailer = document.trailer(member, next?.offset ?? close)
  const commaAfter = trailer.comma ?? document.comma(memberEnd, next?.offset ?? close)
  const previousEnd = previous ? previous.offset + previous.length : undefined
  const commaBefore = previousEnd === undefined ? undefined : document.comma(previousEnd, member.offset)
  const remove = (start: number, end: number): Edit => ({ offset: start, length: end - start, content: '' })
  const spacesBefore = (offset: number): number => document.spacesBefore(offset)

  // The only member, and nothing else inside but whitespace: `[]` / `{}`.
  if (children.length === 1) {
    const rest = text.slice(container.offset + 1, member.offset) + text.slice(trailer.end, close)
    if (/^\s*$/.test(rest)) return [remove(container.offset + 1, close)]
  }

  if (document.isFirstOnLine(member.offset) && trailer.lineBreak) {
    // One member per line: its whole line(s) go, comments on them included.
    const edits = [remove(document.lineStart(member.offset), trailer.lineBreak.end)]
    if (!trailer.comma) {
      // The last member: the comma before it would dangle (a trailing comma it had stays).
      const comma = commaAfter ?? commaBefore
      if (comma) edits.push(remove(comma.offset, comma.end))
    }
    return edits
  }

  // Members sharing a line.
  if (trailer.comma) {
    // `"a", "b", "c"` → `"a", "c"`: the member, its comma and the space before it; the first on its
    // line takes the space after its comma instead, and the line's indentation stays.
    if (previous && !document.isFirstOnLine(member.offset)) {
      return [remove(spacesBefore(member.offset), trailer.comma.end)]
    }
    const end = document.spacesAfter(trailer.comma.end)
    return [remove(end === close ? spacesBefore(member.offset) : member.offset, end)]
  }
  if (commaAfter) return [remove(member.offset, memberEnd), remove(commaAfter.offset, commaAfter.end)]
  if (commaBefore) {
    // The last member: `"a", "b"]` → `"a"]`, and across a line break when only whitespace is between.
    if (/^\s*$/.test(text.slice(commaBefore.end, member.offset)))
      return [remove(commaBefore.offset, memberEnd)]
    return [remove(commaBefore.offset, commaBefore.end), remove(spacesBefore(member.offset), memberEnd)]
  }
  return [remove(spacesBefore(member.offset), memberEnd)]
}
