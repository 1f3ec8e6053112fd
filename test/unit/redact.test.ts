import { describe, expect, it } from 'vitest'
import { createRedactor } from '../../src/secrets/redact.js'

const KEY = 'sk-live-a/b+c=d?e&f"gh'
const encodings = (prefix: string, suffix: string) => Buffer.from(prefix + KEY + suffix).toString('base64')

describe('redaction', () => {
  it.each([
    ['raw', `token ${KEY} end`],
    ['URL-encoded', `https://x.example/?k=${encodeURIComponent(KEY)}`],
    ['as encodeURI writes it', `https://x.example/${encodeURI(KEY)}`],
    ['as a URL writes it in a path', new URL(`https://x.example/x/${encodeURIComponent('?')}${KEY}`).href],
    ['JSON-escaped', JSON.stringify({ key: KEY })],
    ['base64 alone', encodings('', '')],
    ['base64 as Basic auth', `Basic ${encodings('', ':')}`],
    ['base64 at offset 1', encodings('a', 'bc')],
    ['base64 at offset 2', encodings('ab', 'c')],
  ])('replaces the %s form and reports where', (_form, text) => {
    const redactor = createRedactor(new Map([['OPENAI_API_KEY', KEY]]))
    const result = redactor.redactText(text, 'logs[0]')
    expect(result).toContain('[redacted:OPENAI_API_KEY]')
    expect(result).not.toContain(KEY)
    expect(redactor.redactions).toEqual([{ secret: 'OPENAI_API_KEY', where: 'logs[0]' }])
  })

  it('a password as a URL writes it in a path is found; a part of a value never is', () => {
    const password = 'p@ss w0rd+/x'
    const redactor = createRedactor(new Map([['PW', password]]))
    expect(redactor.redactText(new URL(`https://x.example/x/${password}`).href, 'result')).toBe(
      'https://x.example/x/[redacted:PW]',
    )
    // "?" would end the path: what is before it is only a part of the value, and stays as it is.
    const withQuery = createRedactor(new Map([['Q', 'abcdefgh?ijkl']]))
    expect(withQuery.redactText('abcdefgh and abcdefgh?ijkl', 'result')).toBe('abcdefgh and [redacted:Q]')
  })

  it('walks nested values, keys included, and leaves other data alone', () => {
    const redactor = createRedactor(new Map([['K', KEY]]))
    expect(redactor.redact({ [KEY]: [1, { deep: `x${KEY}x` }], n: 2, ok: true }, 'result')).toEqual({
      '[redacted:K]': [1, { deep: 'x[redacted:K]x' }],
      n: 2,
      ok: true,
    })
  })

  it('returns a value that holds no secret as the same object, and copies only what it changes', () => {
    const redactor = createRedactor(new Map([['K', KEY]]))
    const clean = { list: [1, { a: 'b' }], n: null }
    expect(redactor.redact(clean, 'result')).toBe(clean)
    const dirty = { keep: { a: 'b' }, list: ['x', `x${KEY}`] }
    const redacted = redactor.redact(dirty, 'result')
    expect(redacted).toEqual({ keep: { a: 'b' }, list: ['x', 'x[redacted:K]'] })
    expect(redacted.keep).toBe(dirty.keep)
    expect(dirty.list[1]).toBe(`x${KEY}`)
  })

  describe('JSON text', () => {
    const secretWithQuote = 'Sk-"Quoted\\Value'
    const redactor = () =>
      createRedactor(
        new Map([
          ['K', KEY],
          ['Q', secretWithQuote],
        ]),
      )
    it.each([
      ['a string value', { reply: `token ${KEY}` }],
      ['a key', { [KEY]: 1 }],
      ['a value with JSON escapes', { reply: `x${secretWithQuote}x` }],
      ['the lowercase form of a value with JSON escapes', { host: secretWithQuote.toLowerCase() }],
      ['a nested array', [[{ deep: [KEY] }]]],
    ])('redacts a secret in %s, as the value walk does', (_where, value) => {
      const fromText = redactor()
      const fromValue = redactor()
      const json = fromText.redactJson(JSON.stringify(value), 'result')
      expect(json).toBe(JSON.stringify(fromValue.redact(value, 'result')))
      expect(json).not.toContain(KEY)
      expect(json).not.toContain(JSON.stringify(secretWithQuote).slice(1, -1))
      expect(json).not.toContain(JSON.stringify(secretWithQuote.toLowerCase()).slice(1, -1))
      expect(fromText.redactions).toEqual(fromValue.redactions)
      expect(fromText.redactions.length).toBeGreaterThan(0)
    })

    it('passes a text with no secret through as it is', () => {
      const json = JSON.stringify({ reply: 'nothing to see', n: 1 })
      const redactor = createRedactor(new Map([['K', KEY]]))
      expect(redactor.redactJson(json, 'result')).toBe(json)
      expect(redactor.redactions).toEqual([])
      expect(createRedactor(new Map()).redactJson(json, 'result')).toBe(json)
    })
  })

  it('skips values too short to redact safely', () => {
    const redactor = createRedactor(new Map([['SHORT', 'abc']]))
    expect(redactor.redactText('abcdef', 'result')).toBe('abcdef')
  })
})
