import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth, noContent } from '../../openapi.js'
import type { App } from '../../types.js'
import { FileParams } from './schemas.js'

export function deleteFile(app: App, files: FilesService) {
  app.delete(
    '/files/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['files'],
        summary: 'Delete a file',
        security: bearerAuth,
        response: noContent,
        params: FileParams,
      },
    },
    async (req, reply) => {
      await files.remove(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
