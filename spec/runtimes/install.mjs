// Installs the runtimes of the matrix from the npm registry, each from its own
// package.json + package-lock.json in packages/<name>/ into .install/<name>/
// (gitignored), with `npm ci`. Cached: an install whose lockfile hash matches
// and whose binary answers `--version` costs one process start.
//
//   node spec/runtimes/install.mjs [name…]   # all by default; prints one line each
//
// One folder per runtime, so that one that cannot be installed (no registry,
// another CPU) is reported on its own and the others still run. Bun comes in
// two builds: the default one needs AVX2; without it (read from /proc/cpuinfo)
// the baseline build is installed instead.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const HERE = import.meta.dirname
export const INSTALL_DIR = path.join(HERE, '.install')
// Bump to force a reinstall everywhere when this file's layout changes.
const LAYOUT = 1

/** Whether the CPU has AVX2 (Bun's default build needs it). */
export function hasAvx2() {
  try {
    return /^flags\s*:.*\bavx2\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'))
  } catch {
    return false
  }
}

const bin = (name, ...rel) => path.join(INSTALL_DIR, name, 'node_modules', ...rel)

/**
 * What each package folder installs and how to tell it works: `probe` is the
 * binary run with `--version`, `expect` a pattern its first line must match.
 */
export const PACKAGES = {
  node22: { probe: bin('node22', 'node22', 'bin', 'node'), expect: /^v22\./ },
  node24: { probe: bin('node24', 'node24', 'bin', 'node'), expect: /^v24\./ },
  bun: { probe: bin('bun', '@oven', 'bun-linux-x64', 'bin', 'bun'), expect: /^\d+\.\d+\.\d+/ },
  'bun-baseline': {
    probe: bin('bun-baseline', '@oven', 'bun-linux-x64-baseline', 'bin', 'bun'),
    expect: /^\d+\.\d+\.\d+/,
  },
  deno: { probe: bin('deno', '@deno', 'linux-x64-glibc', 'deno'), expect: /^deno \d/ },
  workerd: { probe: bin('workerd', 'workerd', 'bin', 'workerd'), expect: /^workerd \d/ },
  // A library, not a binary: its package.json stands in (the browser is Debian's).
  chromium: { module: 'puppeteer-core' },
}

/** The Bun package folder for this CPU. */
export const bunPackage = () => (hasAvx2() ? 'bun' : 'bun-baseline')

const hashOf = (name) => {
  const h = createHash('sha256').update(`layout ${LAYOUT}\n`)
  for (const f of ['package.json', 'package-lock.json']) h.update(fs.readFileSync(path.join(HERE, 'packages', name, f)))
  return h.digest('hex')
}

/** Runs a command; resolves with its exit code and output (stdout + stderr). */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('error', (err) => resolve({ code: -1, out: `${out}${err.message}` }))
    child.on('close', (code) => resolve({ code: code ?? -1, out }))
  })
}

/** `--version` of the package's probe when it matches, else undefined. */
async function probe(name) {
  const { probe: file, expect, module } = PACKAGES[name]
  if (module) {
    try {
      const pkg = JSON.parse(
        fs.readFileSync(path.join(INSTALL_DIR, name, 'node_modules', module, 'package.json'), 'utf8'),
      )
      return `${module} ${pkg.version}`
    } catch {
      return undefined
    }
  }
  if (!fs.existsSync(file)) return undefined
  const { code, out } = await run(file, ['--version'], { env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' } })
  const first = out.trim().split('\n')[0] ?? ''
  return code === 0 && expect.test(first) ? first : undefined
}

/**
 * Installs one package folder (cached). Resolves with `{ ok: true, version,
 * cached, ms }` or `{ ok: false, reason }`; never rejects.
 */
export async function install(name) {
  const t0 = performance.now()
  const dir = path.join(INSTALL_DIR, name)
  const stamp = path.join(dir, '.installed')
  const hash = hashOf(name)
  const done = (result) => ({ ...result, ms: Math.round(performance.now() - t0) })
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) {
    const version = await probe(name)
    if (version) return done({ ok: true, version, cached: true })
  }
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  for (const f of ['package.json', 'package-lock.json'])
    fs.copyFileSync(path.join(HERE, 'packages', name, f), path.join(dir, f))
  const { code, out } = await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  })
  fs.writeFileSync(path.join(dir, 'npm-ci.log'), out)
  if (code !== 0)
    return done({
      ok: false,
      reason: `npm ci failed (${npmError(out)}); see ${path.relative(process.cwd(), dir)}/npm-ci.log`,
    })
  const version = await probe(name)
  if (!version)
    return done({
      ok: false,
      reason: `${PACKAGES[name].probe ?? PACKAGES[name].module} does not run after the install`,
    })
  fs.writeFileSync(stamp, hash)
  return done({ ok: true, version, cached: false })
}

/** npm's first error line (not its pointer to the log), else the last line. */
const npmError = (text) => {
  const lines = text.trim().split('\n').filter(Boolean)
  const error = lines.find((l) => l.startsWith('npm error') && !l.includes('A complete log'))
  return (error ?? lines.at(-1) ?? 'no output').slice(0, 200)
}

if (process.argv[1] === import.meta.filename) {
  const names = process.argv.slice(2)
  const all = ['node22', 'node24', bunPackage(), 'deno', 'workerd', 'chromium']
  let failed = 0
  for (const name of names.length ? names : all) {
    if (!PACKAGES[name])
      throw new TypeError(`install: unknown runtime package "${name}" (known: ${Object.keys(PACKAGES).join(', ')})`)
    const r = await install(name)
    if (!r.ok) failed++
    console.log(
      `${name}: ${r.ok ? `${r.version} (${r.cached ? 'cached' : 'installed'}, ${r.ms} ms)` : `NOT INSTALLED: ${r.reason}`}`,
    )
  }
  process.exitCode = failed ? 1 : 0
}
