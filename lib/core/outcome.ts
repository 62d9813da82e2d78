/** A hook an operation runs once it is over. */
export type Hook = () => Promise<void>

/**
 * How a refresh or logout ended, and the hook (`onDeleted`, `on…Failure`) to
 * run once it is over: the operation returns it instead of pushing hooks on a
 * shared list.
 */
export type Outcome<T> = { ok: true; value: T; after?: Hook } | { ok: false; error: unknown; after?: Hook }

/** The operation gave `value`; `after` runs before the callers get it. */
export const ok = <T>(value: T, after?: Hook): Outcome<T> => ({ ok: true, value, after })

/** The operation failed with `error`; `after` runs before the callers get it. */
export const failed = (error: unknown, after?: Hook): Outcome<never> => ({ ok: false, error, after })

/**
 * Settles like the outcome of `run`, after its hook. The hook runs once the
 * operation is over (requests no longer wait for it), so it may call
 * `refresh()` or `logout()` again without waiting on itself.
 */
export async function settle<T>(run: Promise<Outcome<T>>): Promise<T> {
  const outcome = await run
  await outcome.after?.()
  if (!outcome.ok) throw outcome.error
  return outcome.value
}
