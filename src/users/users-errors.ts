import { AppError } from '../errors.js'

export class EmailTakenError extends AppError {
  constructor() {
    super('email_taken', 409, 'An account with this email already exists')
  }
}

export class InvalidEmailError extends AppError {
  constructor() {
    super('invalid_email', 400, 'email is not a valid address')
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
