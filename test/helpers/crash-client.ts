import type { Readable } from 'node:stream'
import { hashedBytes, stalledBytes } from './crash-checks.js'
import { httpRequest, type Part, upload } from './multipart.js'

/** One upload request as the client saw it. */
export interface SentRequest {
  names: string[]
  /** Each file's full-content sha256, once the client has read all of it to send. */
  digests: Map<string, () => string | undefined>
  acked: boolean
  /** Whether its last file stalls midway, so it can never complete. */
  stalled: boolean
}

export interface FileToSend {
  size: number
  /** Wait this long before each MiB. */
  paceMs?: number
  /** Send this many bytes of the file, then nothing more. */
  stallAfter?: number
}

/**
 * A client of servers that get killed: it remembers what it sent and what it was told, so a
 * test can check afterwards that every acknowledged change held. A request cut off before
 * its answer may or may not have happened, so it promises nothing.
 */
export class CrashClient {
  url = ''
  readonly sent: SentRequest[] = []
  /** Acknowledged uploads, not deleted since (nor short-lived): file id → sha256 answered. */
  readonly expected = new Map<string, string>()
  /** Files whose DELETE was answered 204. */
  readonly deleted = new Set<string>()
  /** Files whose DELETE was cut off unanswered: deleted or not, both are right. */
  readonly deletesCut = new Set<string>()
  /** Acknowledged files that were given an expiry. */
  readonly expiring = new Set<string>()
  /** Acknowledgements that do not match what was sent. */
  readonly wrongAnswers: string[] = []
  #token = ''

  get auth() {
    return { authorization: `Bearer ${this.#token}` }
  }

  async signIn(): Promise<void> {
    const headers = { 'content-type': 'application/json' }
    const body = JSON.stringify({ email: 'crash@example.test', password: 'crash password' })
    await httpRequest(`${this.url}/register`, { method: 'POST', headers, body })
    const login = await httpRequest(`${this.url}/login`, { method: 'POST', headers, body })
    if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.body}`)
    this.#token = login.json<{ access_token: string }>().access_token
  }

  /** Uploads `files` in one request, named `<prefix>-p<i>.bin`. */
  async upload(
    prefix: string,
    files: FileToSend[],
    options: { expiresIn?: number } = {},
  ): Promise<SentRequest> {
    const request: SentRequest = { names: [], digests: new Map(), acked: false, stalled: false }
    const parts: Part[] = []
    if (options.expiresIn !== undefined)
      parts.push({ name: 'expires_in', value: String(options.expiresIn) })
    files.forEach(({ size, paceMs, stallAfter }, i) => {
      const name = `${prefix}-p${i}.bin`
      let body: Readable
      if (stallAfter === undefined) {
        const hashed = hashedBytes(size, paceMs)
        request.digests.set(name, hashed.sha256)
        body = hashed.stream
      } else {
        request.stalled = true
        body = stalledBytes(stallAfter)
      }
      request.names.push(name)
      parts.push({ name: 'file', filename: name, body })
    })
    this.sent.push(request)
    const res = await upload(this.url, this.#token, parts).catch(() => undefined)
    if (res?.status !== 201) return request
    request.acked = true
    const answer = res.json<{ id: string; name: string; sha256: string; items?: never }>()
    const stored = answer.items ?? [answer]
    if (stored.length !== files.length)
      this.wrongAnswers.push(`${prefix}: ${stored.length} of ${files.length} files acknowledged`)
    for (const file of stored) {
      const sent = this.digestOf(file.name)
      if (file.sha256 !== sent) this.wrongAnswers.push(`${file.name}: ${file.sha256} ≠ ${sent}`)
      if (options.expiresIn !== undefined) this.expiring.add(file.id)
      else this.expected.set(file.id, file.sha256)
    }
    return request
  }

  /** Deletes one acknowledged file, picked at random, if there is one. */
  async deleteOne(): Promise<void> {
    const ids = [...this.expected.keys()]
    const victim = ids[Math.floor(Math.random() * ids.length)]
    if (!victim) return
    this.expected.delete(victim)
    const res = await httpRequest(`${this.url}/files/${victim}`, {
      method: 'DELETE',
      headers: this.auth,
    }).catch(() => undefined)
    if (res?.status === 204) this.deleted.add(victim)
    else this.deletesCut.add(victim)
  }

  /** The sha256 of the full content sent under `name`; undefined if it was never all sent. */
  digestOf(name: string): string | undefined {
    for (const request of this.sent) {
      const digest = request.digests.get(name)
      if (digest) return digest()
    }
    return undefined
  }
}
