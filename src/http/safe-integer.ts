import { Type } from '@fastify/type-provider-typebox'
import { MAX_LIFETIME_SECONDS } from '../files/expiry.js'

export interface SafeIntegerOptions {
  minimum: number
  /** Defaults to 2^53 − 1: past it a double no longer holds every integer exactly. */
  maximum?: number
  description?: string
  default?: number
}

/**
 * An integer field every route may use as it is: finite and within its bounds.
 *
 * Ajv coerces the text "Infinity" (or "1e999") to the number Infinity without checking the
 * result, and skips minimum and maximum for numbers that are not finite, so a plain bounded
 * Type.Integer lets ±Infinity reach the database. The nested type check runs on the coerced
 * value, where Infinity is no integer.
 */
export function SafeInteger({ maximum = Number.MAX_SAFE_INTEGER, ...options }: SafeIntegerOptions) {
  return Type.Integer({ ...options, maximum, allOf: [{ type: 'integer' }] })
}

/** Seconds from now; at most the ten years any expiry may lie ahead. */
export const ExpiresIn = SafeInteger({
  minimum: 1,
  maximum: MAX_LIFETIME_SECONDS,
  description: `Seconds from now, 1 to ${MAX_LIFETIME_SECONDS}`,
})
