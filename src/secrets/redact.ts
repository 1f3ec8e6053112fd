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
  /** Redacts every string inside a JSON-like value; reports where it found something. */
  redact<T>(value: T, where: string): T
  redactText(text: string, where: string): string
  readonly redactions: readonly Redaction[]
}

/** Nesting past which a value is redacted through its JSON text (no deep recursion). */
const MAX_WALK_DEPTH = 100

/** Secrets shorter than this are not redacted: "abc" would shred ordinary text. */
const MIN_LENGTH = 6

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
}

/**
 * The texts to look for, per set of secrets: a server hands the same resolved map to every
 * invocation of a trigger, so they are worked out once for it, not per invocation.
 */
const needlesOf = new WeakMap<ReadonlyMap<string, string>, readonly Needle[]>()

function findNeedles(secrets: ReadonlyMap<string, string>): readonly Needle[] {
  let needles = needlesOf.get(secrets)
  if (needles === undefined) {
    needles = makeNeedles(secrets)
    needlesOf.set(secrets, needles)
  }
  return needles
}

function makeNeedles(secrets: ReadonlyMap<string, string>): Needle[] {
  const needles: Needle[] = []
  for (const [name, value] of secrets) {
    if (value.length < MIN_LENGTH) continue
    const forms = new Set([
      value,
      ...base64Forms(value),
      encodeURIComponent(value),
      // Form bodies (URLSearchParams): spaces as "+", and !'()~ escaped too.
      new URLSearchParams({ v: value }).toString().slice(2),
      JSON.stringify(value).slice(1, -1),
      // Host names come back lowercased.
      value.toLowerCase(),
    ])
    for (const text of forms) needles.push({ text, name })
  }
  // Longest first, so a value is not half-replaced by a shorter secret inside it.
  return needles.sort((a, b) => b.text.length - a.text.length)
}

export function createRedactor(secrets: ReadonlyMap<string, string>): Redactor {
  const needles = findNeedles(secrets)
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
    if (Array.isArray(value)) return value.map((item) => walk(item, where, depth + 1))
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [redactText(key, where), walk(inner, where, depth + 1)]),
    )
  }

  return {
    redact: <T>(value: T, where: string) => (needles.length === 0 ? value : (walk(value, where, 0) as T)),
    redactText: (text, where) => (needles.length === 0 ? text : redactText(text, where)),
    redactions,
  }
}
