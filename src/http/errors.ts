import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from 'fastify'
import { AppError } from '../errors.js'
import { isDatabaseUnavailable } from '../infra/db.js'
import { InsufficientStorageError } from '../storage/storage-errors.js'
import { SECURITY_HEADERS } from './plugins/request-gate.js'

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
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  423: 'Locked',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  460: 'Checksum Mismatch',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
}

// System errors that mean the disk (or a quota on it) is full, wherever they were raised.
const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT'])

// Fastify's own 4xx errors, given the stable codes and fixed details our clients see. Their
// own messages are not used: some quote the request (a path, a content type).
const FASTIFY_ERRORS: Record<string, { code: string; detail: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    detail: 'This route does not accept that content type',
  },
  FST_INVALID_MULTIPART_CONTENT_TYPE: {
    code: 'unsupported_media_type',
    detail: 'Expected multipart/form-data',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', detail: 'Request body is too large' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'invalid_body',
    detail: 'The body is empty but the content type is application/json',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_body', detail: 'The body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'bad_request',
    detail: 'The body does not match its Content-Length',
  },
  FST_ERR_BAD_URL: { code: 'bad_url', detail: 'The path is not valid percent-encoding' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri_too_long', detail: 'A path segment is too long' },
}

const NOT_HTTP = { status: 400, code: 'bad_request', detail: 'The request is not valid HTTP' }
const PARSER_ERRORS: Record<string, typeof NOT_HTTP> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    detail: 'The request line or headers are too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'request_timeout',
    detail: 'The request headers did not arrive in time',
  },
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

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
    if (status >= 400 && status < 500) return sendProblem(reply, frameworkProblem(err, status))
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

  app.setNotFoundHandler((req, reply) => {
    // A path that exists under other methods is 405, so clients learn what it takes.
    const path = req.url.split('?')[0] ?? ''
    const allowed = METHODS.filter((method) => app.findRoute({ method, url: path }))
    if (allowed.length > 0) {
      return sendProblem(
        reply,
        problem(405, 'method_not_allowed', 'This path does not take that method'),
        { allow: allowed.join(', ') },
      )
    }
    return sendProblem(reply, problem(404, 'route_not_found', 'No such route'))
  })
}

/**
 * Errors the router raises before any route or hook runs (a path segment over
 * maxParamLength, bad percent-encoding): Fastify's `frameworkErrors` option.
 */
export function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  return sendProblem(reply, frameworkProblem(err, err.statusCode ?? 400), {
    ...SECURITY_HEADERS,
    'x-request-id': req.id,
  })
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (headers or a URL over
 * the size limit, malformed syntax, a client too slow to send its headers): Fastify's
 * `clientErrorHandler` option. Only the error's code is logged: the error carries the raw bytes
 * of the request, and those may hold a token.
 */
export function clientErrorHandler(logger: FastifyBaseLogger) {
  return (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const { status, code, detail } = PARSER_ERRORS[err.code ?? ''] ?? NOT_HTTP
    const requestId = randomUUID()
    logger.debug({ request_id: requestId, code: err.code, status }, 'client error')
    if (socket.writable) {
      const body = JSON.stringify(problem(status, code, detail))
      const headers = {
        'content-type': 'application/problem+json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-request-id': requestId,
        ...SECURITY_HEADERS,
        connection: 'close',
      }
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head.join('')}\r\n${body}`)
    }
    socket.destroy()
  }
}

function frameworkProblem(err: FastifyError, status: number): Problem {
  const known = FASTIFY_ERRORS[err.code]
  if (known) return problem(status, known.code, known.detail)
  const title = TITLES[status] ?? 'Bad Request'
  return problem(
    status,
    title.toLowerCase().replaceAll(' ', '_'),
    `The request was refused: ${title}`,
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
