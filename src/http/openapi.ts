import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { type TSchema, Type } from '@fastify/type-provider-typebox'
import type { FastifySchema, RouteOptions } from 'fastify'
import { SocketMessage } from './routes/events/socket-messages.js'
import type { App } from './types.js'

/** The security requirement every owner-only route declares in the OpenAPI document. */
export const bearerAuth = [{ bearerAuth: [] }]

/** Routes anyone may call say so outright, rather than by leaving `security` out. */
export const anonymous: Record<string, string[]>[] = []

/** The response of routes that answer 204 with no body, so the document declares it. */
export const noContent = { 204: Type.Null({ description: 'Done; no body' }) }

/** Every error body, whoever raised it: see registerErrorHandling in errors.ts. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: '`urn:satchel:problem:` followed by the code' }),
    title: Type.String({ description: "The status's reason phrase" }),
    status: Type.Integer({ description: 'The HTTP status, repeated' }),
    detail: Type.String({ description: 'What went wrong, for a person to read' }),
    code: Type.String({ description: 'Stable and machine-readable, e.g. `file_not_found`' }),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), {
        description: 'Only with `validation_failed`: every field that failed, and why',
      }),
    ),
  },
  { $id: 'Problem', description: 'An RFC 9457 problem: the body of every error response' },
)

/** Response headers, each with what it says (OpenAPI wants them apart from the body). */
export const RetryAfter = {
  'retry-after': Type.Integer({ description: 'Seconds to wait before trying again' }),
}

/** A server-rendered page (the share pages), for a browser that ranks text/html first. */
export const HtmlPage = Type.String({ description: 'An HTML page, for a browser' })

export interface ProblemSpec {
  description: string
  headers?: Record<string, TSchema>
  /** A browser gets this error as an HTML page instead (the share links). */
  page?: boolean
}

interface ProblemResponse {
  description: string
  headers?: Record<string, TSchema>
  content: Record<string, { schema: TSchema }>
}

/**
 * A route's own error responses, status → what it means on that route, each with the
 * problem+json body. Those every route shares are added by declareCommonProblems().
 */
export function problems(
  specs: Record<number, string | ProblemSpec>,
): Record<number, ProblemResponse> {
  return Object.fromEntries(
    Object.entries(specs).map(([status, spec]) => {
      const { description, headers, page } = typeof spec === 'string' ? { description: spec } : spec
      const content = {
        'application/problem+json': { schema: Type.Ref('Problem') },
        ...(page ? { 'text/html': { schema: HtmlPage } } : {}),
      }
      return [status, { description, ...(headers ? { headers } : {}), content }]
    }),
  )
}

/**
 * Route config that adds `extra` to the route's schema in the document only, for what
 * Fastify must not check itself: a streamed multipart body, a WebSocket's upgrade.
 */
