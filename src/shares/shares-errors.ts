import { AppError } from '../errors.js'

/** Unknown, revoked, or another user's: all look the same. */
export class ShareNotFoundError extends AppError {
  constructor() {
    super('share_not_found', 404, 'No such share link')
  }
}

export class ShareGoneError extends AppError {
  constructor(reason: 'expired' | 'exhausted') {
    super(
      reason === 'expired' ? 'share_expired' : 'share_download_limit_reached',
      410,
      reason === 'expired' ? 'This link has expired' : 'This link has reached its download limit',
    )
  }
}

export class SharePasswordError extends AppError {
  constructor(given: boolean) {
    super(
      given ? 'share_password_invalid' : 'share_password_required',
      401,
      given
        ? 'The password is incorrect'
        : 'This link needs a password (x-share-password header or POST form)',
    )
  }
}

export class InvalidShareOptionsError extends AppError {
  constructor(message: string) {
    super('invalid_share_options', 400, message)
  }
}
