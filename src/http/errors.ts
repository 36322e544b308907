import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../errors.js'
import { isDatabaseUnavailable } from '../infra/db.js'
import { InsufficientStorageError } from '../storage/storage-errors.js'

interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  errors?: { field: string; message: string }[]
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
}

// System errors that mean the disk (or a quota on it) is full, wherever they were raised.
const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT'])

// Fastify's own 4xx errors, given the stable codes our clients see.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'unsupported_media_type',
}

export function problem(status: number, code: string, detail: string): Problem {
  return {
    type: `urn:satchel:problem:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
  }
}

export function sendProblem(
  reply: FastifyReply,
  body: Problem,
  headers: Record<string, string> = {},
) {
  return reply.code(body.status).headers(headers).type('application/problem+json').send(body)
}

/** The one place where errors become HTTP responses. */
export function registerErrorHandling(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const known = asAppError(err)
    if (known) {
      if (known.status >= 500) req.log.error({ err }, known.message)
      return sendProblem(reply, problem(known.status, known.code, known.message), known.headers)
    }
    if (err.validation) {
      const errors = err.validation.map((v) => ({
        field: fieldName(err.validationContext, v.instancePath, v.params),
        message: v.message ?? 'is invalid',
      }))
      const first = errors[0]
      const detail = first ? `${first.field} ${first.message}` : err.message
      return sendProblem(reply, { ...problem(400, 'validation_failed', detail), errors })
    }
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      const code =
        FASTIFY_CODES[err.code] ??
        (TITLES[status] ?? 'bad_request').toLowerCase().replaceAll(' ', '_')
      return sendProblem(reply, problem(status, code, err.message))
    }
    if (isDatabaseUnavailable(err)) {
      req.log.warn({ err }, 'database unavailable')
      return sendProblem(
        reply,
        problem(503, 'service_unavailable', 'The database is unavailable; retry shortly'),
        {
          'retry-after': '1',
        },
      )
    }
    req.log.error({ err }, 'unhandled error')
    return sendProblem(reply, problem(500, 'internal_error', 'An unexpected error occurred'))
  })

  app.setNotFoundHandler((req, reply) =>
    sendProblem(
      reply,
      problem(404, 'route_not_found', `No route for ${req.method} ${req.url.split('?')[0]}`),
    ),
  )
}

function asAppError(err: FastifyError): AppError | undefined {
  if (err instanceof AppError) return err
  if (OUT_OF_SPACE.has(err.code)) return new InsufficientStorageError({ cause: err })
  return undefined
}

function fieldName(
  context: string | undefined,
  instancePath: string,
  params: Record<string, unknown>,
) {
  const path = instancePath.replace(/^\//, '').replaceAll('/', '.')
  const missing = typeof params.missingProperty === 'string' ? params.missingProperty : ''
  const leaf = [path, missing].filter(Boolean).join('.')
  return leaf || context || 'request'
}
