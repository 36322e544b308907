import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { UploadState } from '../../../uploads/uploads-service.js'
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

const Problem = (description: string) =>
  Type.Object(
    {
      type: Type.String(),
      title: Type.String(),
      status: Type.Integer(),
      detail: Type.String(),
      code: Type.String(),
      errors: Type.Optional(
        Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
      ),
    },
    { description },
  )

/** The problem+json answers a tus route may give, by status, as the OpenAPI document shows them. */
const PROBLEMS = {
  400: Problem('A malformed or contradictory tus header (invalid_tus_request, validation_failed)'),
  401: Problem('No valid access token'),
  403: Problem('A final (concatenated) upload takes no PATCH (upload_is_final)'),
  404: Problem('No such upload, or another user’s (upload_not_found)'),
  408: Problem('The client sent nothing for UPLOAD_IDLE_TIMEOUT_SECONDS'),
  409: Problem('Upload-Offset is not the upload’s offset (upload_offset_mismatch)'),
  410: Problem('The upload expired (upload_expired)'),
  412: Problem('Tus-Resumable is missing or not 1.0.0 (unsupported_tus_version)'),
  413: Problem('Past MAX_UPLOAD_BYTES, Upload-Length, or the quota (quota_exceeded)'),
  415: Problem('The body is not application/offset+octet-stream'),
  423: Problem('Another request is writing this upload (upload_locked); retry'),
  460: Problem('The body does not match Upload-Checksum (checksum_mismatch); discarded'),
  503: Problem('The upload was interrupted on the server, or the database is unavailable'),
  507: Problem('The store is full'),
}

type ProblemStatus = keyof typeof PROBLEMS

/** The response schemas of these problem statuses. */
export function problems<S extends ProblemStatus>(...statuses: S[]) {
  return Object.fromEntries(statuses.map((status) => [status, PROBLEMS[status]])) as Pick<
    typeof PROBLEMS,
    S
  >
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
