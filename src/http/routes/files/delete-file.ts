import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth, noContent, problems } from '../../openapi.js'
import type { App } from '../../types.js'
import { FileNotFound, FileParams } from './schemas.js'

export function deleteFile(app: App, files: FilesService) {
  app.delete(
    '/files/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['files'],
        summary: 'Delete a file',
        operationId: 'deleteFile',
        security: bearerAuth,
        response: { ...noContent, ...problems({ 404: FileNotFound }) },
        params: FileParams,
      },
    },
    async (req, reply) => {
      await files.remove(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
