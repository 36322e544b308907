/** Raised when an awaited call outlives the time it was given. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError'
}

/**
 * Waits for `promise` at most `ms` milliseconds. The work itself is not cancelled: it goes
 * on in the background, its eventual failure swallowed, so a hung dependency costs the
 * caller a bounded wait and never an unhandled rejection.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineExceededError(`${what} did not finish within ${ms} ms`)),
      ms,
    )
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
