// The layer rule, checked on every relative import of lib/ and middleware/:
// core (lib/core/) <- middleware/ <- the preset agent and the optional entry
// points (lib/*.ts). An import may point to its own layer or a lower one only.
import fs from 'node:fs'
import path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const LAYERS = [
  ['core', 'lib/core/'],
  ['middleware', 'middleware/'],
  ['entry points', 'lib/'],
]
const layerOf = (file) => LAYERS.findIndex(([, dir]) => path.relative(root, file).startsWith(dir))
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g

const files = ['lib', 'middleware'].flatMap((dir) =>
  fs
    .readdirSync(path.join(root, dir), { recursive: true })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(root, dir, f)),
)
let checked = 0
const upward = []
for (const file of files) {
  const from = layerOf(file)
  for (const match of fs.readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const target = path.resolve(path.dirname(file), match[1] ?? match[2])
    const to = layerOf(target)
    checked++
    if (to === -1)
      upward.push(`${path.relative(root, file)} imports ${match[1] ?? match[2]}, outside lib/ and middleware/`)
    else if (to > from)
      upward.push(
        `${path.relative(root, file)} (${LAYERS[from][0]}) imports ${path.relative(root, target)} (${LAYERS[to][0]})`,
      )
  }
}
if (upward.length) {
  console.error(
    `layers: ${upward.length} import(s) against core <- middleware <- entry points:\n  ${upward.join('\n  ')}`,
  )
  process.exit(1)
}
console.log(`layers: ${checked} imports in ${files.length} files, none from a lower layer to a higher one`)
