import { SessionTimeoutError } from './errors.ts'
import type { HookName, SessionHooks } from './hooks.ts'

/**
 * Calls the session hooks: with `this` bound to the agent, each waited for at
 * most `timeoutMs`. A hook that throws, rejects or does not settle in time is
 * reported to `onHookError` (else `console.error`) and never changes the
 * outcome: `run` never rejects.
 */
export class HookRunner<T> {
  readonly #hooks: SessionHooks<T>
  readonly #thisArg: T
  readonly #timeoutMs: number

  constructor(hooks: SessionHooks<T>, thisArg: T, timeoutMs: number) {
    this.#hooks = hooks
    this.#thisArg = thisArg
    this.#timeoutMs = timeoutMs
  }

  /** Runs the hook `name` (if set) with `args`, reporting its failure. */
  async run(name: HookName, ...args: unknown[]): Promise<void> {
    const hook = this.#hooks[name] as ((this: T, ...a: unknown[]) => unknown) | undefined
    if (!hook) return
    try {
      await this.#bounded(name, () => hook.apply(this.#thisArg, args))
    } catch (err) {
      try {
        const report = this.#hooks.onHookError
        if (report) await this.#bounded('onHookError', () => report.call(this.#thisArg, err, name))
        else console.error(`lex-password-agent: the ${name} hook failed`, err)
      } catch {
        // A failing (or hanging) error reporter must not break the session either.
      }
    }
  }

  /**
   * Calls a hook and waits for it at most the timeout: requests (and logout)
   * wait for hooks, so one that never settles would stall the agent for good.
   * After that it is reported as a {@link SessionTimeoutError} and left running.
   */
  #bounded(name: string, call: () => unknown): unknown {
    const result = call()
    if (
      !(typeof result === 'object' || typeof result === 'function') ||
      result === null ||
      typeof (result as PromiseLike<unknown>).then !== 'function'
    ) {
      return result
    }
    const run = Promise.resolve(result)
    run.catch(() => {}) // rejecting after we stopped waiting: nobody to tell
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SessionTimeoutError(
              `the ${name} hook did not settle within ${this.#timeoutMs} ms; no longer waiting for it`,
            ),
          ),
        this.#timeoutMs,
      )
    })
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer))
  }
}
