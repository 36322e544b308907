/**
 * The base of every error a client may see. `code` is stable and machine-readable;
 * `status` is the HTTP status it maps to. Feature errors subclass it in <feature>-errors.ts.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class NotAuthenticatedError extends AppError {
  constructor(message = 'A valid access token is required') {
    super('not_authenticated', 401, message, { 'www-authenticate': 'Bearer' })
  }
}

export class ValidationError extends AppError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super('validation_failed', 400, message)
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, retryAfterSeconds = 1) {
    super('service_unavailable', 503, message, { 'retry-after': String(retryAfterSeconds) })
  }
}

export class TooManyAttemptsError extends AppError {
  constructor(retryAfterSeconds: number, message = 'Too many failed attempts; try again later') {
    super('too_many_attempts', 429, message, {
      'retry-after': String(retryAfterSeconds),
    })
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super('rate_limited', 429, 'Too many requests; slow down', {
      'retry-after': String(retryAfterSeconds),
    })
  }
}