export function documentOnly(extra: FastifySchema & Record<string, unknown>) {
  return {
    swaggerTransform: ({ schema, url }: { schema: FastifySchema; url: string }) => ({
      url,
      schema: { ...schema, ...extra },
    }),
  }
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * The errors a route can get from the request chain rather than from its own code: input
 * validation and body parsing, authentication, the rate limiter, a path segment too long
 * for the router, the database going away, and a bug.
 */
function commonProblems(route: RouteOptions): Record<number, ProblemSpec> {
  const schema = route.schema ?? {}
  const methods = [route.method].flat()
  const takesBody = methods.some((method) => BODY_METHODS.has(method))
  const secured = (schema.security ?? []).some((requirement) => 'bearerAuth' in requirement)
  // The probes and /metrics are exempt from the limiter and reach no dependency on the way
  // in; /readyz declares its own 503.
  const limited = route.config?.rateLimit !== false
  const specs: Record<number, ProblemSpec> = {}
  if (takesBody || schema.body || schema.querystring || schema.params) {
    specs[400] = {
      description:
        '`validation_failed` (with `errors`, one per field), or `invalid_body` (not valid JSON, or empty with a JSON content type)',
    }
  }
  if (secured) {
    specs[401] = {
      description:
        '`not_authenticated`: no access token, or one that is invalid, expired or revoked',
      headers: { 'www-authenticate': Type.String({ description: '`Bearer`' }) },
    }
    specs[403] = { description: '`account_disabled`: the operator disabled this account' }
  }
  if (schema.params) specs[414] = { description: '`uri_too_long`: a path segment is too long' }
  if (takesBody) {
    specs[413] = { description: '`payload_too_large`: the body is over the size limit' }
    specs[415] = { description: '`unsupported_media_type`: this route takes another content type' }
  }
  if (limited) {
    specs[429] = {
      description: '`rate_limited`: over RATE_LIMIT_PER_MINUTE (or the stricter per-IP limit)',
      headers: {
        ...RetryAfter,
        'ratelimit-limit': Type.Integer({ description: 'Requests allowed per window' }),
        'ratelimit-remaining': Type.Integer({ description: 'Requests left in this window' }),
        'ratelimit-reset': Type.Integer({ description: 'Seconds until the window resets' }),
      },
    }
    specs[503] = {
      description: '`service_unavailable`: the database is unreachable; retry shortly',
      headers: RetryAfter,
    }
  }
  specs[500] = { description: '`internal_error`: a bug; the log has the details' }
  return specs
}

/** Adds the common error responses to every documented route, beneath its own. */
function declareCommonProblems(route: RouteOptions) {
  const schema = route.schema
  if (!schema || schema.hide) return
  // A new object each time: routes share response objects such as noContent.
  route.schema = {
    ...schema,
    response: { ...problems(commonProblems(route)), ...(schema.response as object) },
  }
}

/**
 * A query parameter with a default may be left out: the validator fills it in. TypeBox lists
 * it as required all the same, so the document takes it off the list.
 */
function defaultsOptional(schema: FastifySchema): FastifySchema {
  const query = schema.querystring as
    | { required?: string[]; properties?: Record<string, { default?: unknown }> }
    | undefined
  if (!query?.required) return schema
  const required = query.required.filter((name) => query.properties?.[name]?.default === undefined)
  return { ...schema, querystring: { ...query, required } }
}

export interface OpenApiOptions {
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
}

const DESCRIPTION = `File sharing and management.

Every error is an RFC 9457 \`application/problem+json\` body (the \`Problem\` schema) with a
stable \`code\`. Another user's resource is always \`404\`. Every response carries
\`x-request-id\`; rate-limited routes carry \`RateLimit-Limit\`, \`RateLimit-Remaining\` and
\`RateLimit-Reset\`.

To try the owner-only routes here: \`POST /register\`, then \`POST /login\`, and paste its
\`access_token\` into **Authorize**.`

/** Swagger (the document at /openapi.json) and its UI at /docs; before any route. */
export async function registerOpenApi(app: App, options: OpenApiOptions) {
  app.addSchema(Problem)
  app.addHook('onRoute', declareCommonProblems)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Satchel', version: '0.1.0', description: DESCRIPTION },
      // Relative: the server that served this document, wherever it is reached.
      servers: [{ url: '/', description: 'This server' }],
      tags: [
        { name: 'accounts', description: 'Registration, login, tokens and sessions' },
        { name: 'files', description: 'Upload, list, search, download, rename, delete' },
        { name: 'uploads', description: 'Resumable uploads: the tus 1.0 protocol' },
        { name: 'shares', description: "Public links to a file, managed by the file's owner" },
        { name: 'public', description: 'What anyone with a link may do, without an account' },
        { name: 'notifications', description: 'Your events, live over a WebSocket' },
        { name: 'operations', description: 'Probes and metrics for operators' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: `An access token, sent as \`Authorization: Bearer <access_token>\`. \`POST /login\` with \`{email, password}\` (an account made by \`POST /register\`) answers a token pair: the \`access_token\` is valid for \`expires_in\` seconds (${options.accessTokenTtlSeconds} here, ACCESS_TOKEN_TTL_SECONDS); before then, \`POST /token/refresh\` with \`{refresh_token}\` answers a new pair and spends the old refresh token (valid ${options.refreshTokenTtlSeconds} s, REFRESH_TOKEN_TTL_SECONDS). \`POST /logout\` ends the session.`,
          },
          metricsToken: {
            type: 'http',
            scheme: 'bearer',
            description:
              'METRICS_TOKEN, for Prometheus. Without DATABASE_URL (the embedded mode) and no METRICS_TOKEN, /metrics is open.',
          },
        },
        schemas: { SocketMessage },
        parameters: sharedParameters,
      },
    },
    transform: ({ schema, url }) => ({ url, schema: defaultsOptional(schema) }),
    transformObject: (doc) =>
      referSharedParameters('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
    // Shared schemas (Problem) keep their own names among the components.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())
}

const IDEMPOTENCY_KEY_DESCRIPTION =
  'Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): a quoted string, or a bare token such as a UUID, of 1 to 255 characters, unique per request. A retry with the same key and the same request within 24 hours gets the first answer again, with `Idempotent-Replayed: true`, and nothing is stored twice; the same key for a different request gets 422, and one sent while the first is still running 409. Keys are per user. A request that fails frees its key.'

/** The routes that take Idempotency-Key declare it so (and the document refers to one copy). */
export const IdempotencyKeyHeader = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ description: IDEMPOTENCY_KEY_DESCRIPTION })),
})

/** What a route taking Idempotency-Key may answer besides its success, for problems(). */
export const idempotencyProblems = {
  400: '`invalid_idempotency_key`: the Idempotency-Key is malformed (or `validation_failed`)',
  409: '`idempotency_key_in_use`: a request with this Idempotency-Key is still being processed',
  422: '`idempotency_key_reused`: this Idempotency-Key was already used for a different request',
}

const IDEMPOTENCY_KEY_REF = { $ref: '#/components/parameters/IdempotencyKey' }

/** The shared parameter, in components.parameters of the document. */
export const sharedParameters = {
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header' as const,
    required: false,
    description: IDEMPOTENCY_KEY_DESCRIPTION,
    schema: { type: 'string' as const, maxLength: 257 },
    example: '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
  },
}

interface Operation {
  parameters?: ({ in?: string; name?: string } | typeof IDEMPOTENCY_KEY_REF)[]
}

/**
 * @fastify/swagger writes a route's header schema inline in each operation; this points
 * the operations at the one shared Idempotency-Key parameter instead.
 */
export function referSharedParameters<T extends object>(doc: T): T {
  const { paths = {} } = doc as { paths?: Record<string, Record<string, Operation>> }
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item)) {
      if (!op.parameters) continue
      op.parameters = op.parameters.map((p) =>
        'in' in p && p.in === 'header' && p.name?.toLowerCase() === 'idempotency-key'
          ? IDEMPOTENCY_KEY_REF
          : p,
      )
    }
  }
  return doc
}
