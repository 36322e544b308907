import type { App } from '../../src/http/types.js'
import type { TestUser } from './accounts.js'
import { multipartBody } from './multipart.js'

/** Uploads one file through app.inject and returns the created file object. */
export async function injectUpload(app: App, user: TestUser, name: string, body: Buffer) {
  const { boundary, stream } = multipartBody([{ name: 'file', filename: name, body }])
  const res = await app.inject({
    method: 'POST',
    url: '/upload',
    headers: { ...user.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: stream,
  })
  if (res.statusCode !== 201) throw new Error(`upload failed: ${res.statusCode} ${res.body}`)
  return res.json<{ id: string; name: string; sha256: string; size: number }>()
}
