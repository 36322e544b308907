import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { signUp } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { upload } from '../helpers/multipart.js'

const SHARE_PASSWORD = 'share-password-7f3a9c'

/** The query value of `name` in a URL the service handed out. */
function queryValue(url: string, name: string): string {
  const value = new URL(url).searchParams.get(name)
  if (!value) throw new Error(`no ${name} in ${url}`)
  return value
}

/** The token of a share link (`…/s/<token>`). */
function linkToken(url: string): string {
  const token = /\/s\/([^/?#]+)/.exec(url)?.[1]
  if (!token) throw new Error(`no share token in ${url}`)
  return token
}

/** Opens a WebSocket, waits for the server's first message, and closes it. */
function openSocket(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('message', () => {
      socket.close()
      resolve()
    })
    socket.once('unexpected-response', (_req, res) => reject(new Error(`${res.statusCode}`)))
    socket.once('error', reject)
  })
}

describe('the info-level log of a session that uses every route', () => {
  let t: TestApp
  let base: string
  const log: string[] = []
  /** Every secret the service handed out or was given, by what it is. */
  const secrets: [kind: string, value: string][] = []

  beforeAll(async () => {
    t = await buildTestApp(
      { LOG_LEVEL: 'info', REGISTRATION: 'open' },
      { logTo: { write: (line) => log.push(line) } },
    )
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  afterAll(() => t.close())

  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${path}`, init)
    const body = await res.text()
    return { status: res.status, body, json: () => JSON.parse(body) }
  }

  it('holds none of the tokens, links, signatures, tickets or passwords', async () => {
    const user = await signUp(t.app)
    secrets.push(['password', user.password], ['access token', user.accessToken])
    secrets.push(['refresh token', user.refreshToken])
    const json = { 'content-type': 'application/json' }

    const refreshed = await call('/token/refresh', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ refresh_token: user.refreshToken }),
    })
    expect(refreshed.status).toBe(200)
    const { access_token: access, refresh_token: refresh } = refreshed.json()
    secrets.push(['access token', access], ['refresh token', refresh])
    const auth = { authorization: `Bearer ${access}` }

    expect((await call('/me', { headers: auth })).status).toBe(200)
    const uploaded = await upload(base, access, [
      { name: 'file', filename: 'report.txt', body: Buffer.from('quarterly numbers') },
    ])
    expect(uploaded.status).toBe(201)
    const file = uploaded.json<{ id: string; url: string }>()
    secrets.push(['signature', queryValue(file.url, 'signature')])

    const listed = await call('/files', { headers: auth })
    expect(listed.status).toBe(200)
    expect((await call('/search?q=report', { headers: auth })).status).toBe(200)
    expect((await call(`/files/${file.id}`, { headers: auth })).status).toBe(200)
    expect((await call(`/files/${file.id}/content`, { headers: auth })).status).toBe(200)
    const signed = new URL(file.url)
    expect((await call(`${signed.pathname}${signed.search}`)).status).toBe(200)
    const renamed = await call(`/files/${file.id}`, {
      method: 'PATCH',
      headers: { ...auth, ...json },
      body: JSON.stringify({ name: 'renamed.txt' }),
    })
    expect(renamed.status).toBe(200)

    const byDefault = await call(`/share/${file.id}`, { headers: auth })
    expect([200, 201]).toContain(byDefault.status)
    secrets.push(['share token', linkToken(byDefault.json().url)])
    const created = await call(`/files/${file.id}/shares`, {
      method: 'POST',
      headers: { ...auth, ...json },
      body: JSON.stringify({ password: SHARE_PASSWORD, max_downloads: 5 }),
    })
    expect(created.status).toBe(201)
    const share = created.json()
    const token = linkToken(share.url)
    secrets.push(['share token', token], ['share password', SHARE_PASSWORD])
    expect((await call(`/files/${file.id}/shares`, { headers: auth })).status).toBe(200)
    const updated = await call(`/shares/${share.id}`, {
      method: 'PATCH',
      headers: { ...auth, ...json },
      body: JSON.stringify({ max_downloads: 4 }),
    })
    expect(updated.status).toBe(200)

    const password = { 'x-share-password': SHARE_PASSWORD }
    expect((await call(`/s/${token}/info`, { headers: password })).status).toBe(200)
    expect((await call(`/s/${token}`, { headers: password })).status).toBe(200)
    const form = await call(`/s/${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ password: SHARE_PASSWORD }).toString(),
    })
    expect(form.status).toBe(200)
    // Clients that put a secret where it does not belong are not logged either.
    expect((await call(`/s/${token}/nothing?password=${SHARE_PASSWORD}`)).status).toBe(404)
    const encodedKey = `expires=${signed.searchParams.get('expires')}&sig%6Eature=`
    await call(`/files/${file.id}/content?${encodedKey}${queryValue(file.url, 'signature')}`)

    const ticket = await call('/ws/ticket', { method: 'POST', headers: auth })
    expect(ticket.status).toBe(201)
    secrets.push(['ticket', ticket.json().ticket])
    await openSocket(`${base.replace(/^http/, 'ws')}/ws?ticket=${ticket.json().ticket}`)

    expect((await call(`/shares/${share.id}`, { method: 'DELETE', headers: auth })).status).toBe(
      204,
    )
    expect((await call(`/files/${file.id}`, { method: 'DELETE', headers: auth })).status).toBe(204)
    expect((await call('/logout', { method: 'POST', headers: auth })).status).toBe(204)

    const text = log.join('')
    // The log did record the requests, each with the path it was for.
    expect(text).toContain('"url":"/s/')
    expect(text).toContain('"url":"/ws?ticket=')
    expect(text).toContain('signature=')
    const leaked = secrets.filter(([, value]) => text.includes(value)).map(([kind]) => kind)
    expect(leaked).toEqual([])
  })
})
