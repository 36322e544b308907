import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { type FuzzContext, type Operation, type Parameter, requests } from './requests.js'
import type { Schema } from './schema-arbitraries.js'

// Fixed, so a failure found here is found again by the next run.
const SEED = 1414
const RUNS = 200
// Routes that hash a password on a valid body (~50 ms of argon2 each) run fewer cases.
const HASHING = new Set(['POST /register', 'POST /login', 'POST /me/password', 'DELETE /me'])
const HASHING_RUNS = 50
const METHODS = ['get', 'post', 'put', 'patch', 'delete']
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const t = await buildTestApp()
const doc = (await t.app.inject({ url: '/openapi.json' })).json()
const operations = operationsOf(doc)
const ajv = addFormats(new Ajv({ strict: false, allErrors: true, validateSchema: false }))

afterAll(() => t.close())

interface Owned {
  user: TestUser
  fileId: string
  shareId: string
  shareToken: string
  guardedToken: string
  /** Absent on a build without GET /sessions. */
  sessionId?: string
}

/** A user with a file, a plain share and a password-protected one. */
async function owner(): Promise<Owned> {
  const user = await signUp(t.app)
  const file = await injectUpload(t.app, user, 'seed.txt', Buffer.from('seed'))
  const share = async (payload: object) => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${file.id}/shares`,
      headers: user.auth,
      payload,
    })
    return res.json<{ id: string; url: string }>()
  }
  const plain = await share({})
  const guarded = await share({ password: 'share-password-fuzz' })
  const sessions = await t.app.inject({ url: '/sessions', headers: user.auth })
  return {
    user,
    fileId: file.id,
    shareId: plain.id,
    shareToken: plain.url.split('/s/')[1]!,
    guardedToken: guarded.url.split('/s/')[1]!,
    sessionId: sessions.json().items?.[0]?.id,
  }
}

// Another user's resources, for requests shaped like an IDOR.
const other = await owner()

function context(mine: Owned): FuzzContext {
  const ids = [mine.fileId, mine.shareId, mine.sessionId, other.fileId, other.shareId].filter(
    (id): id is string => id !== undefined,
  )
  return {
    uuids: ids,
    authorization: `Bearer ${mine.user.accessToken}`,
    pathValues: (name) =>
      name === 'token'
        ? [mine.shareToken, mine.guardedToken, other.shareToken]
        : name === 'file_id'
          ? [mine.fileId, other.fileId]
          : ids,
  }
}

describe('every operation of /openapi.json under generated requests', () => {
  it('finds the operations', () => {
    expect(operations.length).toBeGreaterThan(20)
  })

  it.each(operations.map((op) => [`${op.method} ${op.path}`, op] as const))(
    '%s: never a 5xx; a problem+json or the declared success',
    async (name, op) => {
      const ctx = context(await owner())
      await fc.assert(
        fc.asyncProperty(requests(op, ctx), async (request) => {
          const res = await t.app.inject(request)
          checkResponse(op, request, res)
        }),
        { seed: SEED, numRuns: HASHING.has(name) ? HASHING_RUNS : RUNS, endOnFailure: true },
      )
    },
  )
})

function checkResponse(op: Operation, request: InjectOptions, res: LightMyRequestResponse) {
  const status = res.statusCode
  const where = `${request.method} ${String(request.url).slice(0, 300)} → ${status} ${res.body.slice(0, 500)}`
  if (status >= 500) throw new Error(`server error: ${where}`)
  if (status >= 400) {
    if (!String(res.headers['content-type']).startsWith('application/problem+json')) {
      throw new Error(`error without problem+json: ${where}`)
    }
    const body = res.json()
    for (const key of ['type', 'title', 'status', 'detail', 'code']) {
      if (!(key in body)) throw new Error(`problem without ${key}: ${where}`)
    }
    if (body.status !== status) throw new Error(`problem status differs: ${where}`)
    return
  }
  const declared = op.responses[String(status)]
  if (!declared) throw new Error(`undeclared status: ${where}`)
  const schema = declared.content?.['application/json']?.schema
  if (!schema || !String(res.headers['content-type']).startsWith('application/json')) return
  const validate = ajv.compile(schema)
  if (!validate(res.json())) {
    throw new Error(`body does not match the schema: ${ajv.errorsText(validate.errors)}: ${where}`)
  }
}

interface Document {
  components?: { parameters?: Record<string, Parameter> }
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: (Parameter | { $ref: string })[]
        requestBody?: { content: Record<string, { schema?: Schema }> }
        responses: Operation['responses']
      }
    >
  >
}

function operationsOf(document: Document): Operation[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        // A parameter with a default may be left out, whatever the document says.
        parameters: (op.parameters ?? []).map(sharedParameter(document)).map((p) => ({
          ...p,
          required: p.required && p.schema.default === undefined,
        })),
        jsonBody: op.requestBody?.content['application/json']?.schema,
        multipart:
          path === '/upload' || op.requestBody?.content['multipart/form-data'] !== undefined,
        responses: op.responses,
      })),
  )
}

/** A parameter as written, or the shared one (components.parameters) it refers to. */
function sharedParameter(document: Document) {
  return (p: Parameter | { $ref: string }): Parameter => {
    if (!('$ref' in p)) return p
    const shared = document.components?.parameters?.[p.$ref.split('/').at(-1) ?? '']
    if (!shared) throw new Error(`unresolved parameter ${p.$ref}`)
    return shared
  }
}
