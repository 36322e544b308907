import { Type } from '@fastify/type-provider-typebox'

/** The security requirement every owner-only route declares in the OpenAPI document. */
export const bearerAuth = [{ bearerAuth: [] }]

/** The response of routes that answer 204 with no body, so the document declares it. */
export const noContent = { 204: Type.Null({ description: 'Done; no body' }) }
