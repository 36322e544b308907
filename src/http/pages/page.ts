import { createHash } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import { html, SafeHtml } from './html.js'
import { PAGE_STYLES } from './page-styles.js'

export interface Page {
  status: number
  title: string
  body: SafeHtml
  headers?: Record<string, string>
}

const STYLE_HASH = createHash('sha256').update(PAGE_STYLES).digest('base64')
// Fixed text of ours, inserted as it is so the bytes match the hash in the CSP.
const styles = new SafeHtml(PAGE_STYLES)

/**
 * No script at all, the one style block by its hash, forms only back to us, never framed.
 * The page's URL holds a share token, so no request it makes may carry it as a referrer.
 */
const PAGE_HEADERS = {
  'content-security-policy': [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; '),
  'referrer-policy': 'no-referrer',
}

export function sendPage(reply: FastifyReply, page: Page) {
  return reply
    .code(page.status)
    .headers({ ...PAGE_HEADERS, ...page.headers })
    .type('text/html; charset=utf-8')
    .send(layout(page).value)
}

function layout(page: Page): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${page.title} · Satchel</title>
<style>${styles}</style>
</head>
<body>
<main>
<p class="brand">Satchel</p>
${page.body}
</main>
</body>
</html>
`
}
