// The runtimes of the matrix, one entry each. An entry names the package
// folder install.mjs installs for it (if any) and runs the scenario:
//
//   { name, package?, tls?, pageFiles?(bundles), unavailable?(), run({ bundles, mock, env, timeoutMs }) }
//
// `run` resolves with `{ version, steps, output }`: the runtime's version, the
// scenario's steps, and everything the runtime printed (stdout, stderr,
// console), in which the runner looks for tokens. `unavailable()` returns a
// reason to skip (e.g. no system browser). `tls` asks for the HTTPS (HTTP/2)
// origins, `pageFiles` for what the page origin serves. To add a check, add an
// entry (chromium's shows a browser page, chromium-tabs's several pages of one origin).
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { CHROMIUM_PATH, chromiumVersion, hasOpenssl, launchChromium } from './chromium.mjs'
import { runTabs } from './chromium-tabs.mjs'
import { bunPackage, INSTALL_DIR, PACKAGES, run } from './install.mjs'

const RESULT = 'RUNTIME_RESULT '

/** Runs `command` on the CLI bundle with the scenario's settings as argument; parses its result line. */
async function runCli(command, args, { bundles, env, timeoutMs }, extraEnv = {}) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const { code, out } = await run(command, [...args, bundles.cli, JSON.stringify(env)], {
      env: { ...process.env, ...extraEnv },
      signal: controller.signal,
      killSignal: 'SIGKILL',
    })
    const line = out.split('\n').find((l) => l.startsWith(RESULT))
    if (!line) {
      const why = controller.signal.aborted ? `timed out after ${timeoutMs} ms` : `exited with ${code}`
      throw new Error(`${why}, no result: ${out.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`)
    }
    const { version, steps } = JSON.parse(line.slice(RESULT.length))
    return { version, steps, output: out }
  } finally {
    clearTimeout(timer)
  }
}

/** The page the browser loads from the page origin: one bundle (by name, default the scenario's), nothing else. */
export const pageFiles = (bundles, name = 'browser') => ({
  '/index.html': {
    type: 'text/html',
    body: '<!doctype html><meta charset="utf-8"><title>runtime matrix</title><script type="module" src="/bundle.mjs"></script>',
  },
  '/bundle.mjs': { type: 'text/javascript', body: fs.readFileSync(bundles[name]) },
  '/favicon.ico': { type: 'image/x-icon', body: '' },
})

/**
 * Opens the matrix page in `browser` and collects what it prints: console
 * messages with the DevTools preview of each argument (what a developer sees
 * unexpanded), and uncaught errors. Waits for the bundle to define
 * `globalThis[global]` (default the scenario's `runScenario`). Resolves with
 * `{ page, output }`.
 */
export async function openPage(browser, mock, { global = 'runScenario' } = {}) {
  const page = await browser.newPage()
  const output = []
  page.on('console', (msg) =>
    output.push(`${msg.text()} ${JSON.stringify(msg.args().map((a) => a.remoteObject().preview ?? null))}`),
  )
  page.on('pageerror', (err) => output.push(`pageerror: ${err.message}`))
  await page.goto(`${mock.urls.page}/index.html`)
  await page.waitForFunction((name) => globalThis[name] !== undefined, { timeout: 10_000 }, global)
  return { page, output }
}

/** `promise`, or a rejection after `ms`. */
export function withTimeout(promise, ms) {
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** Why the Chromium checks cannot run here, if they cannot. */
function chromiumUnavailable() {
  if (!chromiumVersion()) return `no Chromium at ${CHROMIUM_PATH}: install Debian's (apt-get install chromium)`
  if (!hasOpenssl()) return 'no openssl: it makes the certificate of the HTTPS (HTTP/2) origins'
}

const nodeRuntime = (major) => ({
  name: 'node',
  package: `node${major}`,
  run: (ctx) => runCli(PACKAGES[`node${major}`].probe, [], ctx),
})

export const RUNTIMES = [
  nodeRuntime(22),
  nodeRuntime(24),
  {
    name: 'bun',
    package: bunPackage(),
    run: (ctx) => runCli(PACKAGES[bunPackage()].probe, ['run', '--no-install'], ctx),
  },
  {
    name: 'deno',
    package: 'deno',
    // Network to 127.0.0.1 only; no read, env or other permission (the main module needs none).
    run: (ctx) =>
      runCli(PACKAGES.deno.probe, ['run', '--allow-net=127.0.0.1', '--no-prompt', '--no-config'], ctx, {
        DENO_DIR: path.join(INSTALL_DIR, 'deno-dir'),
        DENO_NO_UPDATE_CHECK: '1',
      }),
  },
  {
    name: 'workerd',
    package: 'workerd',
    async run({ bundles, env, timeoutMs }) {
      const require = createRequire(path.join(INSTALL_DIR, 'workerd', 'node_modules', 'x.js'))
      const { Miniflare } = await import(require.resolve('miniflare'))
      const miniflareVersion = require('miniflare/package.json').version
      let output = ''
      const mf = new Miniflare({
        modules: true,
        script: fs.readFileSync(bundles.worker, 'utf8'),
        compatibilityDate: '2026-07-30',
        handleRuntimeStdio(stdout, stderr) {
          stdout.on('data', (d) => (output += d))
          stderr.on('data', (d) => (output += d))
        },
      })
      try {
        // workerd reaches the loopback origins directly: no outboundService needed.
        const res = await withTimeout(
          mf.dispatchFetch('http://matrix.test/', { method: 'POST', body: JSON.stringify(env) }),
          timeoutMs,
        )
        const text = await res.text()
        if (res.status !== 200) throw new Error(`the worker answered ${res.status}: ${text.slice(0, 400)}`)
        const version = (await run(PACKAGES.workerd.probe, ['--version'])).out.trim().replace(/^workerd /, '')
        return {
          version: `${version} (miniflare ${miniflareVersion})`,
          steps: JSON.parse(text).steps,
          output: output + text,
        }
      } finally {
        await mf.dispose()
      }
    },
  },
  {
    name: 'chromium',
    package: 'chromium',
    tls: true,
    pageFiles,
    unavailable: chromiumUnavailable,
    async run({ mock, env, timeoutMs }) {
      const browser = await launchChromium()
      try {
        const { page, output } = await openPage(browser, mock)
        const steps = await withTimeout(
          page.evaluate((e) => globalThis.runScenario(e), env),
          timeoutMs,
        )
        const version = (await browser.version()).replace(/^\D*\//, '')
        return { version, steps, output: `${output.join('\n')}\n${JSON.stringify(steps)}` }
      } finally {
        await browser.close()
      }
    },
  },
  {
    // Not a runtime of its own: the browser store's check, 4 pages of one origin sharing one session.
    name: 'chromium-tabs',
    package: 'chromium',
    tls: true,
    pageFiles: (bundles) => pageFiles(bundles, 'tabs'),
    unavailable: chromiumUnavailable,
    run: (ctx) => runTabs(ctx),
  },
]
