import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import type { App } from '../../types.js'
import { FileNotFound, FileObject, FileParams, fileResponse } from './schemas.js'

export function getFile(app: App, files: FilesService) {
  app.get(
    '/files/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['files'],
        summary: "A file's metadata",
        operationId: 'getFile',
        security: bearerAuth,
        params: FileParams,
        response: { 200: FileObject, ...problems({ 404: FileNotFound }) },
      },
    },
    async (req) => fileResponse(await files.get(req.user.id, req.params.id), files),
  )
}
