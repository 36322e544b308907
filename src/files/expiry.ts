import { InvalidExpiryError } from './files-errors.js'

export const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600

/** Turns the `expires_in` (seconds) / `expires_at` (ISO time) pair a client sends into a date. */
export function resolveExpiry(input: {
  expiresIn?: number
  expiresAt?: string | null
}): Date | null | undefined {
  const { expiresIn, expiresAt } = input
  if (expiresIn !== undefined && expiresAt !== undefined) {
    throw new InvalidExpiryError('Give expires_in or expires_at, not both')
  }
  if (expiresIn !== undefined) {
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_LIFETIME_SECONDS) {
      throw new InvalidExpiryError(
        `expires_in must be a whole number of seconds from 1 to ${MAX_LIFETIME_SECONDS}`,
      )
    }
    return new Date(Date.now() + expiresIn * 1000)
  }
  if (expiresAt === null) return null
  if (expiresAt === undefined) return undefined
  const at = new Date(expiresAt)
  if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(expiresAt)) {
    throw new InvalidExpiryError('expires_at must be an ISO 8601 date-time')
  }
  if (at.getTime() <= Date.now()) throw new InvalidExpiryError('expires_at must be in the future')
  if (at.getTime() > Date.now() + MAX_LIFETIME_SECONDS * 1000) {
    throw new InvalidExpiryError('expires_at is too far in the future')
  }
  return at
}
