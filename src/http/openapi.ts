import { Type } from '@fastify/type-provider-typebox'

/** The security requirement every owner-only route declares in the OpenAPI document. */
export const bearerAuth = [{ bearerAuth: [] }]

/** The response of routes that answer 204 with no body, so the document declares it. */
export const noContent = { 204: Type.Null({ description: 'Done; no body' }) }

/** An RFC 9457 problem, as src/http/errors.ts answers every error. */
const ProblemObject = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable, machine-readable' }),
    errors: Type.Optional(
      Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
    ),
  },
  { description: 'RFC 9457 problem details' },
)

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemObject } },
})

const IDEMPOTENCY_KEY_DESCRIPTION =
  'Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): a quoted string, or a bare token such as a UUID, of 1 to 255 characters, unique per request. A retry with the same key and the same request within 24 hours gets the first answer again, with `Idempotent-Replayed: true`, and nothing is stored twice; the same key for a different request gets 422, and one sent while the first is still running 409. Keys are per user. A request that fails frees its key.'

/** The routes that take Idempotency-Key declare it so (and the document refers to one copy). */
export const IdempotencyKeyHeader = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ description: IDEMPOTENCY_KEY_DESCRIPTION })),
})

/** What a route taking Idempotency-Key may answer besides its success. */
export const idempotencyResponses = {
  400: problemResponse('The request, or its Idempotency-Key, is malformed'),
  409: problemResponse('A request with this Idempotency-Key is still being processed'),
  422: problemResponse('This Idempotency-Key was already used for a different request'),
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
