// Bundles the scenario (scenario.ts) with the library's sources and
// @atproto/lex-client, once per kind of runtime, with the repository's esbuild:
//   cli      Node, Bun, Deno: for the node platform, as each of them resolves an
//            npm package (Bun and Deno read the "node" condition too);
//   worker   workerd: for the browser platform plus the conditions "workerd"
//            and "worker";
//   browser  Chromium: for the browser platform;
//   tabs     Chromium, the web store's check (chromium-tabs.mjs): examples/browser-tabs.ts
//            for the browser platform.
import { builtinModules } from 'node:module'
import path from 'node:path'
import { build } from 'esbuild'

const HERE = import.meta.dirname

// Node built-ins imported without `node:` (multiformats' "crypto") as `node:` imports:
// Deno accepts a bare built-in only inside an npm package, which a bundle no longer is.
const BARE_BUILTINS = new RegExp(`^(${builtinModules.filter((m) => !m.startsWith('_')).join('|')})$`)
const nodePrefix = {
  name: 'node-prefix',
  setup(b) {
    b.onResolve({ filter: BARE_BUILTINS }, (args) => ({ path: `node:${args.path}`, external: true }))
  },
}

/** The bundles by name: entry (relative to this folder), esbuild platform, extra conditions. */
export const TARGETS = {
  cli: { entry: 'entries/cli.ts', platform: 'node', conditions: [] },
  worker: { entry: 'entries/worker.ts', platform: 'browser', conditions: ['workerd', 'worker'] },
  browser: { entry: 'entries/browser.ts', platform: 'browser', conditions: [] },
  tabs: { entry: 'entries/tabs.ts', platform: 'browser', conditions: [] },
}

/** Builds the named bundles into `outDir`; resolves with their paths by name. */
export async function buildBundles(outDir, names = Object.keys(TARGETS)) {
  const out = {}
  await Promise.all(
    names.map(async (name) => {
      const { entry, platform, conditions } = TARGETS[name]
      out[name] = path.join(outDir, `${name}.mjs`)
      await build({
        entryPoints: [path.join(HERE, entry)],
        outfile: out[name],
        bundle: true,
        format: 'esm',
        platform,
        target: 'es2022',
        // The library from its TypeScript sources, as the repository's own tools use it.
        conditions: ['lex-password-agent-source', ...conditions],
        plugins: platform === 'node' ? [nodePrefix] : [],
        logLevel: 'error',
      })
    }),
  )
  return out
}
