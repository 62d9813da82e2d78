// Bundle size: esbuild (one minified ESM bundle, browser platform) and gzip
// (level 9, as size-limit's `gzip: true`) of what an app ships for
// `new Client(agent)` with our PasswordAgent, with upstream's PasswordSession,
// and with lex-client's Client alone; each middleware alone and on top of
// Client; and checks that tree-shaking works (`sideEffects: false`). The
// preset is also built with `splitting: true` (what loads up front, should
// anything become a lazy chunk), and with `discoverService` added (an app that
// logs in by handle: discovery is reached only by code that imports
// `lex-password-agent/discovery`). The preset's bytes over `Client` are
// attributed to our source files and grouped by feature (FEATURES): minified
// bytes from esbuild's metafile, and each one's gzip cost by leaving its
// generated code out (found through the source map) and gzipping again.
import { gzipSync as zlibGzipSync, type ZlibOptions } from 'node:zlib'
import { build, version as esbuildVersion, type Plugin } from 'esbuild'
import * as middleware from 'lex-password-agent/middleware'
import { emit, log } from './common.ts'

const root = new URL('..', import.meta.url).pathname

type Size = {
  min: number
  gzip: number
  inputs: Record<string, number>
  text: string
  /** Minified bytes per input path (not grouped by package). */
  files: Record<string, number>
  /** Generated ranges [start, end, source index] and the map's sources (with `sourcemap`). */
  map?: { ranges: [number, number, number][]; sources: string[] }
}

/**
 * What the preset's code does, by source file. A file of ours (lib/, middleware/)
 * that is not listed is attributed under its own name. lib/core/hooks.ts goes with
 * the agent: all of it that gets bundled is the check of the `hooks` option
 * (the holder runs the hooks).
 */
const FEATURES: [feature: string, files: string[]][] = [
  [
    'agent class: login / resume / createAccount / logout, option checks',
    ['lib/password-agent.ts', 'lib/core/hooks.ts'],
  ],
  [
    'shared session state: single-flight refresh and logout, store / lock coordination, running hooks, timeout and backoff',
    // The holder and the modules split out of it (a file not in the tree is simply not found).
    [
      'lib/core/session-holder.ts',
      'lib/core/session-store.ts',
      'lib/core/session-api.ts',
      'lib/core/store-sync.ts',
      'lib/core/hook-runner.ts',
      'lib/core/backoff.ts',
      'lib/core/outcome.ts',
      'lib/core/session-source.ts',
    ],
  ],
  ['session validation: saved session, service URL, PDS endpoint of the DID document', ['lib/core/session.ts']],
  [
    'URL / origin checks, routing, request inspection (replayable body, error code of an answer)',
    ['lib/core/request.ts', 'lib/core/parse-url.ts', 'middleware/route-to-pds.ts'],
  ],
  ['lexicons: schemas of the session methods (lex-client validates the answers)', ['lib/core/lexicons.ts']],
  ['auth header, redirects followed so the token stays on its origins', ['middleware/auth-header.ts']],
  ['refresh on `ExpiredToken` and replay', ['middleware/refresh-on-expired.ts']],
  [
    "refresh ahead of expiry; reading a JWT's `exp` / `iat` (also for `resume` and session ordering)",
    ['middleware/refresh-ahead.ts', 'lib/core/jwt.ts'],
  ],
  [
    'typed errors, `RateLimit-Reset`, token-free invalid-answer error',
    ['lib/core/errors.ts', 'lib/core/retry-timing.ts'],
  ],
  [
    'pipeline, option checks and shared helpers',
    ['lib/core/fetch.ts', 'lib/core/check.ts', 'lib/core/sleep.ts', 'middleware/options.ts', 'middleware/shared.ts'],
  ],
]
const isOurs = (path: string) => /^(lib|middleware)\//.test(path)

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
/**
 * Decodes a source map's `mappings` (base64 VLQ) into generated ranges of
 * `text`: [start, end, source index], each segment running to the next one on
 * its line or to the end of the line. Segments with no source are skipped.
 */
function mappedRanges(mappings: string, text: string): [number, number, number][] {
  const ranges: [number, number, number][] = []
  const fields = [0, 0, 0, 0, 0] // column, source, original line, original column, name
  let lineStart = 0
  for (const line of mappings.split(';')) {
    const lineEnd = text.indexOf('\n', lineStart) < 0 ? text.length : text.indexOf('\n', lineStart)
    fields[0] = 0 // the generated column restarts on each line; the other fields carry on
    const segments: [number, number][] = []
    for (const segment of line ? line.split(',') : []) {
      let i = 0
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = B64.indexOf(char)
        value += (digit & 31) << shift
        shift += 5
        if (digit & 32) continue
        fields[i] = fields[i]! + (value & 1 ? -(value >>> 1) : value >>> 1)
        i++
        value = shift = 0
      }
      segments.push([fields[0]!, i > 1 ? fields[1]! : -1])
    }
    segments.forEach(([column, source], k) => {
      const end = lineStart + (segments[k + 1]?.[0] ?? lineEnd - lineStart)
      if (source >= 0 && lineStart + column < end) ranges.push([lineStart + column, end, source])
    })
    lineStart = lineEnd + 1
  }
  return ranges
}

