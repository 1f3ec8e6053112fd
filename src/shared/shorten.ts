/** What a secret is made of (API keys, tokens, their base64 and percent-encoded forms). */
const WORD_CHAR = /[\w\-+/=.~%]/
const TRAILING_WORD = /[\w\-+/=.~%]+$/

/**
 * `text` cut to at most `max` characters for a message, never inside a word: a cut through a
 * secret would leave all of it but its end, which redaction (it looks for whole values) cannot
 * recognise. The word the cut falls in is dropped whole, and "…" marks the cut. Pure: the sandbox
 * worker and the Cloudflare runtime use it too.
 */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text
  const kept = text.slice(0, max)
  return `${WORD_CHAR.test(text[max]!) ? kept.replace(TRAILING_WORD, '') : kept}…`
}
