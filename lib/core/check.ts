import { inputError } from './errors.ts'
import { MAX_TIMER_MS } from './fetch.ts'

/**
 * Input checks with one wording, `<where>: "<field>" must …`, thrown as a
 * TypeError before any request. A rule is a test and what it demands.
 */
export type Rule = readonly [test: (value: unknown) => boolean, must: string]

/** Throws the input error for `field` of `where`. */
export function fail(where: string, field: string, must: string): never {
  throw inputError(`${where}: "${field}" must ${must}`)
}

/** Checks one value (`undefined` included: optional values skip the call). */
export function check(where: string, field: string, value: unknown, [test, must]: Rule): void {
  if (!test(value)) fail(where, field, must)
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

export const object: Rule = [isObject, 'be an object']
export const string: Rule = [(v) => typeof v === 'string' && v !== '', 'be a non-empty string']
export const func: Rule = [(v) => typeof v === 'function', 'be a function']
export const boolean: Rule = [(v) => typeof v === 'boolean', 'be true or false']
export const oneOf = (...values: readonly unknown[]): Rule => [
  (v) => values.includes(v),
  `be ${values.map((v) => JSON.stringify(v)).join(' or ')}`,
]

/**
 * A number of milliseconds (or other unit) with its bounds declared next to
 * the option: `min` (default 0, included; `above` excludes it), `max` (default
 * the longest timer Node honours, 2^31-1 ms: a longer one fires after 1 ms),
 * `integer`.
 */
export function number({
  min = 0,
  above = false,
  max = MAX_TIMER_MS,
  integer = false,
  unit = 'milliseconds',
}: { min?: number; above?: boolean; max?: number; integer?: boolean; unit?: string } = {}): Rule {
  return [
    (v) => typeof v === 'number' && (above ? v > min : v >= min) && v <= max && (!integer || Number.isInteger(v)),
    `be ${integer ? 'a whole' : 'a'} number of ${unit}, ${above ? 'above' : 'at least'} ${min} and at most ${max}`,
  ]
}

/**
 * Checks an options object against its rules: every key must be known (a
 * misspelled hook that silently never runs is the worst kind of bug), and
 * every known key that is not `undefined` must pass its rule.
 */
export function checkOptions(where: string, options: unknown, rules: Readonly<Record<string, Rule>>): void {
  if (!isObject(options)) throw inputError(`${where}: options must be an object`)
  for (const key of Object.keys(options)) {
    const rule = rules[key]
    if (!rule) {
      const near = closest(key, Object.keys(rules))
      throw inputError(`${where}: "${key}" is not an option${near ? ` (did you mean "${near}"?)` : ''}`)
    }
    if (options[key] !== undefined) check(where, key, options[key], rule)
  }
}

/** The known name a typo most likely meant: case-insensitive edit distance, or a prefix. */
function closest(name: string, known: string[]): string | undefined {
  const a = name.toLowerCase()
  let best: string | undefined
  let bestDistance = Math.max(2, a.length >> 2) + 1
  for (const candidate of known) {
    const b = candidate.toLowerCase()
    const d = a.startsWith(b) || b.startsWith(a) ? 1 : distance(a, b)
    if (d < bestDistance) [best, bestDistance] = [candidate, d]
  }
  return best
}

/** Levenshtein distance, one row at a time. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]!
}
