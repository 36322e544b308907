import fc from 'fast-check'

/** The subset of JSON Schema the OpenAPI document uses. */
export interface Schema {
  type?: string | string[]
  const?: unknown
  enum?: unknown[]
  anyOf?: Schema[]
  oneOf?: Schema[]
  allOf?: Schema[]
  format?: string
  pattern?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  default?: unknown
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  maxItems?: number
}

/** Values the generator may use where a schema asks for an id: real ones get past lookups. */
export interface Known {
  uuids: string[]
}

const INT32 = 2 ** 31 - 1

/**
 * Values that fit `schema`, biased towards its bounds. Not every one is accepted by the route
 * (a pattern the generator cannot honour, a cross-field rule): the fuzz only needs most to be.
 */
export function validValue(schema: Schema, known: Known): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const choices = schema.anyOf ?? schema.oneOf
  if (choices) return fc.oneof(...choices.map((s) => validValue(s, known)))
  if (Array.isArray(schema.type)) {
    return fc.oneof(...schema.type.map((type) => validValue({ ...schema, type }, known)))
  }
  switch (schema.type ?? schema.allOf?.[0]?.type) {
    case 'string':
      return validString(schema, known)
    case 'integer': {
      const min = schema.minimum ?? -INT32
      const max = schema.maximum ?? INT32
      return fc.oneof(
        fc.integer({ min: Math.max(min, -INT32), max: Math.min(max, INT32) }),
        fc.constantFrom(min, max),
      )
    }
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array':
      return fc.array(validValue(schema.items ?? {}, known), {
        maxLength: Math.min(schema.maxItems ?? 3, 3),
      })
    case 'object':
      return validObject(schema, known)
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

export function validObject(schema: Schema, known: Known): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {}
  const model = Object.fromEntries(
    Object.entries(properties).map(([name, s]) => [name, validValue(s, known)]),
  )
  return fc.record(model, { requiredKeys: schema.required ?? [] }) as fc.Arbitrary<
    Record<string, unknown>
  >
}

function validString(schema: Schema, known: Known): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0
  const maxLength = Math.min(schema.maxLength ?? 64, 64)
  switch (schema.format) {
    case 'uuid':
      return fc.oneof(fc.constantFrom(...known.uuids), fc.uuid())
    case 'date-time':
      return fc
        .date({ min: new Date('2000-01-01'), max: new Date('2200-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString())
    case 'email':
      return fc.emailAddress()
  }
  if (schema.pattern) {
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter((s) => s.length >= minLength && s.length <= (schema.maxLength ?? Infinity))
  }
  return fc.string({ minLength, maxLength: Math.max(minLength, maxLength) })
}

/** Strings that have crashed parsers elsewhere: non-finite and huge numbers, odd text. */
const NASTY = [
  'Infinity',
  '-Infinity',
  'NaN',
  '1e999',
  '-1e999',
  '1e+21',
  '9223372036854775808',
  '-9223372036854775809',
  '9007199254740993',
  '-0',
  '0x10',
  ' 1',
  '1.5',
  '',
  'null',
  'true',
  '[]',
  '{}',
  '%00',
  '\u0000',
  '../../etc/passwd',
  "'; DROP TABLE files; --",
  '<script>alert(1)</script>',
  '\u202egnp.exe',
  'a\u200bb',
  'ｆｕｌｌｗｉｄｔｈ',
  '\ud800',
  '2024-13-45T99:99:99Z',
  '0000-00-00T00:00:00Z',
]

/** A hostile string: a known troublemaker, random Unicode, or something very long. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY), weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('a', 'é', '😀', '\u0301', '%'), fc.integer({ min: 256, max: 70_000 }))
      .map(([c, n]) => c.repeat(n)),
    weight: 1,
  },
)

/** A hostile JSON value: wrong types, extreme numbers, deep or odd structures. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    2 ** 53,
    -(2 ** 53),
    2 ** 63,
    1e21,
    1.5,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 3 }),
)

/** Numbers, as text, that a lax parser takes for integers it cannot store. */
const NUMERIC = [
  'Infinity',
  '-Infinity',
  'NaN',
  '1e999',
  '-1e999',
  '1e+21',
  '1e21',
  '9223372036854775808',
  '-9223372036854775809',
  '9007199254740992',
  '9007199254740993',
  '-1',
  '-0',
  '0',
  '1.5',
  '0x10',
  ' 1',
  '1_000',
  '٣',
]

function isNumeric(schema: Schema): boolean {
  const types = [schema.type, ...(schema.allOf ?? []).map((s) => s.type)].flat()
  return (
    types.includes('integer') ||
    types.includes('number') ||
    (schema.anyOf ?? schema.oneOf ?? []).some(isNumeric)
  )
}

/** Just outside a schema's numeric bounds. */
function outOfBounds(schema: Schema): number[] {
  const bounds = [schema, ...(schema.anyOf ?? []), ...(schema.allOf ?? [])]
  return bounds.flatMap((s) => [
    ...(s.minimum !== undefined ? [s.minimum - 1] : []),
    ...(s.maximum !== undefined ? [s.maximum + 1] : []),
  ])
}

/** A hostile query or path value for a parameter of this schema. */
export function hostileText(schema: Schema): fc.Arbitrary<string> {
  if (!isNumeric(schema)) return hostileString
  return fc.oneof(
    { arbitrary: fc.constantFrom(...NUMERIC, ...outOfBounds(schema).map(String)), weight: 3 },
    { arbitrary: hostileString, weight: 1 },
  )
}

/** A hostile JSON value for a field of this schema. */
export function hostileValue(schema: Schema): fc.Arbitrary<unknown> {
  if (!isNumeric(schema)) return hostileJson
  return fc.oneof(
    {
      arbitrary: fc.constantFrom<unknown>(
        ...NUMERIC,
        ...outOfBounds(schema),
        2 ** 53,
        2 ** 63,
        1e21,
        -1,
        1.5,
        Number.MAX_VALUE,
      ),
      weight: 3,
    },
    { arbitrary: hostileJson, weight: 1 },
  )
}
