/**
 * A dotenv file, for `centrali secrets import`: `NAME=value` lines, `export ` prefixes, `#`
 * comments, single quotes (literal), double quotes (with \n, \t, \", \\ escapes, may span lines),
 * unquoted values trimmed and cut at ` #`. Every bad line is reported with its number.
 */
export interface DotenvEntry {
  name: string
  value: string
  line: number
}

export interface DotenvProblem {
  line: number
  message: string
}

const ASSIGNMENT = /^\s*(?:export\s+)?([^=\s]+)\s*=(.*)$/

export function parseDotenv(text: string): { entries: DotenvEntry[]; problems: DotenvProblem[] } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  const entries: DotenvEntry[] = []
  const problems: DotenvProblem[] = []
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1
    const line = lines[index]!
    if (/^\s*(#|$)/.test(line)) continue
    const match = ASSIGNMENT.exec(line)
    if (!match) {
      problems.push({ line: lineNumber, message: 'expected NAME=value' })
      continue
    }
    const name = match[1]!
    const raw = match[2]!
    let rest = raw.trimStart()
    let value: string
    const quote = rest[0]
    if (quote === '"' || quote === "'") {
      // A quoted value may continue on the following lines until its closing quote.
      let body = rest.slice(1)
      let end = findClosingQuote(body, quote)
      while (end === -1 && index + 1 < lines.length) {
        index++
        body += `\n${lines[index]!}`
        end = findClosingQuote(body, quote)
      }
      if (end === -1) {
        problems.push({
          line: lineNumber,
          message: `the ${quote === '"' ? 'double' : 'single'} quote is never closed`,
        })
        continue
      }
      const after = body.slice(end + 1).trim()
      if (after !== '' && !after.startsWith('#')) {
        problems.push({ line: lineNumber, message: 'unexpected text after the closing quote' })
        continue
      }
      rest = body.slice(0, end)
      value = quote === '"' ? unescapeDoubleQuoted(rest) : rest
    } else {
      // ` #` starts a comment; a value that is only a comment is empty.
      value = /^\s*#/.test(raw) && raw !== rest ? '' : rest.replace(/\s+#.*$/, '').trim()
    }
    entries.push({ name, value, line: lineNumber })
  }
  return { entries, problems }
}

function findClosingQuote(body: string, quote: string): number {
  for (let index = 0; index < body.length; index++) {
    if (quote === '"' && body[index] === '\\') index++
    else if (body[index] === quote) return index
  }
  return -1
}

function unescapeDoubleQuoted(text: string): string {
  const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' }
  return text.replace(/\\(.)/g, (whole, char: string) => escapes[char] ?? whole)
}
