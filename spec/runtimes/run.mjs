// `npm run test:runtimes`: the runtime matrix. Installs the runtimes (cached,
// install.mjs), bundles the scenario with the library (bundle.mjs), then runs
// it in each runtime of runtimes.mjs against a fresh set of loopback origins
// (mock-server.mjs), one runtime after the other, and prints one line each:
//
//   PASS node 22.23.3  11/11 steps  0.6 s
//   FAIL workerd 2026-07-30 (…)  10/11 steps  1.1 s
//        ✗ authenticated stream upload: TypeError: …
//   SKIPPED chromium: no Chromium at /usr/bin/chromium: install Debian's (apt-get install chromium)
//
// then `N passed, N failed` (`, N skipped`). Exits 1 on any failure; with CI
// set, a skipped runtime counts as failed (CI must run every one).
//
//   node spec/runtimes/run.mjs [-v] [name…]   # -v: every step; names filter (node, bun, deno, workerd, chromium, chromium-tabs)
import fs from 'node:fs'
import path from 'node:path'
import { buildBundles } from './bundle.mjs'
import { tlsCert } from './chromium.mjs'
import { INSTALL_DIR, install } from './install.mjs'
import { HANDLE, PASSWORD, startMockServer } from './mock-server.mjs'
import { RUNTIMES } from './runtimes.mjs'

const RUNTIME_TIMEOUT_MS = 120_000
const STEP_TIMEOUT_MS = 20_000
const CONSOLE_MARK = 'scenario: console.log(agent) ='
const ci = !!process.env.CI && process.env.CI !== 'false'
const argv = process.argv.slice(2)
const verbose = argv.includes('-v')
const only = argv.filter((a) => a !== '-v')
const t0 = performance.now()
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`

/**
 * The runner's own step: nothing the runtime printed (console, stdout, the
 * result) holds any token the mock issued (their payload part, which every
 * form of a token contains), and its console output was captured at all.
 */
function outputStep(output, mock) {
  const leaked = mock.issuedTokens().filter((t) => output.includes(t.split('.')[1]))
  const ok = output.includes(CONSOLE_MARK) && leaked.length === 0
  const detail = !output.includes(CONSOLE_MARK)
    ? "the scenario's console.log line is not in the captured output"
    : leaked.length
      ? `${leaked.length} issued token(s) in the runtime's output`
      : `${output.length} characters checked`
  return { name: "no token in the runtime's output", ok, detail, ms: 0 }
}

async function runOne(runtime, bundles) {
  const started = performance.now()
  let mock
  try {
    mock = await startMockServer(runtime.tls ? { tls: tlsCert(), pageFiles: pageFilesFor(runtime, bundles) } : {})
    const env = { ...mock.urls, identifier: HANDLE, password: PASSWORD, stepTimeoutMs: STEP_TIMEOUT_MS }
    const { version, steps, output } = await runtime.run({ bundles, mock, env, timeoutMs: RUNTIME_TIMEOUT_MS })
    return { version, steps: [...steps, outputStep(output, mock)], ms: performance.now() - started }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err), ms: performance.now() - started }
  } finally {
    await mock?.close()
  }
}

const pageFilesFor = (runtime, bundles) => (runtime.pageFiles ? runtime.pageFiles(bundles) : undefined)

const selected = RUNTIMES.filter((r) => only.length === 0 || only.includes(r.name))
if (selected.length === 0) {
  console.error(`test:runtimes: no runtime named ${only.join(', ')} (known: ${RUNTIMES.map((r) => r.name).join(', ')})`)
  process.exit(2)
}

// 1. Install (cached). A runtime whose install fails is skipped with the reason.
const skipped = new Map()
const installed = new Map()
for (const runtime of selected) {
  const reason = runtime.unavailable?.()
  if (reason) {
    skipped.set(runtime, reason)
    continue
  }
  if (!runtime.package) continue
  if (!installed.has(runtime.package)) installed.set(runtime.package, await install(runtime.package))
  const result = installed.get(runtime.package)
  if (!result.ok) skipped.set(runtime, `${runtime.package} could not be installed: ${result.reason}`)
}
const installMs = performance.now() - t0
const fresh = [...installed].filter(([, r]) => r.ok && !r.cached).map(([name]) => name)
const broken = [...installed].filter(([, r]) => !r.ok).map(([name]) => name)
console.log(
  `test:runtimes: installs checked in ${seconds(installMs)}` +
    (fresh.length ? `; installed now: ${fresh.join(', ')}` : '') +
    (broken.length ? `; not installed: ${broken.join(', ')}` : ''),
)

// 2. One bundle per kind of runtime. If the library does not bundle, every runtime fails.
// A folder of this run's own, so that two runs at once never read each other's half-written bundle.
fs.mkdirSync(INSTALL_DIR, { recursive: true })
const bundleDir = fs.mkdtempSync(path.join(INSTALL_DIR, 'bundles-'))
let bundles
let bundleError
try {
  bundles = await buildBundles(bundleDir)
} catch (err) {
  bundleError = `the scenario does not bundle: ${err instanceof Error ? err.message.split('\n')[0] : err}`
}

// 3. Run, one runtime at a time (the counts are exact either way; one at a
// time keeps each runtime's wall time its own on a 2-core machine).
let passed = 0
let failed = 0
let skips = 0
for (const runtime of selected) {
  if (skipped.has(runtime)) {
    console.log(`SKIPPED ${runtime.name}: ${skipped.get(runtime)}${ci ? ' (CI: counted as failed)' : ''}`)
    if (ci) failed++
    else skips++
    continue
  }
  const r = bundleError ? { error: bundleError, ms: 0 } : await runOne(runtime, bundles)
  if (r.error) {
    failed++
    console.log(`FAIL ${runtime.name}  ${seconds(r.ms)}\n     ✗ ${r.error}`)
    continue
  }
  const ok = r.steps.filter((s) => s.ok).length
  const pass = ok === r.steps.length
  if (pass) passed++
  else failed++
  console.log(`${pass ? 'PASS' : 'FAIL'} ${runtime.name} ${r.version}  ${ok}/${r.steps.length} steps  ${seconds(r.ms)}`)
  for (const s of r.steps) {
    if (!s.ok || verbose) console.log(`     ${s.ok ? '✓' : '✗'} ${s.name}${s.detail ? `: ${s.detail}` : ''}`)
  }
}

fs.rmSync(bundleDir, { recursive: true, force: true })
console.log(`test:runtimes: ${seconds(performance.now() - t0)} in all`)
console.log(`${passed} passed, ${failed} failed${skips ? `, ${skips} skipped` : ''}`)
process.exitCode = failed ? 1 : 0
