// Entry for the runtimes that run a file (Node, Bun, Deno): the scenario's
// settings come as one JSON argument; the result goes out as one stdout line,
// `RUNTIME_RESULT {"version", "steps"}`.
import { inspect } from 'node:util'
import { runScenario, type ScenarioEnv } from '../scenario.ts'

type Runtime = {
  Deno?: { args: string[]; inspect: (v: unknown) => string; version: { deno: string } }
  Bun?: { inspect: (v: unknown) => string; version: string }
  process?: { argv: string[]; version: string }
}
const g = globalThis as Runtime
const args = g.Deno ? g.Deno.args : g.process!.argv.slice(2)
const env = JSON.parse(args[0]!) as ScenarioEnv

// The runtime's own inspect first; node:util's too, which all three have.
const inspectors: Record<string, (v: unknown) => string> = {}
if (g.Deno) inspectors['Deno.inspect'] = (v) => g.Deno!.inspect(v)
if (g.Bun) inspectors['Bun.inspect'] = (v) => g.Bun!.inspect(v)
inspectors['util.inspect'] = (v) => inspect(v)

const version = g.Deno ? g.Deno.version.deno : g.Bun ? g.Bun.version : g.process!.version.slice(1)
const steps = await runScenario({ ...env, inspectors })
console.log(`RUNTIME_RESULT ${JSON.stringify({ version, steps })}`)
