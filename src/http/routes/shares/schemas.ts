import { Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { ShareRecord } from '../../../shares/shares-repository.js'
import type { SharesService } from '../../../shares/shares-service.js'
import { problems, RetryAfter } from '../../openapi.js'
import { SafeInteger } from '../../safe-integer.js'

export const ShareObject = Type.Object({
  id: Type.String({ format: 'uuid' }),
  file_id: Type.String({ format: 'uuid' }),
  url: Type.String({ description: 'The public link; anyone with it can download' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  max_downloads: Type.Union([Type.Integer(), Type.Null()]),
  downloads: Type.Integer(),
  has_password: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
})

export const ShareParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
export const FileIdParams = Type.Object({ file_id: Type.String({ format: 'uuid' }) })
export const TokenParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) })

// Within the integer column, and small enough that max_downloads × the largest file size
// (the link's byte budget) stays within bigint.
export const MaxDownloads = SafeInteger({ minimum: 1, maximum: 1_000_000_000 })
export const SharePassword = Type.String({ minLength: 4, maxLength: 1024 })

/** Declared for the document and /docs; any string passes, as before it was declared. */
export const SharePasswordHeader = Type.Object({
  'x-share-password': Type.Optional(
    Type.String({ description: "The link's password, when it has one (never in the URL)" }),
  ),
})

export const ShareNotFound = "`share_not_found`: no such link of yours (another user's too)"

/**
 * What opening a link can refuse; a browser (Accept ranking text/html first) gets the
 * password form, the lockout and the dead-link pages instead of the problem.
 */
export const linkProblems = problems({
  401: {
    description:
      '`share_password_required` (no x-share-password) or `share_password_invalid`; a browser gets the password form',
    page: true,
  },
  404: { description: '`share_not_found`: unknown or revoked link', page: true },
  410: {
    description: '`share_expired` or `share_download_limit_reached`',
    page: true,
  },
  429: {
    description:
      '`too_many_attempts` (ten wrong passwords for this link from this client in 15 minutes), or `rate_limited`',
    headers: RetryAfter,
    page: true,
  },
})

export function shareResponse(share: ShareRecord, shares: SharesService) {
  return {
    id: share.id,
    file_id: share.file_id,
    url: shares.url(share),
    expires_at: share.expires_at?.toISOString() ?? null,
    max_downloads: share.max_downloads,
    downloads: share.downloads,
    has_password: share.password_hash !== null,
    created_at: share.created_at.toISOString(),
  }
}

/** The password for a protected link, from the header that keeps it out of URLs and logs. */
export function passwordFromHeader(req: FastifyRequest): string | undefined {
  const value = req.headers['x-share-password']
  return typeof value === 'string' ? value : undefined
}
