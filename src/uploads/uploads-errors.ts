import { AppError } from '../errors.js'
import { TUS_VERSION } from './tus-protocol.js'

/** Also what another user's upload, or an expired one already swept, looks like. */
export class UploadNotFoundError extends AppError {
  constructor() {
    super('upload_not_found', 404, 'No such upload')
  }
}

/** Expired but not yet swept: its bytes are about to go. */
export class UploadExpiredError extends AppError {
  constructor() {
    super('upload_expired', 410, 'The upload has expired')
  }
}

export class UnsupportedTusVersionError extends AppError {
  constructor() {
    super('unsupported_tus_version', 412, `Only tus ${TUS_VERSION} is supported`, {
      'tus-version': TUS_VERSION,
    })
  }
}

/** Another request is writing this upload (tus clients retry on 423). */
export class UploadLockedError extends AppError {
  constructor() {
    super('upload_locked', 423, 'Another request is writing this upload; retry shortly', {
      'retry-after': '1',
    })
  }
}

/** The client's idea of the offset is not the server's: it should HEAD and resume from there. */
export class UploadOffsetMismatchError extends AppError {
  constructor(offset: number) {
    super('upload_offset_mismatch', 409, `The upload is at offset ${offset}`, {
      'upload-offset': String(offset),
    })
  }
}

/** tus's checksum extension mandates 460; nothing of the request body was kept. */
export class ChecksumMismatchError extends AppError {
  constructor() {
    super('checksum_mismatch', 460, 'The body does not match Upload-Checksum; it was discarded')
  }
}

export class UnsupportedChecksumError extends AppError {
  constructor() {
    super('unsupported_checksum', 400, 'Upload-Checksum must use sha1 or sha256')
  }
}

/** A bad tus header: missing, malformed, or contradicting another. */
export class InvalidTusRequestError extends AppError {
  constructor(message: string) {
    super('invalid_tus_request', 400, message)
  }
}

/** More bytes than Upload-Length, or a length changed once set. */
export class UploadLengthExceededError extends AppError {
  constructor(length: number) {
    super('upload_length_exceeded', 413, `The upload is ${length} bytes long`)
  }
}

/** tus: a final (concatenated) upload takes no PATCH. */
export class FinalUploadPatchError extends AppError {
  constructor() {
    super('upload_is_final', 403, 'A concatenated upload cannot be written to')
  }
}

/** The request body ended before its end (the client vanished); what arrived was kept. */
export class UploadBodyIncompleteError extends AppError {
  constructor() {
    super('upload_body_incomplete', 400, 'The body ended early; what arrived was kept')
  }
}
