import { Type } from '@fastify/type-provider-typebox'
import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth } from '../../openapi.js'
import type { App } from '../../types.js'
import { FileObject, fileResponse } from './schemas.js'

export function listFiles(app: App, files: FilesService) {
  app.get(
    '/files',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['files'],
        summary: 'Your files, newest first',
        security: bearerAuth,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 512 })),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(FileObject),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (req) => {
      const page = await files.list(req.user.id, req.query)
      return {
        items: page.items.map((file) => fileResponse(file, files)),
        next_cursor: page.nextCursor,
      }
    },
  )
}
