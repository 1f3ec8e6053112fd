import { describe, it, expect } from 'vitest'
import { parseDotenv } from '../../src/secrets/dotenv.js'

/** name -> value of the entries, for compact expectations. */
function values(text: string): Record<string, string> {
  const { entries, problems } = parseDotenv(text)
  expect(problems).toEqual([])
  return Object.fromEntries(entries.map((entry) => [entry.name, entry.value]))
}

function valueOf(text: string): string {
  const { entries, problems } = parseDotenv(text)
  expect(problems).toEqual([])
  expect(entries).toHaveLength(1)
  return entries[0]!.value
}

describe('parseDotenv: values', () => {
  const cases: Array<{ title: string; text: string; value: string }> = [
    { title: 'plain', text: 'FOO=bar', value: 'bar' },
    { title: 'export prefix', text: 'export FOO=bar', value: 'bar' },
    { title: 'export prefix with a tab and indentation', text: '  export\tFOO=bar', value: 'bar' },
    { title: 'spaces around "="', text: 'FOO = bar', value: 'bar' },
    { title: 'trailing whitespace trimmed', text: 'FOO=bar   \t', value: 'bar' },
    { title: 'empty value', text: 'FOO=', value: '' },
    { title: 'empty double quotes', text: 'FOO=""', value: '' },
    { title: 'empty single quotes', text: "FOO=''", value: '' },
    { title: '"=" inside the value', text: 'FOO=a=b==c', value: 'a=b==c' },
    { title: 'base64 padding', text: 'KEY=c2VjcmV0==', value: 'c2VjcmV0==' },
    {
      title: 'URL with query',
      text: 'URL=https://x.com/a?b=1&c=2#frag',
      value: 'https://x.com/a?b=1&c=2#frag',
    },
    { title: 'inline comment after a space', text: 'FOO=bar # the bar', value: 'bar' },
    { title: 'inline comment after a tab', text: 'FOO=bar\t# the bar', value: 'bar' },
    { title: '"#" without a space before is part of the value', text: 'FOO=bar#baz', value: 'bar#baz' },
    { title: 'inner spaces kept', text: 'FOO=hello big world', value: 'hello big world' },
    { title: 'quote inside an unquoted value', text: `FOO=it's`, value: "it's" },
    {
      title: 'single quotes are literal',
      text: String.raw`FOO='a\nb $X \" #c'`,
      value: String.raw`a\nb $X \" #c`,
    },
    { title: 'single quotes keep spaces', text: "FOO='  padded  '", value: '  padded  ' },
    { title: 'double quotes keep spaces and #', text: 'FOO="  a # b  "', value: '  a # b  ' },
    { title: 'double quote escape \\n', text: String.raw`FOO="a\nb"`, value: 'a\nb' },
    { title: 'double quote escape \\t and \\r', text: String.raw`FOO="a\tb\rc"`, value: 'a\tb\rc' },
    { title: 'double quote escape \\"', text: String.raw`FOO="say \"hi\""`, value: 'say "hi"' },
    { title: 'double quote escape \\\\', text: String.raw`FOO="C:\\path\\"`, value: 'C:\\path\\' },
    { title: 'escaped backslash before n', text: String.raw`FOO="a\\nb"`, value: String.raw`a\nb` },
    { title: 'unknown escape kept', text: String.raw`FOO="a\qb"`, value: String.raw`a\qb` },
    { title: 'single quote inside double quotes', text: `FOO="it's"`, value: "it's" },
    { title: 'double quote inside single quotes', text: `FOO='say "hi"'`, value: 'say "hi"' },
    { title: 'comment after a closing quote', text: 'FOO="bar" # note', value: 'bar' },
    { title: 'comment right after a closing quote', text: "FOO='bar'#note", value: 'bar' },
    { title: 'spaces after a closing quote', text: 'FOO="bar"   ', value: 'bar' },
    { title: 'spaces before the opening quote', text: 'FOO=  "bar"', value: 'bar' },
    { title: 'unicode value', text: 'FOO=pässwörd-🔑-秘密', value: 'pässwörd-🔑-秘密' },
  ]

  it.each(cases)('$title', ({ text, value }) => {
    expect(valueOf(text)).toBe(value)
  })

  it('keeps the name exactly as written', () => {
    const { entries } = parseDotenv('OPENAI_API_KEY=sk\nlower_case=x')
    expect(entries.map((entry) => entry.name)).toEqual(['OPENAI_API_KEY', 'lower_case'])
  })

  // The doc comment: unquoted values are "trimmed and cut at ` #`". With nothing but a comment after "=",
  // the value is empty, as in every other dotenv parser.
  it.each(['FOO= # just a comment', 'FOO=   # just a comment', 'FOO=\t# just a comment'])(
    'an unquoted value that is only a comment is empty: %j',
    (text) => {
      expect(valueOf(text)).toBe('')
    },
  )
})

