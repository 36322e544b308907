import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type axe from 'axe-core'
import { sql } from 'kysely'
import { type BrowserContext, chromium, type Page, type Response } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = join(process.cwd(), 'test-results', 'share-pages')
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } }
const PASSWORD = 'right password'

// The few browser globals the code run inside the page uses; the suite compiles without DOM types.
declare const window: { axe: typeof axe }
declare const document: { activeElement: { textContent: string | null } | null }
declare function getComputedStyle(element: unknown): { backgroundColor: string }

const present = existsSync(CHROMIUM)
if (!present) {
  console.warn(
    `SKIPPED share-page browser tests: ${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)`,
  )
}

describe.skipIf(!present)('share pages in a real Chromium', () => {
  let t: TestApp
  let alice: TestUser
  let base: string
  let profile: string
  let browser: BrowserContext
  let page: Page
  /** What the page's console reported: a blocked style or script shows up here. */
  const consoleErrors: string[] = []

  beforeAll(async () => {
    t = await buildTestApp()
    alice = await signUp(t.app)
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    await mkdir(SCREENSHOTS, { recursive: true })
    profile = await mkdtemp(join(tmpdir(), 'satchel-chromium-'))
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      acceptDownloads: true,
      viewport: VIEWPORTS.desktop,
    })
    // axe-core in every page the browser opens, through the DevTools protocol, which the
    // pages' CSP does not govern; the minified build parses in half the time.
    const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js')
    await browser.addInitScript({ content: await readFile(axePath, 'utf8') })
    page = browser.pages()[0] ?? (await browser.newPage())
    // Fail on a missing element well before the test's own timeout.
    page.setDefaultTimeout(10_000)
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text())
    })
    page.on('pageerror', (err) => consoleErrors.push(err.message))
  })
  afterAll(async () => {
    await browser?.close()
    await t?.close()
    if (profile) await rm(profile, { recursive: true, force: true })
  })

  const newShare = async (name: string, content: Buffer, options: Record<string, unknown> = {}) => {
    const file = await injectUpload(t.app, alice, name, content)
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${file.id}/shares`,
      headers: alice.auth,
      payload: options,
    })
    expect(res.statusCode, res.body).toBe(201)
    const share = res.json<{ id: string; url: string }>()
    return { id: share.id, url: `${base}${new URL(share.url).pathname}` }
  }

  const visit = async (url: string): Promise<Response> => {
    const res = await page.goto(url)
    if (!res) throw new Error(`no response for ${url}`)
    return res
  }

  /** Full-page screenshots at both widths, for a person to look at; not committed. */
  const screenshots = async (name: string) => {
    for (const [label, size] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(size)
      await page.screenshot({ path: join(SCREENSHOTS, `${name}-${label}.png`), fullPage: true })
    }
    await page.setViewportSize(VIEWPORTS.desktop)
  }

  /** axe-core's serious and critical findings on the page as it is now. */
  const accessibilityProblems = async () => {
    const results = await page.evaluate(() => window.axe.run({ resultTypes: ['violations'] }))
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
  }

  /** Fails on anything the page's CSP blocked, such as its own style block. */
  const expectNothingBlocked = () => {
    expect(consoleErrors.filter((e) => /Content Security Policy/i.test(e))).toEqual([])
  }

  const downloaded = async (start: () => Promise<unknown>) => {
    const [download] = await Promise.all([page.waitForEvent('download'), start()])
    const path = await download.path()
    return { name: download.suggestedFilename(), bytes: await readFile(path) }
  }

  it('a plain link: the page, a keyboard download of identical bytes, and curl still gets the bytes', async () => {
    const bytes = Buffer.from(`report ${'0123456789'.repeat(5000)}\n`)
    const { url } = await newShare('quarterly report.pdf', bytes, {
      max_downloads: 5,
      expires_in: 7 * 24 * 3600,
    })

    const res = await visit(url)
    expect(res.status()).toBe(200)
    await expect(page.locator('h1').textContent()).resolves.toBe('quarterly report.pdf')
    await expect(page.locator('dl').textContent()).resolves.toMatch(/Downloads left\s*5/)
    // The hashed style block applied: the button is drawn in the accent colour.
    const background = await page
      .locator('a.button')
      .evaluate((el) => getComputedStyle(el).backgroundColor)
    expect(background).toBe('rgb(11, 87, 208)')
    await screenshots('plain-link')
    expect(await accessibilityProblems()).toEqual([])

    await page.keyboard.press('Tab')
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Download')
    const file = await downloaded(() => page.keyboard.press('Enter'))
    expect(file.name).toBe('quarterly report.pdf')
    expect(file.bytes.equals(bytes)).toBe(true)
    expectNothingBlocked()

    const { stdout } = await promisify(execFile)('curl', ['-sS', '--fail', url], {
      encoding: 'buffer',
      maxBuffer: 1 << 20,
    })
    expect(stdout.equals(bytes)).toBe(true)
    const fetched = Buffer.from(await (await fetch(url)).arrayBuffer())
    expect(fetched.equals(bytes)).toBe(true)
  })

  it('a password link: the form, a wrong password, the right one, then the download', async () => {
    const bytes = Buffer.from('the secret plans')
    const { url } = await newShare('secret-plans.txt', bytes, { password: PASSWORD })

    const ask = await visit(url)
    expect(ask.status()).toBe(401)
    expect(await page.content()).not.toContain('secret-plans')
    await screenshots('password-form')
    expect(await accessibilityProblems()).toEqual([])

    // Focus starts in the password field: type and press Enter, as a person would.
    await page.keyboard.type('not the password')
    const [wrong] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.keyboard.press('Enter'),
    ])
    expect(wrong.status()).toBe(401)
    await page.waitForLoadState()
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/password is incorrect/)
    expect(page.url()).toBe(url)
    await screenshots('password-wrong')
    expect(await accessibilityProblems()).toEqual([])

    await page.getByLabel('Password').fill(PASSWORD)
    const file = await downloaded(() => page.getByRole('button', { name: 'Download' }).click())
    expect(file.name).toBe('secret-plans.txt')
    expect(file.bytes.equals(bytes)).toBe(true)
    expect(page.url()).not.toContain(PASSWORD)
    expectNothingBlocked()
  })

  it('too many wrong passwords: the page says how long to wait', async () => {
    const { url } = await newShare('locked.txt', Buffer.from('x'), { password: PASSWORD })
    for (let i = 0; i < 10; i++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `password=guess-${i}`,
      })
      expect(res.status).toBe(401)
    }
    const res = await visit(url)
    expect(res.status()).toBe(429)
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/Try again in 15 minutes/)
    await screenshots('password-locked')
    expect(await accessibilityProblems()).toEqual([])
  })

  it('an expired link and an unknown link: their own pages, 410 and 404', async () => {
    const { id, url } = await newShare('old-photo.jpg', Buffer.from('x'))
    await sql`update shares set expires_at = now() - interval '1 second' where id = ${id}`.execute(
      t.database.db,
    )
    const cases = [
      ['expired', url, 410, 'This link has expired'],
      ['unknown', `${base}/s/no-such-token`, 404, 'No such link'],
    ] as const
    for (const [name, target, status, heading] of cases) {
      const res = await visit(target)
      expect(res.status(), name).toBe(status)
      await expect(page.locator('h1').textContent()).resolves.toBe(heading)
      expect(await page.content()).not.toContain('old-photo')
      await screenshots(`${name}-link`)
      expect(await accessibilityProblems()).toEqual([])
    }
    expectNothingBlocked()
  })
})
