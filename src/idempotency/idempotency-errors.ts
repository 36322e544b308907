import { AppError } from '../errors.js'

export class InvalidIdempotencyKeyError extends AppError {
  constructor(reason: string) {
    super('invalid_idempotency_key', 400, `Invalid Idempotency-Key: ${reason}`)
  }
}

/** The first request with this key is still running; retry once it has answered. */
export class IdempotencyKeyInUseError extends AppError {
  constructor() {
    super(
      'idempotency_key_in_use',
      409,
      'A request with this Idempotency-Key is still being processed',
    )
  }
}

/** The key already belongs to a different request (another body, path or file). */
export class IdempotencyKeyReusedError extends AppError {
  constructor() {
    super(
      'idempotency_key_reused',
      422,
      'This Idempotency-Key was used for a different request; use a new key',
    )
  }
}
