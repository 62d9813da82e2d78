// Generates examples/lexicons/ (app.bsky, com.atproto, …) with `lex build`,
// the way an app using lex-client would. The lexicon documents come from the
// installed @atproto/api devDependency, so nothing is downloaded or committed.
// `--lib @atproto/lex-schema`, as docs/using-lexicons.md tells apps: the output
// imports `l` from lex-schema (which lex-client already depends on), so @atproto/lex
// is only a build tool.
// Skips the work when the output is newer than @atproto/api.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const out = path.join(root, 'examples/lexicons')
const src = path.join(root, '.tmp/lexicons')
const apiPkg = path.join(root, 'node_modules/@atproto/api/package.json')

const stamp = path.join(out, '.built-from')
const LIB = '@atproto/lex-schema'
const version = `${JSON.parse(fs.readFileSync(apiPkg, 'utf8')).version} --lib ${LIB}`
if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === version) process.exit(0)

const { schemas } = await import('@atproto/api')
fs.rmSync(src, { recursive: true, force: true })
for (const doc of schemas) {
  const file = path.join(src, ...doc.id.split('.')) + '.json'
  fs.mkdirSync(path.dirname(file), { recursive: true })
  // @atproto/api stores refs as `lex:<nsid>`; lexicon files use the bare NSID.
  fs.writeFileSync(file, JSON.stringify(doc).replaceAll('"lex:', '"'))
}
execFileSync(
  path.join(root, 'node_modules/.bin/lex'),
  ['build', '--lexicons', src, '--out', out, '--clear', '--pretty', 'false', '--lib', LIB],
  { stdio: ['ignore', 'ignore', 'inherit'] },
)
fs.writeFileSync(stamp, version)
console.log(`examples/lexicons: ${schemas.length} lexicon documents from @atproto/api@${version}`)
