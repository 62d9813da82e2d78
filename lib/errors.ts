/**
 * Thrown by every request, refresh or session read of an agent after logout
 * or after the server definitively ended the session. Its message is exactly
 * `'Logged out'`.
 */
export class LoggedOutError extends Error {
  override name = 'LoggedOutError'
  constructor(options?: ErrorOptions) {
    super('Logged out', options)
  }
}

/**
 * A refresh answer that cannot be accepted although the server said 200, e.g.
 * tokens issued for another DID. Treated as a definitive failure.
 */
export class SessionMismatchError extends Error {
  override name = 'SessionMismatchError'
}

/** A refresh or logout that did not finish within the configured timeout. */
export class SessionTimeoutError extends Error {
  override name = 'SessionTimeoutError'
}
