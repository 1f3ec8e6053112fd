/**
 * Replaces secret values with `[redacted:NAME]` in anything leaving an invocation: its result, its
 * error message, its logs. A value is also caught in the forms it usually takes on its way out:
 * base64 (Basic auth), URL-encoded, and JSON-escaped.
 */
export interface Redaction {
  /** The secret that was found. Never its value. */
  secret: string
  /** Where: "result", "error", "logs[2]", ... */
  where: string
}

export interface Redactor {
  /** False when there is nothing to look for (no secrets, or all too short): everything passes as is. */
  readonly active: boolean
  /**
   * Redacts every string inside a JSON-like value; reports where it found something. What holds no
   * secret comes back as the same object, not a copy.
   */
  redact<T>(value: T, where: string): T
  redactText(text: string, where: string): string
  /** The same for a value given as JSON text: the text itself when it holds no secret. */
  redactJson(json: string, where: string): string
  readonly redactions: readonly Redaction[]
}

/** Nesting past which a value is redacted through its JSON text (no deep recursion). */
const MAX_WALK_DEPTH = 100

/** Secrets shorter than this are not redacted: "abc" would shred ordinary text. */
export const MIN_REDACTED_LENGTH = 6

/**
 * The base64 text of a value wherever it sits in a longer string (as in Basic auth, `key + ':'`):
 * for each of the three byte alignments, the characters that depend on the value's bytes alone.
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8')
  return [0, 1, 2].map((shift) => {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes])
      .toString('base64')
      .replace(/=+$/, '')
    const first = Math.ceil((8 * shift) / 6)
    const end = Math.floor((8 * (shift + bytes.length)) / 6)
    return encoded.slice(first, end)
  })
}

interface Needle {
  text: string
  name: string
  /**
   * How the text reads inside a JSON string. Escaping goes character by character (values come
   * from UTF-8 storage, so there is no lone surrogate to pair differently in a longer string).
   */
  json: string
}

/**
 * The texts to look for, per set of secrets: a server hands the same resolved map to every
 * invocation of a trigger, so they are worked out once for it, not per invocation.
 */
const needlesOf = new WeakMap<ReadonlyMap<string, string>, readonly Needle[]>()
const NO_NEEDLES: readonly Needle[] = []

function findNeedles(secrets: ReadonlyMap<string, string>): readonly Needle[] {
  if (secrets.size === 0) return NO_NEEDLES
  let needles = needlesOf.get(secrets)
  if (needles === undefined) {
    needles = makeNeedles(secrets)
    needlesOf.set(secrets, needles)
  }
  return needles
}

/**
 * The value as WHATWG URL parsing writes it in a path (`new URL(base + value).pathname`). A "?" or
 * "#" would end the path there and make this a part of the value, which must never be looked for
 * (its redaction would tell a caller which prefix is right): they are escaped first.
 */
function urlPathForm(value: string): string {
  return new URL(`http://h/${value.replace(/[?#]/g, encodeURIComponent)}`).pathname.slice(1)
}

function makeNeedles(secrets: ReadonlyMap<string, string>): Needle[] {
  const needles: Needle[] = []
  for (const [name, value] of secrets) {
    if (value.length < MIN_REDACTED_LENGTH) continue
    const forms = new Set([
      value,
      ...base64Forms(value),
      encodeURIComponent(value),
      // As a URL writes it in a path or a whole URL (encodeURI, WHATWG URL): "@", "+" and "/" kept.
      encodeURI(value),
      urlPathForm(value),
      // Form bodies (URLSearchParams): spaces as "+", and !'()~ escaped too.
      new URLSearchParams({ v: value }).toString().slice(2),
      JSON.stringify(value).slice(1, -1),
      // Host names come back lowercased.
      value.toLowerCase(),
    ])
    for (const text of forms) needles.push({ text, name, json: JSON.stringify(text).slice(1, -1) })
  }
  // Longest first, so a value is not half-replaced by a shorter secret inside it.
  return needles.sort((a, b) => b.text.length - a.text.length)
}

/** For an invocation with nothing to look for (most of them): one, shared, that passes all through. */
const INACTIVE: Redactor = Object.freeze({
  active: false,
  redact: <T>(value: T) => value,
  redactText: (text: string) => text,
  redactJson: (json: string) => json,
  redactions: Object.freeze([]),
})

export function createRedactor(secrets: ReadonlyMap<string, string>): Redactor {
  const needles = findNeedles(secrets)
  if (needles.length === 0) return INACTIVE
  const redactions: Redaction[] = []

  const redactText = (text: string, where: string): string => {
    let result = text
    for (const { text: needle, name } of needles) {
      if (!result.includes(needle)) continue
      result = result.split(needle).join(`[redacted:${name}]`)
      if (!redactions.some((entry) => entry.secret === name && entry.where === where))
        redactions.push({ secret: name, where })
    }
    return result
  }

  const walk = (value: unknown, where: string, depth: number): unknown => {
    if (typeof value === 'string') return redactText(value, where)
    if (typeof value !== 'object' || value === null) return value
    if (depth > MAX_WALK_DEPTH) {
      // Deeper than any sane value: redact its JSON text instead of recursing further.
      try {
        return JSON.parse(redactText(JSON.stringify(value), where)) as unknown
      } catch {
        return '[redacted: value too deep to inspect]'
      }
    }
    // Copy on write: a value with no secret in it is returned itself.
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index]
        const clean = walk(item, where, depth + 1)
        if (clean !== item) (copy ??= value.slice())[index] = clean
      }
      return copy ?? value
    }
    const entries = Object.entries(value)
    let changed = false
    const cleaned = entries.map(([key, inner]): [string, unknown] => {
      const cleanKey = redactText(key, where)
      const cleanInner = walk(inner, where, depth + 1)
      if (cleanKey !== key || cleanInner !== inner) changed = true
      return [cleanKey, cleanInner]
    })
    return changed ? Object.fromEntries(cleaned) : value
  }

  return {
    active: true,
    redact: <T>(value: T, where: string) => walk(value, where, 0) as T,
    redactText,
    // A needle anywhere in the value, keys included, shows in the text in its JSON form. Only a
    // text where one shows is parsed and walked (a hit in a number or across syntax is walked too).
    redactJson: (json, where) =>
      needles.some((needle) => json.includes(needle.json))
        ? JSON.stringify(walk(JSON.parse(json) as unknown, where, 0))
        : json,
    redactions,
  }
}
