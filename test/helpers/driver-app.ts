import { buildTestApp, type TestApp, type TestAppWrappers } from './build-test-app.js'
import { type S3TestServer, startS3Server } from './s3-server.js'

export type Driver = 'local' | 's3'

/** A test app on the given storage driver; for s3, with its own s3rver. */
export async function buildDriverApp(
  driver: Driver,
  env: Record<string, string> = {},
  wrap: TestAppWrappers = {},
): Promise<TestApp & { s3?: S3TestServer }> {
  const s3 = driver === 's3' ? await startS3Server() : undefined
  const t = await buildTestApp({ ...(s3?.env ?? {}), ...env }, wrap)
  return {
    ...t,
    s3,
    async close() {
      await t.close()
      await s3?.close()
    },
  }
}
