import { randomBytes } from 'node:crypto'
import type { App } from '../../src/http/types.js'

export interface TestUser {
  id: string
  email: string
  password: string
  accessToken: string
  refreshToken: string
  auth: { authorization: string }
}

export function uniqueEmail(prefix = 'user') {
  return `${prefix}-${randomBytes(4).toString('hex')}@example.test`
}

/** Registers a new account and logs it in. */
export async function signUp(app: App, email = uniqueEmail()): Promise<TestUser> {
  const password = 'correct horse battery staple'
  const reg = await app.inject({ method: 'POST', url: '/register', payload: { email, password } })
  if (reg.statusCode !== 201) throw new Error(`register failed: ${reg.statusCode} ${reg.body}`)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { email, password } })
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.statusCode} ${login.body}`)
  const tokens = login.json()
  return {
    id: reg.json().id,
    email,
    password,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    auth: { authorization: `Bearer ${tokens.access_token}` },
  }
}
