// Entry for Cloudflare workerd (through miniflare): a module worker whose
// fetch handler takes the scenario's settings as its JSON body and answers
// with the steps. No compatibility flags: the library must need no nodejs_compat.
import { runScenario, type ScenarioEnv } from '../scenario.ts'

export default {
  async fetch(request: Request): Promise<Response> {
    const env = (await request.json()) as ScenarioEnv
    return Response.json({ steps: await runScenario(env) })
  },
}
