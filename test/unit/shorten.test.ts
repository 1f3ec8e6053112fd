import { describe, expect, it } from 'vitest'
import { shorten } from '../../src/shared/shorten.js'

describe('shorten', () => {
  it('keeps a text that fits', () => {
    expect(shorten('short', 10)).toBe('short')
  })

  it('never keeps part of a word the cut falls in: a secret is kept whole or not at all', () => {
    const secret = 'sk_live_Ab3dEf9hIjK1mN0pQr'
    for (let pad = 0; pad < 40; pad++) {
      const text = `Invalid key ${'x'.repeat(pad)} ${secret} given`
      const shown = shorten(text, 40)
      expect(shown.length, String(pad)).toBeLessThanOrEqual(41)
      // Whatever of the key is shown is all of it.
      const shownKey = /sk_\S*/.exec(shown)?.[0]?.replace(/…$/, '')
      if (shownKey !== undefined) expect(shownKey, String(pad)).toBe(secret)
    }
    // Inside a URL too: "=" may end a base64 secret, so "key=…" goes with it.
    expect(shorten(`https://api.example.com:99999/x?key=${secret}&a=1`, 50)).toBe(
      'https://api.example.com:99999/x?…',
    )
  })

  it('cuts at a word boundary as it is', () => {
    expect(shorten('one two three', 7)).toBe('one two…')
    expect(shorten('one two three', 6)).toBe('one …')
  })
})
