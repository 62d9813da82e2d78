import { inputError } from './errors.ts'

/**
 * Input checks with one wording, `<where>: "<field>" must …`, thrown as a
 * TypeError before any request. A rule is a test and what it demands; a test
 * that checks inside the value (a nested options object, an array) is handed
 * `where` and `field` to name what it finds. `required` rules also refuse
 * `undefined` (see {@link checkOptions}).
 */
export type Rule = readonly [
  test: (value: unknown, where: string, field: string) => boolean,
  must: string,
  required?: boolean,
]

/** The rules of an options object, by key: every key it may have. */
export type Rules = Readonly<Record<string, Rule>>

/** Longest delay `setTimeout` honours; anything above fires at once. */
export const MAX_TIMER_MS = 2_147_483_647

/** Throws the input error for `field` of `where`. */
export function fail(where: string, field: string, must: string): never {
  throw inputError(`${where}: "${field}" must ${must}`)
}

/** Checks one value (`undefined` included: optional values skip the call). True, or it throws. */
export function check(where: string, field: string, value: unknown, [test, must]: Rule): true {
  if (!test(value, where, field)) fail(where, field, must)
  return true
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

/** `rule`, for a value that must be given. */
export const required = ([test, must]: Rule): Rule => [test, must, true]

/** An options object inside another, checked (unknown keys included) by its own rules, named `<field>.<key>`. */
export const nested = (rules: Rules): Rule => [
  (v, where, field) => isObject(v) && checkOptions(where, v, rules, field),
  'be an object',
]

/** An array whose items each pass `item`, named `<field>[<i>]`. */
export const arrayOf = (item: Rule, must = 'be an array'): Rule => [
  (v, where, field) => Array.isArray(v) && v.every((x, i) => check(where, `${field}[${i}]`, x, item)),
  must,
]

/**
 * A number of milliseconds (or other unit) with its bounds declared next to
 * the option: `min` (default 0, included; `above` excludes it), `max` (default
 * the longest timer Node honours, 2^31-1 ms: a longer one fires after 1 ms;
 * `Number.MAX_VALUE` for any finite number), `integer`.
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
    `be ${integer ? 'a whole' : 'a'} number of ${unit}, ${above ? 'above' : 'at least'} ${min}${max < Number.MAX_VALUE ? ` and at most ${max}` : ''}`,
  ]
}

/** A positive whole number of bytes (at most `Number.MAX_SAFE_INTEGER`, written out so that bundlers can drop it unused). */
export const bytes = /*#__PURE__*/ number({ above: true, integer: true, max: 9_007_199_254_740_991, unit: 'bytes' })

/**
 * Checks an options object against its rules: every key must be known (a
 * misspelled hook that silently never runs is the worst kind of bug), and
 * every known key that is not `undefined` (or is `required`) must pass its
 * rule. `name` is the field an options object nested in another is under.
 * True, or it throws.
 */
export function checkOptions(where: string, options: unknown, rules: Rules, name?: string): true {
  if (!isObject(options)) throw inputError(`${where}: options must be an object`)
  const at = name ? `${name}.` : ''
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(rules, key)) {
      const near = closest(key, Object.keys(rules))
      throw inputError(`${where}: "${at}${key}" is not an option${near ? ` (did you mean "${at}${near}"?)` : ''}`)
    }
  }
  // Read as the code reads them: a value on the prototype (a class's method) is checked too.
  for (const key in rules) {
    const rule = rules[key]!
    if (options[key] !== undefined || rule[2]) check(where, at + key, options[key], rule)
  }
  return true
}

/**
 * The known name a typo most likely meant: the nearest by case-insensitive
 * edit distance, a prefix counting as 1, if it is at most 2 (3 for a name of
 * 12 characters or more).
 */
function closest(name: string, known: string[]): string | undefined {
  const a = name.toLowerCase()
  for (let edits = 1; edits <= (a.length < 12 ? 2 : 3); edits++) {
    for (const candidate of known) {
      const b = candidate.toLowerCase()
      if (a.startsWith(b) || b.startsWith(a) || within(a, b, edits)) return candidate
    }
  }
  return undefined
}

/**
 * Whether `a` becomes `b` in at most `edits` insertions, deletions or
 * substitutions (Levenshtein distance): at most 3^edits paths, each as long
 * as the names.
 */
function within(a: string, b: string, edits: number): boolean {
  // Equal first characters are always best kept; else try each edit of them.
  return a[0] === b[0]
    ? a === b || within(a.slice(1), b.slice(1), edits)
    : edits > 0 &&
        (within(a.slice(1), b, edits - 1) ||
          within(a, b.slice(1), edits - 1) ||
          within(a.slice(1), b.slice(1), edits - 1))
}
