import { describe, expect, it } from 'vitest'
import { createRedactor } from '../../src/secrets/redact.js'

const KEY = 'sk-live-a/b+c=d?e&f"gh'
const encodings = (prefix: string, suffix: string) => Buffer.from(prefix + KEY + suffix).toString('base64')

describe('redaction', () => {
  it.each([
    ['raw', `token ${KEY} end`],
    ['URL-encoded', `https://x.example/?k=${encodeURIComponent(KEY)}`],
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

  it('walks nested values, keys included, and leaves other data alone', () => {
    const redactor = createRedactor(new Map([['K', KEY]]))
    expect(redactor.redact({ [KEY]: [1, { deep: `x${KEY}x` }], n: 2, ok: true }, 'result')).toEqual({
      '[redacted:K]': [1, { deep: 'x[redacted:K]x' }],
      n: 2,
      ok: true,
    })
  })

  it('skips values too short to redact safely', () => {
    const redactor = createRedactor(new Map([['SHORT', 'abc']]))
    expect(redactor.redactText('abcdef', 'result')).toBe('abcdef')
  })
})