describe('parseDotenv: file structure', () => {
  it('skips comments and blank lines and numbers entries by their line', () => {
    const text = ['# header', '', 'A=1', '   ', '  # indented comment', 'B=2', '\t', 'C=3', ''].join('\n')
    const { entries, problems } = parseDotenv(text)
    expect(problems).toEqual([])
    expect(entries).toEqual([
      { name: 'A', value: '1', line: 3 },
      { name: 'B', value: '2', line: 6 },
      { name: 'C', value: '3', line: 8 },
    ])
  })

  it('reads a multi-line double-quoted value and keeps counting lines after it', () => {
    const text = [
      'A=1',
      'CERT="-----BEGIN-----',
      'line two',
      '  indented # not a comment',
      '-----END-----"',
      'B=2',
    ].join('\n')
    const { entries, problems } = parseDotenv(text)
    expect(problems).toEqual([])
    expect(entries).toEqual([
      { name: 'A', value: '1', line: 1 },
      {
        name: 'CERT',
        value: '-----BEGIN-----\nline two\n  indented # not a comment\n-----END-----',
        line: 2,
      },
      { name: 'B', value: '2', line: 6 },
    ])
  })

  it('does not end a multi-line value at an escaped quote', () => {
    const text = ['JSON="{', String.raw`  \"k\": 1`, '}"', 'NEXT=x'].join('\n')
    expect(values(text)).toEqual({ JSON: '{\n  "k": 1\n}', NEXT: 'x' })
  })

  it('handles CRLF line endings, also inside a multi-line value', () => {
    const text = 'A=1\r\nB="two\r\nlines"\r\n# c\r\nC=three # c\r\n'
    const { entries, problems } = parseDotenv(text)
    expect(problems).toEqual([])
    expect(entries).toEqual([
      { name: 'A', value: '1', line: 1 },
      { name: 'B', value: 'two\nlines', line: 2 },
      { name: 'C', value: 'three', line: 5 },
    ])
    for (const entry of entries) expect(entry.value).not.toContain('\r')
  })

  it('ignores a byte order mark', () => {
    const { entries, problems } = parseDotenv('\uFEFFFIRST=1\nSECOND=2')
    expect(problems).toEqual([])
    expect(entries.map((entry) => entry.name)).toEqual(['FIRST', 'SECOND'])
    expect(entries[0]!.name).not.toContain('\uFEFF')
  })

  it('returns nothing for an empty file', () => {
    expect(parseDotenv('')).toEqual({ entries: [], problems: [] })
    expect(parseDotenv('\n\n# only comments\n')).toEqual({ entries: [], problems: [] })
  })

  it('keeps duplicate names in order, so the caller can decide', () => {
    const { entries } = parseDotenv('A=1\nA=2')
    expect(entries.map((entry) => [entry.name, entry.value, entry.line])).toEqual([
      ['A', '1', 1],
      ['A', '2', 2],
    ])
  })
})

describe('parseDotenv: bad lines', () => {
  it.each([
    { text: 'JUST_A_NAME', line: 1, message: 'NAME=value' },
    { text: 'export FOO', line: 1, message: 'NAME=value' },
    { text: '=value', line: 1, message: 'NAME=value' },
    { text: 'TWO WORDS=x', line: 1, message: 'NAME=value' },
    { text: 'FOO="never closed', line: 1, message: 'double quote is never closed' },
    { text: "FOO='never closed", line: 1, message: 'single quote is never closed' },
    { text: 'FOO="a" b', line: 1, message: 'after the closing quote' },
    { text: "FOO='a'b", line: 1, message: 'after the closing quote' },
  ])('$text -> line $line: $message', ({ text, line, message }) => {
    const { entries, problems } = parseDotenv(text)
    expect(entries).toEqual([])
    expect(problems).toHaveLength(1)
    expect(problems[0]!.line).toBe(line)
    expect(problems[0]!.message).toContain(message)
  })

  it('reports every bad line with its own number and keeps the good ones', () => {
    const text = ['GOOD=1', 'no equals sign', '# fine', 'BAD="x" y', 'ALSO_GOOD=2', 'ANOTHER BAD LINE'].join(
      '\n',
    )
    const { entries, problems } = parseDotenv(text)
    expect(entries.map((entry) => [entry.name, entry.line])).toEqual([
      ['GOOD', 1],
      ['ALSO_GOOD', 5],
    ])
    expect(problems.map((problem) => problem.line)).toEqual([2, 4, 6])
  })

  it('numbers a bad line after a multi-line value by its real line', () => {
    const text = ['A="one', 'two"', 'oops', 'B=1'].join('\n')
    const { entries, problems } = parseDotenv(text)
    expect(entries.map((entry) => [entry.name, entry.line])).toEqual([
      ['A', 1],
      ['B', 4],
    ])
    expect(problems).toEqual([{ line: 3, message: expect.stringContaining('NAME=value') }])
  })

  it('reports an unclosed quote at the line where it opened, with CRLF too', () => {
    const { problems } = parseDotenv('A=1\r\nB=2\r\nC="open\r\nD=4\r\n')
    expect(problems).toHaveLength(1)
    expect(problems[0]!.line).toBe(3)
    expect(problems[0]!.message).toContain('never closed')
  })

  it('never puts a value into a problem message', () => {
    const { problems } = parseDotenv('TOKEN="sk-secret-value" trailing\nOTHER="sk-other-secret')
    expect(problems).toHaveLength(2)
    for (const problem of problems) {
      expect(problem.message).not.toContain('sk-secret-value')
      expect(problem.message).not.toContain('sk-other-secret')
    }
  })
})
