// Bundle size: esbuild (one minified ESM bundle, browser platform) and gzip
// (zlib's default level) of what an app ships for `new Client(agent)` with our
// PasswordAgent, with upstream's PasswordSession, and with lex-client's Client
// alone; each middleware alone and on top of Client; and checks that
// tree-shaking works (`sideEffects: false`). esbuild inlines the code behind a
// dynamic `import()` into the one bundle, so the preset is also measured with
// lib/discovery.ts (loaded on demand by `login` without `service`) stubbed out:
// roughly what a bundler that emits lazy chunks would load up front.
import { gzipSync } from 'node:zlib'
import { build, version as esbuildVersion, type Plugin } from 'esbuild'
import * as middleware from 'lex-password-agent/middleware'
import { emit, log } from './common.ts'

const root = new URL('..', import.meta.url).pathname

type Size = { min: number; gzip: number; inputs: Record<string, number>; text: string }

const stubDiscovery: Plugin = {
  name: 'stub-discovery',
  setup(b) {
    b.onResolve({ filter: /\/discovery\.ts$/ }, () => ({ path: 'discovery', namespace: 'stub' }))
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export const discoverService = undefined, DiscoveryError = undefined',
      loader: 'js',
    }))
  },
}

async function bundle(contents: string, plugins: Plugin[] = []): Promise<Size> {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    conditions: ['lex-password-agent-source'],
    logLevel: 'silent',
    plugins,
  })
  const file = result.outputFiles[0]!
  const out = Object.values(result.metafile.outputs)[0]!
  // Bytes in the output per package (node_modules/<pkg>) or per file of ours.
  const inputs: Record<string, number> = {}
  for (const [path, { bytesInOutput }] of Object.entries(out.inputs)) {
    const parts = path.split('/')
    const key = parts[0] === 'node_modules' ? parts.slice(1, parts[1]!.startsWith('@') ? 3 : 2).join('/') : path
    inputs[key] = (inputs[key] ?? 0) + bytesInOutput
  }
  return {
    min: file.contents.byteLength,
    gzip: file.contents.byteLength === 0 ? 0 : gzipSync(file.contents).byteLength,
    inputs,
    text: file.text,
  }
}

const strip = ({ text: _t, inputs: _i, ...rest }: Size) => rest
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
  const ours = await bundle(oursEntry)
  const oursLazy = await bundle(oursEntry, [stubDiscovery])
  const upstream = await bundle(`${clientEntry}\nexport { PasswordSession } from '@atproto/lex-password-session'`)
  let api: ReturnType<typeof strip> | { error: string }
  try {
    api = strip(await bundle(`export { AtpAgent } from '@atproto/api'`))
  } catch (err) {
    api = { error: String((err as Error).message).split('\n')[0]! }
  }
  const over = (s: Size) => ({ ...strip(s), overClientMin: s.min - client.min, overClientGzip: s.gzip - client.gzip })
  log(`bundle: Client ${client.gzip} B, +ours ${ours.gzip - client.gzip} B (${oursLazy.gzip - client.gzip} B without discovery), +upstream ${upstream.gzip - client.gzip} B (gzip)`)

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
    })
    log(`bundle: ${name} alone ${alone.gzip} B, over Client ${withClient.gzip - client.gzip} B (gzip)${others.length ? `, includes ${others}` : ''}`)
  }

  const sideEffectImport = await bundle(`import 'lex-password-agent'\nimport 'lex-password-agent/middleware'`)
  const pipelineOnly = await bundle(`export { pipeline } from 'lex-password-agent'`)
  const nodeOnly = Object.keys(ours.inputs).filter((i) => /file-session-store|file-store|redis|^node:/.test(i))
  return {
    esbuild: esbuildVersion,
    client: { ...strip(client), top: top(client) },
    ours: { ...over(ours), top: top(ours) },
    oursWithoutDiscovery: over(oursLazy),
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
