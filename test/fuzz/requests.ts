import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import {
  hostileJson,
  hostileString,
  hostileText,
  hostileValue,
  type Known,
  type Schema,
  validObject,
  validValue,
} from './schema-arbitraries.js'

export interface Parameter {
  in: 'path' | 'query' | 'header'
  name: string
  required?: boolean
  schema: Schema
}

export interface Operation {
  method: string
  /** As the document writes it: /files/{id}. */
  path: string
  parameters: Parameter[]
  jsonBody?: Schema
  multipart: boolean
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>
}

export interface FuzzContext extends Known {
  /** Values a path parameter of this name may take to reach a real resource. */
  pathValues(name: string): string[]
  authorization: string
}

interface Mutation {
  in: 'path' | 'query' | 'extra'
  name: string
  value: string
}

/**
 * Requests that are valid but for at most one thing: one parameter made hostile, one unknown
 * parameter, or (independently) a hostile body. One bad value among valid ones is what gets
 * past validation of the others, into the code behind it.
 */
export function requests(op: Operation, ctx: FuzzContext): fc.Arbitrary<InjectOptions> {
  const pathParams = op.parameters.filter((p) => p.in === 'path')
  const queryParams = op.parameters.filter((p) => p.in === 'query')
  const paths = fc.tuple(...pathParams.map((p) => validPathValue(p, ctx)))
  const queries = fc.tuple(
    ...queryParams.map((p) =>
      // A valid cursor only comes from a previous page: a made-up one is left to the mutations.
      p.name === 'cursor'
        ? fc.constant(undefined)
        : fc.option(validValue(p.schema, ctx).map(queryText), {
            nil: undefined,
            freq: p.required ? 1000 : 2,
          }),
    ),
  )
  const mutation = fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 2 },
    ...pathParams.map((p) => ({
      arbitrary: hostilePathValue(p).map(
        (value): Mutation => ({ in: 'path', name: p.name, value }),
      ),
      weight: 1,
    })),
    ...queryParams.map((p) => ({
      arbitrary: hostileText(p.schema).map(
        (value): Mutation => ({ in: 'query', name: p.name, value }),
      ),
      weight: 2,
    })),
    {
      arbitrary: fc
        .tuple(hostileString, hostileString)
        .map(([name, value]): Mutation => ({ in: 'extra', name, value })),
      weight: 1,
    },
  )
  const body = op.multipart
    ? multipartBody
    : op.jsonBody
      ? jsonBody(op.jsonBody, ctx)
      : fc.constant<Body>({})
  return fc.tuple(paths, queries, mutation, body).map(([pathValues, queryValues, change, b]) => {
    const url = pathParams.reduce((path, p, i) => {
      const value = change?.in === 'path' && change.name === p.name ? change.value : pathValues[i]!
      return path.replace(`{${p.name}}`, value)
    }, op.path)
    const search = new URLSearchParams()
    queryParams.forEach((p, i) => {
      const value = change?.in === 'query' && change.name === p.name ? change.value : queryValues[i]
      if (value !== undefined) search.append(p.name, value)
    })
    if (change?.in === 'extra') search.append(change.name, change.value)
    const query = search.toString()
    return {
      method: op.method as InjectOptions['method'],
      url: query ? `${url}?${query}` : url,
      headers: { authorization: ctx.authorization, ...b.headers },
      ...(b.payload !== undefined ? { payload: b.payload } : {}),
    }
  })
}

interface Body {
  headers?: Record<string, string>
  payload?: string | Buffer
}

/** Broken percent-encoding and dot segments, sent as they are. */
const RAW_SEGMENTS = ['%E0%A4%A', '%', '%zz', '%00', '..', '.', '%2e%2e', '%2F']

// A lone surrogate cannot be percent-encoded; it travels as U+FFFD, as a client would send it.
const encoded = (value: fc.Arbitrary<string>) =>
  value.map((v) => encodeURIComponent(Buffer.from(v).toString()))

