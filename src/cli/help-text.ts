/**
 * A command's `--help` description, written in the source as paragraphs wrapped at 100 columns:
 * the line breaks inside a paragraph become spaces, so oclif wraps the text to the terminal's width
 * once. Kept, each source line was wrapped again on its own, and an 80-column terminal showed every
 * description as alternating long and short lines. A blank line still starts a paragraph.
 */
export function prose(text: string): string {
  return text
    .split(/\n[ \t]*\n/)
    .map((paragraph) => paragraph.trim().replace(/[ \t]*\n[ \t]*/g, ' '))
    .join('\n\n')
}
