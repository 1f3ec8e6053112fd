import { execFileSync } from 'node:child_process'
import { chromium, type Browser } from 'playwright-core'

/**
 * Debian's Chromium (`.ci/run` installs it), driven by playwright-core: headless, no sandbox (CI
 * runs as root), no background networking or component updates — nothing is downloaded.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'])
    .toString()
    .trim()
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}
