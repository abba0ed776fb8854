// A real headless browser for pages: Debian's chromium, driven by playwright-core (which downloads
// no browser of its own). Without chromium the browser tests are skipped with a printed reason,
// except under CI=true, where that is a failure (.ci/run installs it).
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
const executablePath = process.env.CHROMIUM_PATH || CANDIDATES.find((p) => existsSync(p))

export function browserAvailable(): boolean {
  if (executablePath) return true
  const why = 'chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)'
  if (process.env.CI === 'true') throw new Error(`browser tests cannot run: ${why}. .ci/run installs it.`)
  console.warn(`skipping browser tests: ${why}`)
  return false
}

export function launchBrowser(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where chromium's sandbox will not start.
  return chromium.launch({ executablePath: executablePath!, args: ['--no-sandbox', '--disable-gpu'] })
}
