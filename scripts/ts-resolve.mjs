// `node --import ./scripts/ts-resolve.mjs file.ts`: lets Node 22 run the
// examples as TypeScript sources, resolving `./x.js` to `./x.ts` when only the
// TypeScript file exists (the generated lexicons), as tsc's own resolution does.
import { register } from 'node:module'

register(
  'data:text/javascript,' +
    encodeURIComponent(`
      import fs from 'node:fs'
      export async function resolve(spec, ctx, next) {
        if (/^\\.{1,2}\\//.test(spec) && spec.endsWith('.js') && ctx.parentURL?.startsWith('file:')) {
          const js = new URL(spec, ctx.parentURL)
          if (!fs.existsSync(js)) return next(spec.slice(0, -3) + '.ts', ctx)
        }
        return next(spec, ctx)
      }`),
)
