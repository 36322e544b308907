import { AppError } from '../errors.js'

/** Also what another user's file looks like: existence is never revealed. */
export class FileNotFoundError extends AppError {
  constructor() {
    super('file_not_found', 404, 'No such file')
  }
}

export class InvalidFileNameError extends AppError {
  constructor(reason: string) {
    super('invalid_file_name', 400, `Invalid file name: ${reason}`)
  }
}

export class InvalidUploadError extends AppError {
  constructor(message: string) {
    super('invalid_upload', 400, message)
  }
}

export class UploadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super('payload_too_large', 413, `A file may be at most ${limitBytes} bytes`)
  }
}

/** The whole request, all its parts together, is over MAX_REQUEST_BYTES; nothing was kept. */
export class RequestTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super('request_too_large', 413, `An upload request may be at most ${limitBytes} bytes`)
  }
}

/** The client sent nothing for the idle timeout; what it had sent is not kept. */
export class UploadTimeoutError extends AppError {
  constructor(idleSeconds: number) {
    super('upload_timeout', 408, `No upload data arrived for ${idleSeconds} s`)
  }
}

export class InvalidExpiryError extends AppError {
  constructor(message: string) {
    super('invalid_expiry', 400, message)
  }
}

export class RangeNotSatisfiableError extends AppError {
  constructor(size: number) {
    super('range_not_satisfiable', 416, 'The requested range is outside the file', {
      'content-range': `bytes */${size}`,
    })
  }
}

export class InvalidSignatureError extends AppError {
  constructor(message = 'The download link signature is invalid') {
    super('invalid_signature', 403, message)
  }
}

export class SignedUrlExpiredError extends AppError {
  constructor() {
    super('signed_url_expired', 403, 'The download link has expired')
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(expected: string) {
    super('unsupported_media_type', 415, `Expected ${expected}`)
  }
}

export class TooManyPartsError extends AppError {
  constructor() {
    super('too_many_parts', 413, 'The upload has too many parts or fields')
  }
}

export class InvalidCursorError extends AppError {
  constructor() {
    super('invalid_cursor', 400, 'The cursor is malformed or from another query')
  }
}

export class InvalidFilterError extends AppError {
  constructor(message: string) {
    super('invalid_filter', 400, message)
  }
}

/** The server gave up on the upload while it streamed (its lease lapsed); nothing was kept. */
export class UploadInterruptedError extends AppError {
  constructor() {
    super('upload_interrupted', 503, 'The upload was interrupted on the server; send it again', {
      'retry-after': '1',
    })
  }
}

/** The upload would take the owner past their storage quota; nothing of it was kept. */
export class QuotaExceededError extends AppError {
  constructor() {
    super('quota_exceeded', 413, 'The upload would exceed your storage quota')
  }
}
