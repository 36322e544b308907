import { type Compilable, CompiledQuery, type Kysely } from 'kysely'
import { PREPARED } from './db.js'
import { LruMap } from './lru-map.js'

/** A value a shaped query takes: whether it is given, and an array's length, shape its SQL. */
export type ShapeValue =
  | string
  | number
  | boolean
  | Date
  | null
  | undefined
  | readonly (string | number | Date)[]

/** Stands in for a value while a shape compiles: Kysely passes it on, computing with it throws. */
class Placeholder {
  constructor(
    readonly name: string,
    readonly index?: number,
  ) {}

  [Symbol.toPrimitive](): never {
    throw new Error(
      `a shaped query computed with its value "${this.name}"; pass it to Kysely as is`,
    )
  }
}

/** A choice is written into the SQL text: a number too (a page size, say). */
type Choice = string | number | boolean

// Shapes kept compiled: the choices a client makes (its page sizes) are not few.
const MAX_SHAPES = 500

interface Shape {
  sql: string
  parameters: ((values: Record<string, ShapeValue>) => unknown)[]
}

/**
 * One query whose SQL text depends only on a few `choices` and on which of its values are
 * given, built and compiled once per such shape and then run with each call's values.
 * Building and compiling a query of a few conditions takes Kysely ~20 µs of CPU, which a
 * list page spent on every cache miss.
 *
 * `build` is called once per shape, with placeholders for the given values: it may hand them
 * to Kysely as they are (to compare, match or limit with), but computing with one throws.
 * It may branch only on the choices, on whether a value is undefined and on an array's length.
 * Falsy values ('', 0, false, null) are passed as themselves and name their own shape.
 * The shapes `prepared` says yes to (asked as `build` is) run as prepared statements (PREPARED).
 */
export class QueryShapes<
  V extends Record<string, ShapeValue>,
  C extends Record<string, Choice>,
  R,
> {
  private readonly shapes = new LruMap<string, Shape>(MAX_SHAPES)

  constructor(
    // biome-ignore lint/suspicious/noExplicitAny: the query names its own tables
    private readonly db: Kysely<any>,
    private readonly build: (values: V, choices: C) => Compilable<R>,
    private readonly prepared: (values: V, choices: C) => boolean = () => false,
  ) {}

  async execute(values: V, choices: C): Promise<R[]> {
    const key = shapeKey(values, choices)
    let shape = this.shapes.get(key)
    if (shape === undefined) {
      shape = this.compile(values, choices)
      this.shapes.set(key, shape)
    }
    const parameters = shape.parameters.map((read) => read(values))
    const result = await this.db.executeQuery(CompiledQuery.raw(shape.sql, parameters))
    return result.rows as R[]
  }

  private compile(values: V, choices: C): Shape {
    const placeholders: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(values)) {
      placeholders[name] = !value
        ? value
        : Array.isArray(value)
          ? value.map((_, index) => new Placeholder(name, index))
          : new Placeholder(name)
    }
    const { sql, parameters } = this.build(placeholders as V, choices).compile()
    const prepared = this.prepared(placeholders as V, choices)
    return { sql: prepared ? PREPARED + sql : sql, parameters: parameters.map(reader) }
  }
}

function reader(parameter: unknown): Shape['parameters'][number] {
  if (parameter instanceof Placeholder) {
    const { name, index } = parameter
    if (index === undefined) return (values) => values[name]
    return (values) => (values[name] as readonly unknown[])[index]
  }
  // A value the query holds itself, the same for every call of its shape.
  if (parameter === null || typeof parameter !== 'object') return () => parameter
  throw new Error(
    'a shaped query holds a value that is not one of its values (a Date made inside?)',
  )
}

function shapeKey(values: Record<string, ShapeValue>, choices: Record<string, Choice>) {
  let key = JSON.stringify(choices)
  for (const name in values) {
    const value = values[name]
    key += `|${name}:${
      Array.isArray(value) ? `[${value.length}]` : value ? '' : `=${JSON.stringify(value) ?? 'u'}`
    }`
  }
  return key
}
