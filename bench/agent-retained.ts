// What an idle agent retains, per constructor: a heap snapshot before and
// after building N agents (each from its own copy of one saved session, one
// request each, as bench/memory.ts's idle-agents figure), and the difference
// per node type and name, per agent. A tool for finding what to make lighter,
// not part of `npm run bench`.
//   node --conditions=lex-password-agent-source --import ./scripts/ts-resolve.mjs \
//     --expose-gc bench/agent-retained.ts [ours|upstream] [N]
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import { PasswordSession } from '@atproto/lex-password-session'
import { PasswordAgent } from 'lex-password-agent'
import { PDS, SERVICE, sessionData, xrpcQueryInit } from './common.ts'

const key = process.argv[2] === 'upstream' ? 'upstream' : 'ours'
const N = Number(process.argv[3] ?? 1000)
const PATH = '/xrpc/app.bsky.actor.getProfile?actor=did%3Aplc%3Abenchbenchbenchbenchbenc'

const saved = { data: sessionData(PDS), refreshedAt: new Date().toISOString(), pdsUrl: PDS, service: SERVICE }
const json = JSON.stringify(key === 'ours' ? saved : { ...saved.data, service: SERVICE })
const fetch = () => Promise.resolve(new Response(null, { status: 200 }))
const create = (copy: never) =>
  key === 'ours' ? new PasswordAgent(copy, { fetch }) : new PasswordSession(copy, { fetch })
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

type Counts = Map<string, { count: number; bytes: number }>

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-retained-'))

/** Writes a heap snapshot after full GCs; returns its file. */
function snapshot(name: string): string {
  for (let i = 0; i < 3; i++) gc!()
  return v8.writeHeapSnapshot(path.join(dir, `${name}.heapsnapshot`))
}

/** A snapshot's nodes' self sizes, per type and name (read once both are written, so no parse shows in one). */
function count(file: string): Counts {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'))
  const fields: string[] = snap.snapshot.meta.node_fields
  const types: string[] = snap.snapshot.meta.node_types[0]
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f))
  const counts: Counts = new Map()
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt!]]!
    // Strings and code by kind only: their "names" are their contents.
    const name = /string|code|number/.test(type) ? '' : String(snap.strings[snap.nodes[i + nameAt!]]).slice(0, 60)
    const c = counts.get(`${type} ${name}`) ?? { count: 0, bytes: 0 }
    c.count++
    c.bytes += snap.nodes[i + sizeAt!]
    counts.set(`${type} ${name}`, c)
  }
  return counts
}

for (let i = 0; i < 500; i++) await create(JSON.parse(json) as never).fetchHandler(PATH, xrpcQueryInit())
const copies: unknown[] = []
for (let i = 0; i < N; i++) copies.push(JSON.parse(json))
const beforeFile = snapshot('before')
const agents: unknown[] = []
for (let i = 0; i < N; i++) {
  const agent = create(copies[i] as never)
  agents.push(agent)
  await agent.fetchHandler(PATH, xrpcQueryInit())
}
const afterFile = snapshot('after')
const before = count(beforeFile)
const after = count(afterFile)
fs.rmSync(dir, { recursive: true })

const rows = [...after]
  .map(([name, c]) => {
    const b = before.get(name) ?? { count: 0, bytes: 0 }
    return { name, perAgent: (c.count - b.count) / N, bytes: (c.bytes - b.bytes) / N }
  })
  .filter((r) => Math.abs(r.bytes) >= 4)
  .sort((a, b) => b.bytes - a.bytes)
console.log(`${key}: ${N} idle agents (${agents.length} alive), retained per agent over their session copies:`)
for (const r of rows)
  console.log(`${r.bytes.toFixed(1).padStart(8)} B ${r.perAgent.toFixed(2).padStart(6)} × ${r.name}`)
console.log(
  `${rows
    .reduce((n, r) => n + r.bytes, 0)
    .toFixed(0)
    .padStart(8)} B in all (code and caches included)`,
)
