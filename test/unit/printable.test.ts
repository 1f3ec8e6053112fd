import { describe, expect, it } from 'vitest'
import { printable } from '../../src/cli/output.js'

describe('printable', () => {
  it('escapes what a terminal would act on, as JSON writes it, and leaves the rest', () => {
    expect(printable('a\nb\r\u0000\u0007\u001b[31m\u007f\u009b2J')).toBe(
      'a\\nb\\r\\u0000\\u0007\\u001b[31m\\u007f\\u009b2J',
    )
    // Line separators and bidirectional overrides: text shown other than it is.
    expect(printable('\u2028\u2029\u202a\u202e\u2066\u2069')).toBe(
      '\\u2028\\u2029\\u202a\\u202e\\u2066\\u2069',
    )
    // Tabs, accents, emoji and other scripts are shown as they are.
    const plain = 'tab\there é ✔ 日本 🙂 ¡'
    expect(printable(plain)).toBe(plain)
  })
})
