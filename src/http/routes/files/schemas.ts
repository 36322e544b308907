import { Type } from '@fastify/type-provider-typebox'
import type { FileRecord, ListedFile } from '../../../files/files-repository.js'
import type { FilesService } from '../../../files/files-service.js'
import { ExpiresIn } from '../../safe-integer.js'

export const FileObject = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  size: Type.Integer(),
  content_type: Type.String(),
  sha256: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  url: Type.String({ description: 'A signed download URL that needs no Authorization header' }),
})

export const FileParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const ExpiryQuery = {
  expires_in: Type.Optional(ExpiresIn),
  expires_at: Type.Optional(
    Type.String({ format: 'date-time', description: 'When the file is deleted' }),
  ),
}

export function fileResponse(file: FileRecord, files: FilesService) {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    content_type: file.content_type,
    sha256: file.sha256 ?? '',
    created_at: file.created_at.toISOString(),
    updated_at: file.updated_at.toISOString(),
    expires_at: file.expires_at?.toISOString() ?? null,
    url: files.contentUrl(file),
  }
}

/** A listed file as the API shows it; its timestamps are the API's text already. */
export function listedFileResponse(file: ListedFile, url: string) {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    content_type: file.content_type,
    sha256: file.sha256 ?? '',
    created_at: file.created_at,
    updated_at: file.updated_at,
    expires_at: file.expires_at,
    url,
  }
}
