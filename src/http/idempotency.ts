import type { FastifyReply, FastifyRequest } from 'fastify'
import { canonicalJson } from '../idempotency/fingerprints.js'
import { InvalidIdempotencyKeyError } from '../idempotency/idempotency-errors.js'
import type { IdempotencyService } from '../idempotency/idempotency-service.js'

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

// RFC 8941 sf-string: printable ASCII in double quotes, with \" and \\ the only escapes.
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/
// Leniently, what clients send unquoted (a UUID): the characters of an sf-token.
const BARE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z:/]+$/

/** The Idempotency-Key header's value, or undefined without one; 400 if it is malformed. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  // Node joins repeated headers it does not know with ", ", which neither form allows.
  const text = (Array.isArray(header) ? header.join(', ') : header).trim()
  const quoted = SF_STRING.exec(text)
  const key = quoted ? quoted[1]!.replace(/\\(["\\])/g, '$1') : BARE.test(text) ? text : undefined
  if (key === undefined) {
    throw new InvalidIdempotencyKeyError('expected one quoted string, such as "a3f1c0de-42"')
  }
  if (key.length === 0) throw new InvalidIdempotencyKeyError('it is empty')
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw new InvalidIdempotencyKeyError(`it is over ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`)
  }
  return key
}

/** The method, path, query and JSON body of a request, in one canonical text. */
export function describeRequest(req: FastifyRequest): string {
  return canonicalJson([req.method, req.url.split('?')[0], req.query ?? {}, req.body ?? null])
}

/** A response body as these routes answer: one object, or several, each with its link. */
type Linked = { id: string; url: string | null }
type LinkedBody = Linked | { items: Linked[] }

export interface Outcome<B> {
  status: number
  body: B
  /** With readRetry: the request as its body turned out to be, in readRetry's terms. */
  description?: string
}

export interface IdempotentOptions<B> {
  keys: IdempotencyService
  run: () => Promise<Outcome<B>>
  /**
   * For a body that streams: what the request is can only be known by reading it. The first
   * request describes itself in its outcome; a retry of a completed key is read through this.
   */
  readRetry?: () => Promise<string>
  /** The link of the object with this id. Links are not stored, so a replay gets fresh ones. */
  linkFor: (id: string) => string
}

/**
 * Runs a request under its Idempotency-Key, if it has one: the first request runs, a retry
 * gets its answer again (marked `Idempotent-Replayed: true`), a different request with the
 * key 422, and one while the first still runs 409.
 *
 * Only a success is kept; any error frees the key, so a retry runs afresh. A 5xx or a lost
 * client may well succeed next time. So may most 4xx: quota (413), a file not visible yet
 * (404), an idle client (408) depend on state or timing, not on the request. The ones that
 * could be kept are caught before this runs (schema validation, a malformed key), or come
 * from an upload whose body is then left unread, and so has no fingerprint to hold a retry
 * to. Running a failed request again is harmless: a failure keeps nothing.
 */
export async function idempotent<B extends LinkedBody>(
  req: FastifyRequest,
  reply: FastifyReply,
  options: IdempotentOptions<B>,
): Promise<Outcome<B>> {
  const key = parseIdempotencyKey(req.headers['idempotency-key'])
  if (key === undefined) return options.run()
  const { keys, readRetry } = options
  const known = readRetry ? null : keys.fingerprint(describeRequest(req))
  const begun = await keys.begin({ userId: req.user.id, key }, known)
  if (begun.kind === 'completed') {
    const fingerprint = known ?? keys.fingerprint(await readRetry!())
    const { status, body } = begun.replay(fingerprint)
    reply.header('idempotent-replayed', 'true')
    return { status, body: mapLinked(body as B, (item) => options.linkFor(item.id)) }
  }
  let outcome: Outcome<B>
  try {
    outcome = await options.run()
  } catch (err) {
    await begun.claim.release()
    throw err
  }
  const fingerprint = known ?? keys.fingerprint(outcome.description ?? describeRequest(req))
  // A link is a working secret (a share token, a signature): the table keeps none.
  const body = mapLinked(outcome.body, () => null)
  await begun.claim.complete(fingerprint, { status: outcome.status, body })
  return outcome
}

function mapLinked<B extends LinkedBody>(body: B, link: (item: Linked) => string | null): B {
  const relink = (item: Linked) => ({ ...item, url: link(item) })
  return ('items' in body ? { ...body, items: body.items.map(relink) } : relink(body)) as B
}
