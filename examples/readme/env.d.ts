// lex-client 0.3 types record datetimes as `DatetimeString` (a template
// literal type); `Date#toISOString()` always returns one, but TypeScript's lib
// says `string`. This lets the README's `createdAt: new Date().toISOString()`
// type-check as written.
interface Date {
  toISOString(): `${string}-${string}-${string}T${string}:${string}:${string}.${string}Z`
}
