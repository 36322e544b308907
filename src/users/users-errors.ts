import { AppError } from '../errors.js'

export class EmailTakenError extends AppError {
  constructor() {
    super('email_taken', 409, 'An account with this email already exists')
  }
}

export class InvalidEmailError extends AppError {
  constructor(reason?: string) {
    super('invalid_email', 400, `email is not a valid address${reason ? `: ${reason}` : ''}`)
  }
}

/** One error for unknown email and wrong password alike: no account-existence oracle. */
export class InvalidCredentialsError extends AppError {
  constructor() {
    super('invalid_credentials', 401, 'Email or password is incorrect')
  }
}

export class InvalidRefreshTokenError extends AppError {
  constructor() {
    super('invalid_refresh_token', 401, 'The refresh token is invalid, expired or revoked')
  }
}

export class AccountDisabledError extends AppError {
  constructor() {
    super('account_disabled', 403, 'This account has been disabled by the operator')
  }
}

export class SessionNotFoundError extends AppError {
  constructor() {
    super('session_not_found', 404, 'No such session')
  }
}

export class RegistrationClosedError extends AppError {
  constructor() {
    super('registration_closed', 403, 'Registration is closed; ask the operator for an account')
  }
}

/** Missing, unknown, expired or spent: one answer, so invites cannot be probed. */
export class InvalidInviteError extends AppError {
  constructor() {
    super('invalid_invite', 403, 'A valid, unused invite is required to register')
  }
}
