import { Agent, request } from 'node:http'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

let t: TestApp
let base: string
let alice: TestUser
let bob: TestUser
let connections = 0

beforeAll(async () => {
  t = await buildTestApp()
  t.app.server.on('connection', () => connections++)
  base = await t.app.listen({ port: 0, host: '127.0.0.1' })
  alice = await signUp(t.app)
  bob = await signUp(t.app)
  await injectUpload(t.app, alice, 'alice.txt', Buffer.from('a'))
  await injectUpload(t.app, bob, 'bob.txt', Buffer.from('b'))
})
afterAll(() => t.close())

function get(agent: Agent, authorization?: string) {
  return new Promise<{ status: number; names: string[] }>((resolve, reject) => {
    const headers = authorization === undefined ? {} : { authorization }
    request(`${base}/files`, { agent, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => {
        body += chunk
      })
      res.once('end', () => {
        const items = res.statusCode === 200 ? JSON.parse(body).items : []
        resolve({ status: res.statusCode ?? 0, names: items.map((f: { name: string }) => f.name) })
      })
    })
      .once('error', reject)
      .end()
  })
}

// The token of a connection's last Authorization header is remembered with that header
// (bearerToken): each request must still be judged by the header it carries.
it('judges each request on a kept-alive connection by its own Authorization header', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    const before = connections
    const steps: [string | undefined, number, string[]][] = [
      [alice.auth.authorization, 200, ['alice.txt']],
      [alice.auth.authorization, 200, ['alice.txt']],
      [bob.auth.authorization, 200, ['bob.txt']],
      [`Bearer ${alice.accessToken}x`, 401, []],
      [`bearer ${bob.accessToken}`, 200, ['bob.txt']],
      [`Bearer ${alice.accessToken} extra`, 401, []],
      [undefined, 401, []],
      [alice.auth.authorization, 200, ['alice.txt']],
    ]
    for (const [authorization, status, names] of steps) {
      expect(await get(agent, authorization)).toEqual({ status, names })
    }
    expect(connections - before).toBe(1)
  } finally {
    agent.destroy()
  }
})