function validPathValue(p: Parameter, ctx: FuzzContext): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: encoded(fc.constantFrom(...ctx.pathValues(p.name))), weight: 3 },
    { arbitrary: encoded(validValue(p.schema, ctx).map(String)), weight: 1 },
  )
}

function hostilePathValue(p: Parameter): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: encoded(hostileText(p.schema)), weight: 3 },
    { arbitrary: fc.constantFrom(...RAW_SEGMENTS), weight: 1 },
  )
}

function queryText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

const JSON_TYPE = { 'content-type': 'application/json' }

function jsonBody(schema: Schema, ctx: FuzzContext): fc.Arbitrary<Body> {
  const valid = validObject(schema, ctx)
  const fields = Object.entries(schema.properties ?? {})
  const withHostileField =
    fields.length === 0
      ? valid
      : fc
          .tuple(
            valid,
            fc.oneof(
              ...fields.map(([name, field]) => hostileValue(field).map((value) => [name, value])),
            ),
          )
          .map(([object, [name, value]]) => ({ ...object, [name as string]: value }))
  const missing = validObject({ ...schema, required: [] }, ctx)
  const extra = fc
    .tuple(valid, hostileString, hostileJson)
    .map(([object, name, value]) => ({ ...object, [name]: value }))
  const asJson = (value: fc.Arbitrary<unknown>) =>
    value.map((v): Body => ({ headers: JSON_TYPE, payload: JSON.stringify(v) ?? 'null' }))
  return fc.oneof(
    { arbitrary: asJson(valid), weight: 4 },
    { arbitrary: asJson(withHostileField), weight: 3 },
    { arbitrary: asJson(missing), weight: 1 },
    { arbitrary: asJson(extra), weight: 1 },
    { arbitrary: asJson(hostileJson), weight: 1 },
    {
      // Not JSON at all, or not declared as JSON.
      arbitrary: fc
        .tuple(
          hostileString,
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        )
        .map(([payload, type]): Body => ({ headers: { 'content-type': type }, payload })),
      weight: 1,
    },
  )
}

const BOUNDARY = 'fuzz-boundary-4c1e'

const part = fc.record({
  name: fc.oneof(
    { arbitrary: fc.constantFrom('file', 'expires_in', 'expires_at'), weight: 4 },
    { arbitrary: hostileString, weight: 1 },
  ),
  filename: fc.option(
    fc.oneof(
      {
        arbitrary: fc.constantFrom('a.txt', 'photo.png', '.hidden', 'dir/x.txt', 'C:\\x.txt'),
        weight: 3,
      },
      { arbitrary: hostileString, weight: 2 },
    ),
    { nil: undefined, freq: 4 },
  ),
  type: fc.option(fc.constantFrom('text/plain', 'image/png', 'application/octet-stream', '', '/'), {
    nil: undefined,
  }),
  content: fc.oneof(fc.constantFrom('hello', '3600', '2030-01-01T00:00:00Z', ''), hostileString),
})

/** multipart/form-data bodies, from well formed to broken (cut short, wrong boundary, none). */
const multipartBody: fc.Arbitrary<Body> = fc
  .tuple(
    fc.array(part, { maxLength: 4 }),
    fc.constantFrom('whole', 'whole', 'whole', 'cut', 'unclosed', 'other-boundary', 'no-boundary'),
    fc.nat(),
  )
  .map(([parts, shape, cutAt]): Body => {
    const text = parts
      .map((p) => {
        const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`
        const type = p.type !== undefined ? `Content-Type: ${p.type}\r\n` : ''
        return `--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n${p.content}\r\n`
      })
      .join('')
    const whole = Buffer.from(`${text}--${BOUNDARY}--\r\n`)
    const payload =
      shape === 'cut'
        ? whole.subarray(0, cutAt % (whole.length + 1))
        : shape === 'unclosed'
          ? Buffer.from(text)
          : whole
    const type =
      shape === 'other-boundary'
        ? 'multipart/form-data; boundary=something-else'
        : shape === 'no-boundary'
          ? 'multipart/form-data'
          : `multipart/form-data; boundary=${BOUNDARY}`
    return { headers: { 'content-type': type }, payload }
  })
