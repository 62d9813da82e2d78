// Headless Chromium for the matrix (and for browser tests beside it): Debian's
// `chromium` package driven by puppeteer-core from .install/chromium, which
// downloads no browser of its own.
//
// The mock's origins are served over HTTPS with HTTP/2 for the browser
// (`tlsCert()` gives the key pair): Chromium sends a streamed request body
// only over HTTP/2 or later. The certificate is a throwaway one for
// 127.0.0.1, made with openssl and trusted by this browser instance only
// (`acceptInsecureCerts`).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { INSTALL_DIR } from './install.mjs'

/** Where Debian installs it; CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

/** Chromium's version line (`Chromium 156.0…`), or undefined when it is not installed. */
export function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

/** Whether openssl (which makes the certificate) runs. */
export function hasOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * A self-signed certificate for 127.0.0.1 (cached in .install/tls/ for 20 days),
 * `{ key, cert }` for `https.createServer`. Throws when openssl is missing.
 */
export function tlsCert() {
  const dir = path.join(INSTALL_DIR, 'tls')
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  const fresh = fs.existsSync(cert) && Date.now() - fs.statSync(cert).mtimeMs < 20 * 86_400_000
  if (!fresh) {
    fs.mkdirSync(dir, { recursive: true })
    // prettier-ignore
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' })
  }
  return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) }
}

/** puppeteer-core from .install/chromium (install.mjs installs it). */
export async function puppeteer() {
  const require = createRequire(path.join(INSTALL_DIR, 'chromium', 'node_modules', 'x.js'))
  return (await import(require.resolve('puppeteer-core'))).default
}

/**
 * Launches headless Chromium. `--no-sandbox` because CI runs as root, where
 * Chromium's sandbox refuses to start.
 */
export async function launchChromium() {
  return (await puppeteer()).launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    acceptInsecureCerts: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
    // puppeteer's default (30 s) was too short for a cold start on a loaded 2-core machine.
    timeout: 120_000,
  })
}
