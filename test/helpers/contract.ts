import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { App } from '../../src/http/types.js'

// Every response a test app sends is checked against the app's own /openapi.json: the
// status must be declared for the operation, the content type among the declared ones,
// and a JSON body must match the declared schema. Violations are only recorded here (the
// response goes out unchanged); contract-setup.ts fails the test that caused them.

export interface Violation {
  method: string
  route: string
  status: number
  problem: string
}

const violations: Violation[] = []

/** The violations recorded since the last call, which forgets them. */
export function takeViolations(): Violation[] {
  return violations.splice(0)
}

interface MediaType {
  schema?: object
}

interface Response {
  content?: Record<string, MediaType>
}

interface Document {
  paths: Record<string, Record<string, { responses: Record<string, Response> }>>
  components: object
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

/** Installs the check on `app`; call before ready(). */
export function checkContract(app: App) {
  let document: Document | undefined
  let ajv: Ajv2020 | undefined
  const validators = new Map<object, ValidateFunction>()

  const validatorFor = (schema: object) => {
    let validate = validators.get(schema)
    if (!validate) {
      ajv ??= makeAjv()
      // The operation's schemas point into the document's components.
      validate = ajv.compile({ allOf: [schema], components: document!.components })
      validators.set(schema, validate)
    }
    return validate
  }

  const check = (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const route = req.routeOptions.url
    // Unmatched requests (404 route_not_found, 405) belong to no operation.
    if (route === undefined) return
    document ??= app.swagger() as unknown as Document
    const path = route.replace(/:(\w+)/g, '{$1}')
    // A HEAD is its GET's twin unless the document has it as an operation of its own (tus).
    const item = document.paths[path]
    const method = req.method.toLowerCase()
    const operation = item?.[method] ?? (method === 'head' ? item?.get : undefined)
    // Routes the document hides (/openapi.json, /docs) promise nothing.
    if (!operation) return
    const status = reply.statusCode
    const fail = (problem: string) =>
      violations.push({ method: req.method, route, status, problem })
    const declared = operation.responses[String(status)]
    if (!declared) return fail('status not declared')
    // HTTP gives these no body, whatever the handler passed on (Fastify drops it).
    if (req.method === 'HEAD' || status === 204 || status === 304) return
    const text =
      typeof payload === 'string' || Buffer.isBuffer(payload) ? String(payload) : undefined
    if (!declared.content) {
      if (text) fail('a body where none is declared')
      return
    }
    const media = String(reply.getHeader('content-type') ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase()
    const entry =
      declared.content[media] ??
      declared.content[`${media.split('/')[0]}/*`] ??
      declared.content['*/*']
    if (!entry) return fail(`content type "${media}" not declared`)
    // A stream (a download) is out of reach; its headers were checked above.
    if (text === undefined || !entry.schema) return
    const body = /[/+]json$/.test(media) ? parseJson(text) : text
    if (body === INVALID_JSON) return fail(`not JSON: ${text.slice(0, 100)}`)
    const validate = validatorFor(entry.schema)
    if (!validate(body)) {
      const first = validate.errors?.[0]
      fail(`body does not match (${media}): ${first?.instancePath || '/'} ${first?.message}`)
    }
  }

  app.addHook('onSend', (req, reply, payload, done) => {
    try {
      check(req, reply, payload)
    } catch (err) {
      violations.push({
        method: req.method,
        route: req.routeOptions.url ?? req.url,
        status: reply.statusCode,
        problem: `the contract check failed: ${(err as Error).message}`,
      })
    }
    done(null, payload)
  })
}

const INVALID_JSON = Symbol('invalid JSON')

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return INVALID_JSON
  }
}

function makeAjv() {
  const ajv = addFormats(new Ajv2020({ strict: false, validateSchema: false }))
  // OpenAPI's marker for bytes; there is nothing to check in them.
  ajv.addFormat('binary', true)
  return ajv
}