/** `text` without the generated code of the given sources. */
function without(text: string, ranges: [number, number, number][], sources: Set<number>): string {
  let out = ''
  let at = 0
  for (const [start, end, source] of ranges) {
    if (!sources.has(source)) continue
    out += text.slice(at, start)
    at = end
  }
  return out + text.slice(at)
}

/** Gzip at level 9, as size-limit's `gzip: true` measures (`.size-limit.js` holds the budget). */
const gzipSync = (data: string | Uint8Array, options: ZlibOptions = {}) => zlibGzipSync(data, { level: 9, ...options })

/** What every measured build shares: `contents` as the entry, one minified ESM build for the browser, in memory. */
const buildOptions = (contents: string) => ({
  stdin: { contents, resolveDir: root, loader: 'ts' as const, sourcefile: 'entry.ts' },
  absWorkingDir: root,
  bundle: true,
  minify: true,
  platform: 'browser' as const,
  format: 'esm' as const,
  write: false as const,
  metafile: true as const,
  conditions: ['lex-password-agent-source'],
  logLevel: 'silent' as const,
})

async function bundle(contents: string, plugins: Plugin[] = [], sourcemap = false): Promise<Size> {
  const result = await build({
    ...buildOptions(contents),
    // Not written (write: false); the name only places the map's sources relative to root.
    ...(sourcemap && { sourcemap: 'external' as const, outfile: `${root}bundle.js` }),
    plugins,
  })
  const file = result.outputFiles.find((f) => !f.path.endsWith('.map'))!
  const out = Object.entries(result.metafile.outputs).find(([path]) => !path.endsWith('.map'))![1]
  // Bytes in the output per package (node_modules/<pkg>) or per file of ours.
  const inputs: Record<string, number> = {}
  const files: Record<string, number> = {}
  for (const [path, { bytesInOutput }] of Object.entries(out.inputs)) {
    // node_modules may be a link to another checkout's (a git worktree): esbuild names its real path.
    const parts = path.replace(/^(?:\.\.\/)+(?:[^/]+\/)*?node_modules\//, 'node_modules/').split('/')
    const key = parts[0] === 'node_modules' ? parts.slice(1, parts[1]!.startsWith('@') ? 3 : 2).join('/') : path
    inputs[key] = (inputs[key] ?? 0) + bytesInOutput
    files[path] = bytesInOutput
  }
  const mapFile = result.outputFiles.find((f) => f.path.endsWith('.map'))
  const map = mapFile && (JSON.parse(mapFile.text) as { sources: string[]; mappings: string })
  return {
    min: file.contents.byteLength,
    gzip: file.contents.byteLength === 0 ? 0 : gzipSync(file.contents).byteLength,
    inputs,
    text: file.text,
    files,
    ...(map && { map: { ranges: mappedRanges(map.mappings, file.text), sources: map.sources } }),
  }
}

/**
 * `entry` built with `splitting: true`: gzip of what loads up front (the entry
 * chunk and the chunks it imports statically) and of the lazy chunks (reached
 * only through `import()`), each file gzipped on its own.
 */
async function split(contents: string) {
  const result = await build({
    ...buildOptions(contents),
    splitting: true,
    outdir: `${root}split`, // not written (write: false)
  })
  const outputs = result.metafile.outputs
  const eager = new Set<string>()
  const visit = (path: string) => {
    if (eager.has(path)) return
    eager.add(path)
    for (const i of outputs[path]!.imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path)
  }
  visit(Object.keys(outputs).find((path) => outputs[path]!.entryPoint)!)
  const sum = { eagerGzip: 0, eagerFiles: 0, lazyGzip: 0, lazyFiles: 0 }
  for (const file of result.outputFiles) {
    const path = Object.keys(outputs).find((p) => file.path === `${root}${p}`)!
    const gzip = gzipSync(file.contents).byteLength
    if (eager.has(path)) {
      sum.eagerGzip += gzip
      sum.eagerFiles++
    } else {
      sum.lazyGzip += gzip
      sum.lazyFiles++
    }
  }
  return sum
}

/**
 * The bytes of `size` (built with a source map) over `base`, by file of ours
 * and by feature: minified bytes from the metafile, gzip cost as gzip(bundle)
 * − gzip(bundle without that code). Gzip shares context across the bundle, so
 * these leave-one-out costs do not add up to the total.
 */
/**
 * `size`'s bytes by source file and feature (see FEATURES), leave-one-out
 * gzip against `size`. `budget`: gzip bytes over `base` to fit in; reports the
 * fewest largest features that, left out together, get there.
 */
function attribute(size: Size, base: Size, budget: number) {
  const { ranges, sources } = size.map!
  const gz = (text: string) => gzipSync(text).byteLength
  const whole = gz(size.text)
  // Map sources are relative to the (unwritten) output file in root, as are metafile paths.
  const indexes = (paths: string[]) => new Set(paths.flatMap((p) => (sources.includes(p) ? [sources.indexOf(p)] : [])))
  const leaveOut = (paths: string[]) => whole - gz(without(size.text, ranges, indexes(paths)))
  const mapped: Record<string, number> = {}
  for (const [start, end, source] of ranges) {
    const path = sources[source]!
    mapped[path] = (mapped[path] ?? 0) + Buffer.byteLength(size.text.slice(start, end))
  }
  const ours = Object.keys(size.files)
    .filter(isOurs)
    .filter((p) => size.files[p]! > 0)
  const featureOf = (path: string) => FEATURES.find(([, paths]) => paths.includes(path))?.[0] ?? `other: ${path}`
  const files = ours
    .map((file) => ({
      file,
      feature: featureOf(file),
      min: size.files[file]!,
      mapped: mapped[file] ?? 0,
      gzip: leaveOut([file]),
    }))
    .sort((a, b) => b.gzip - a.gzip)
  const groups = [...new Set(files.map((f) => f.feature))]
    .map((feature) => {
      const members = files.filter((f) => f.feature === feature)
      const paths = members.map((f) => f.file)
      return { feature, files: paths, min: members.reduce((n, f) => n + f.min, 0), gzip: leaveOut(paths) }
    })
    .sort((a, b) => b.gzip - a.gzip)
  /** The fewest largest groups whose joint leave-out brings the bundle within `budget` over `base`. */
  const fit = () => {
    const over = size.gzip - base.gzip - budget
    const dropped: string[] = []
    let saved = 0
    for (const g of groups) {
      if (over <= 0 || saved >= over) break
      dropped.push(...g.files)
      saved = leaveOut(dropped)
    }
    return {
      over: Math.max(0, over),
      groups: over <= 0 ? 0 : groups.filter((g) => g.files.every((f) => dropped.includes(f))).length,
      saved,
      fits: saved >= over,
    }
  }
  const oursMin = files.reduce((n, f) => n + f.min, 0)
  const oursMapped = files.reduce((n, f) => n + f.mapped, 0)
  // Inputs not of ours whose bytes differ from `base`'s (new code, or code minified differently).
  const others = Object.entries(size.inputs)
    .filter(([key]) => !isOurs(key))
    .map(([input, min]) => ({ input, min: min - (base.inputs[input] ?? 0), inBase: input in base.inputs }))
    .filter((o) => o.min !== 0)
    .sort((a, b) => b.min - a.min)
  return {
    overClientMin: size.min - base.min,
    overClientGzip: size.gzip - base.gzip,
    oursMin,
    /** The same, from the source map: should be within a few % of `oursMin`. */
    oursMapped,
    mappedMatchesMetafile: Math.abs(oursMapped - oursMin) <= 0.03 * oursMin,
    /** Files whose bytes by the source map are more than 3 % (and a few bytes) off the metafile's. */
    mismatchedFiles: files.filter((f) => Math.abs(f.mapped - f.min) > 0.03 * f.min + 8).map((f) => f.file),
    /** All of our code left out at once. */
    oursGzip: leaveOut(ours),
    filesGzipSum: files.reduce((n, f) => n + f.gzip, 0),
    groupsGzipSum: groups.reduce((n, g) => n + g.gzip, 0),
    toFitBudget: fit(),
    others,
    files,
    groups,
  }
}

const strip = ({ text: _t, inputs: _i, files: _f, map: _m, ...rest }: Size) => rest
/** The largest contributors to a bundle, in minified bytes. */
const top = (size: Size, n = 6) =>
  Object.entries(size.inputs)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => ({ input: k, min: v }))

