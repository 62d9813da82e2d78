// Entry for the browser page: exposes the scenario for page.evaluate.
import { runScenario } from '../scenario.ts'

;(globalThis as { runScenario?: typeof runScenario }).runScenario = runScenario
