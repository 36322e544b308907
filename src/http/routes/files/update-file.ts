import { Type } from '@fastify/type-provider-typebox'
import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { FileNotFound, FileObject, FileParams, fileResponse } from './schemas.js'

export function updateFile(app: App, files: FilesService) {
  app.patch(
    '/files/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['files'],
        summary: 'Rename a file or change when it expires',
        operationId: 'updateFile',
        security: bearerAuth,
        params: FileParams,
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
            expires_in: Type.Optional(ExpiresIn),
            expires_at: Type.Optional(
              Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
                description: 'null removes the expiry',
              }),
            ),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: {
          200: FileObject,
          ...problems({
            400: '`invalid_file_name`, `invalid_expiry`, or `validation_failed`',
            404: FileNotFound,
          }),
        },
      },
    },
    async (req) => {
      const { name, expires_in, expires_at } = req.body
      const file = await files.update(req.user.id, req.params.id, {
        name,
        expiresIn: expires_in,
        expiresAt: expires_at,
      })
      return fileResponse(file, files)
    },
  )
}
