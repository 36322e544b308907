import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { UploadState } from '../../../uploads/uploads-service.js'
import { problems } from '../../openapi.js'
import { SafeInteger } from '../../safe-integer.js'

export const UploadParams = Type.Object({
  id: Type.String({
    pattern: '^[A-Za-z0-9_-]{1,64}$',
    description: 'The upload id (from Location)',
  }),
})

export const TusResumable = Type.Optional(
  Type.String({ description: 'Must be 1.0.0 (else 412)', examples: ['1.0.0'] }),
)

export const UploadOffset = SafeInteger({ minimum: 0, description: 'Bytes already received' })
export const UploadLength = SafeInteger({ minimum: 0, description: 'The whole upload, in bytes' })

/** What each problem status means on a tus route. */
const PROBLEMS = {
  400: '`invalid_tus_request` (a malformed or contradictory tus header), or `validation_failed`',
  403: '`upload_is_final`: a final (concatenated) upload takes no PATCH; or `account_disabled`',
  404: '`upload_not_found`: no such upload, or another user’s',
  408: '`upload_timeout`: the client sent nothing for UPLOAD_IDLE_TIMEOUT_SECONDS',
  409: '`upload_offset_mismatch`: Upload-Offset is not the upload’s offset',
  410: '`upload_expired`: the upload expired',
  412: '`unsupported_tus_version`: Tus-Resumable is missing or not 1.0.0',
  413: '`payload_too_large` (past MAX_UPLOAD_BYTES or Upload-Length) or `quota_exceeded`',
  415: '`unsupported_media_type`: the body is not application/offset+octet-stream',
  423: '`upload_locked`: another request is writing this upload; retry',
  460: '`checksum_mismatch`: the body does not match Upload-Checksum; discarded',
  503: '`upload_interrupted`, or `service_unavailable`: the database is unavailable',
  507: '`insufficient_storage`: the store is full',
}

type ProblemStatus = keyof typeof PROBLEMS

/** The problem+json responses of these statuses, for a tus route's schema. */
export function tusProblems(...statuses: ProblemStatus[]) {
  return problems(Object.fromEntries(statuses.map((status) => [status, PROBLEMS[status]])))
}

/** Headers every answer about an upload carries. */
export function uploadHeaders(reply: FastifyReply, state: UploadState) {
  reply.header('upload-offset', String(state.offset))
  reply.header('upload-expires', state.expiresAt.toUTCString())
  reply.header('cache-control', 'no-store')
}

export function uploadLocation(id: string): string {
  return `/uploads/${id}`
}