export async function main() {
  const clientEntry = `export { Client } from '@atproto/lex-client'`
  const client = await bundle(clientEntry)
  const oursEntry = `${clientEntry}\nexport { PasswordAgent } from 'lex-password-agent'`
  const ours = await bundle(oursEntry, [], true)
  const oursSplit = await split(oursEntry)
  // An app that logs in by handle: the preset plus what `lex-password-agent/discovery` brings.
  const oursDiscovery = await bundle(`${oursEntry}\nexport { discoverService } from 'lex-password-agent/discovery'`)
  const upstream = await bundle(`${clientEntry}\nexport { PasswordSession } from '@atproto/lex-password-session'`)
  // The preset's pipeline without the agent and its shared state: the least a
  // preset built from these middlewares can add.
  const presetMiddlewares = await bundle(
    `${clientEntry}\nexport { pipeline } from 'lex-password-agent'\nexport { refreshAhead, refreshOnExpired, routeToPds, authHeader } from 'lex-password-agent/middleware'`,
  )
  let api: ReturnType<typeof strip> | { error: string }
  try {
    api = strip(await bundle(`export { AtpAgent } from '@atproto/api'`))
  } catch (err) {
    api = { error: String((err as Error).message).split('\n')[0]! }
  }
  const over = (s: Size) => ({ ...strip(s), overClientMin: s.min - client.min, overClientGzip: s.gzip - client.gzip })
  log(
    `bundle: Client ${client.gzip} B, +ours ${ours.gzip - client.gzip} B, +upstream ${upstream.gzip - client.gzip} B; with discoverService +${oursDiscovery.gzip - client.gzip} B (gzip)`,
  )
  log(
    `bundle: with splitting, ${oursSplit.eagerGzip} B gzip up front (${oursSplit.eagerFiles} files), ${oursSplit.lazyGzip} B lazy (${oursSplit.lazyFiles})`,
  )
  const attribution = attribute(ours, client, upstream.gzip - client.gzip)
  for (const g of attribution.groups) log(`bundle:   ${g.gzip} B gzip, ${g.min} B min: ${g.feature}`)
  log(
    `bundle:   leave-one-out sum ${attribution.groupsGzipSum} B, all ours left out ${attribution.oursGzip} B, total over Client ${attribution.overClientGzip} B (gzip)`,
  )
  log(
    `bundle:   ours ${attribution.oursMin} B min by the metafile, ${attribution.oursMapped} B by the source map${attribution.mappedMatchesMetafile ? '' : ': MORE THAN 3 % APART, the gzip attribution is unreliable'}${attribution.mismatchedFiles.length ? `; files more than 3 % off: ${attribution.mismatchedFiles}` : ''}`,
  )

  // Every middleware factory the package exports (helpers such as isExpiredTokenAnswer left out).
  const factories = Object.entries(middleware)
    .filter(([name, value]) => typeof value === 'function' && !/^(is|redact)/.test(name))
    .map(([name]) => name)
    .sort()
  const middlewares = []
  for (const name of factories) {
    const alone = await bundle(`export { ${name} } from 'lex-password-agent/middleware'`)
    const withClient = await bundle(`${clientEntry}\nexport { ${name} } from 'lex-password-agent/middleware'`)
    // Tree-shaking: no other middleware's factory name (each passes its own to its option check) in this one's bundle.
    const others = factories.filter((other) => other !== name && alone.text.includes(`"${other}"`))
    middlewares.push({
      name,
      aloneMin: alone.min,
      aloneGzip: alone.gzip,
      overClientGzip: withClient.gzip - client.gzip,
      othersIncluded: others,
      // npm packages in its bundle (inputs keyed by package name, ours by path).
      packages: Object.keys(alone.inputs).filter((input) => !/^(lib|middleware)\/|^entry\.ts$/.test(input)),
    })
    log(
      `bundle: ${name} alone ${alone.gzip} B, over Client ${withClient.gzip - client.gzip} B (gzip)${others.length ? `, includes ${others}` : ''}`,
    )
  }

  const sideEffectImport = await bundle(`import 'lex-password-agent'\nimport 'lex-password-agent/middleware'`)
  const pipelineOnly = await bundle(`export { pipeline } from 'lex-password-agent'`)
  const nodeOnly = Object.keys(ours.inputs).filter((i) => /file-session-store|file-store|redis|^node:/.test(i))
  return {
    esbuild: esbuildVersion,
    client: { ...strip(client), top: top(client) },
    ours: { ...over(ours), top: top(ours) },
    oursDiscovery: over(oursDiscovery),
    presetMiddlewares: over(presetMiddlewares),
    oursSplit,
    attribution,
    upstream: { ...over(upstream), top: top(upstream) },
    api,
    middlewares,
    treeShaking: {
      sideEffectImportMin: sideEffectImport.min,
      pipelineOnlyMin: pipelineOnly.min,
      pipelineOnlyGzip: pipelineOnly.gzip,
      nodeOnlyModulesInMainEntry: nodeOnly,
    },
  }
}

if (import.meta.main) emit('bundle', await main())
