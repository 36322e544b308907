/** The security requirement every owner-only route declares in the OpenAPI document. */
export const bearerAuth = [{ bearerAuth: [] }]
