import { Type } from '@fastify/type-provider-typebox'
import { CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_VERSION } from '../../../uploads/tus-protocol.js'
import { anonymous } from '../../openapi.js'
import type { App } from '../../types.js'

export function optionsUploads(app: App, options: { maxUploadBytes: number }) {
  app.options(
    '/uploads',
    {
      schema: {
        tags: ['uploads'],
        operationId: 'tusOptions',
        security: anonymous,
        summary: 'tus discovery: version, extensions, largest upload, checksum algorithms',
        response: {
          204: Type.Null({
            description:
              'Tus-Version, Tus-Extension, Tus-Max-Size and Tus-Checksum-Algorithm headers; no auth needed',
          }),
        },
      },
    },
    async (_req, reply) => {
      reply.headers({
        'tus-version': TUS_VERSION,
        'tus-extension': TUS_EXTENSIONS,
        'tus-max-size': String(options.maxUploadBytes),
        'tus-checksum-algorithm': CHECKSUM_ALGORITHMS.join(','),
      })
      return reply.code(204).send(null)
    },
  )
}
