import type { AppError } from '../../errors.js'
import { html } from './html.js'
import type { Page } from './page.js'

export interface SharedFile {
  name: string
  size: number
  content_type: string
  expires_at: string | null
  downloads_remaining: number | null
}

/** The link itself, relative so the page works behind any path prefix; never a scheme. */
const linkTo = (token: string) => `./${encodeURIComponent(token)}`

/** What a browser sees at a link it may download from. The button is the only download. */
export function sharedFilePage(token: string, file: SharedFile): Page {
  return {
    status: 200,
    title: file.name,
    body: html`<p>A file has been shared with you.</p>
<h1>${file.name}</h1>
<dl>
<dt>Size</dt><dd>${formatSize(file.size)}</dd>
<dt>Type</dt><dd>${file.content_type}</dd>
<dt>Expires</dt><dd>${file.expires_at ? html`<time datetime="${file.expires_at}">${formatDate(file.expires_at)}</time>` : 'Never'}</dd>
${file.downloads_remaining !== null && html`<dt>Downloads left</dt><dd>${file.downloads_remaining}</dd>`}
</dl>
<a class="button" href="${linkTo(token)}?download=1" download>Download</a>
`,
  }
}

/**
 * The page for an error a link can answer with, or undefined for any other (left to the
 * problem+json handler). None of them names the file: they are shown to whoever has the
 * link, before any password.
 */
export function shareErrorPage(token: string, err: AppError): Page | undefined {
  switch (err.code) {
    case 'share_password_required':
    case 'share_password_invalid':
      return passwordPage(token, err.code === 'share_password_invalid')
    case 'too_many_attempts':
      return lockedPage(token, Number(err.headers['retry-after']), err.headers)
    case 'share_expired':
      return {
        status: err.status,
        title: 'Link expired',
        body: html`<h1>This link has expired</h1>
<p>The file is no longer available here. Ask the person who shared it for a new link.</p>
`,
      }
    case 'share_download_limit_reached':
      return {
        status: err.status,
        title: 'Download limit reached',
        body: html`<h1>This link has reached its download limit</h1>
<p>It has been downloaded as many times as allowed. Ask the person who shared it for a new link.</p>
`,
      }
    case 'share_not_found':
      return {
        status: err.status,
        title: 'No such link',
        body: html`<h1>No such link</h1>
<p>This link does not exist, or the person who shared it has removed it. Check that you have the whole link.</p>
`,
      }
    default:
      return undefined
  }
}

function passwordPage(token: string, wrong: boolean): Page {
  return {
    status: 401,
    title: 'Password required',
    body: html`<h1>This link is protected by a password</h1>
<p>Enter the password you were given to download the file.</p>
<form method="post" action="${linkTo(token)}">
${wrong && html`<p class="error" id="password-error" role="alert">The password is incorrect. Try again.</p>`}
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024"${wrong && html` aria-invalid="true" aria-describedby="password-error"`} autofocus required>
<button class="button" type="submit">Download</button>
</form>
`,
  }
}

function lockedPage(token: string, waitSeconds: number, headers: Record<string, string>): Page {
  return {
    status: 429,
    title: 'Too many attempts',
    headers,
    body: html`<h1>Too many wrong passwords</h1>
<p role="alert">Too many wrong passwords were tried for this link from your network. Try again in ${formatWait(waitSeconds)}.</p>
<p><a href="${linkTo(token)}">Try again</a></p>
`,
  }
}

function formatWait(seconds: number): string {
  if (!(seconds > 0)) return 'a few minutes'
  if (seconds < 60) return plural(Math.ceil(seconds), 'second')
  return plural(Math.ceil(seconds / 60), 'minute')
}

const UNITS = ['kB', 'MB', 'GB', 'TB']

function formatSize(bytes: number): string {
  if (bytes < 1000) return plural(bytes, 'byte')
  let value = bytes
  let unit = -1
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit++
  }
  return `${value.toFixed(1)} ${UNITS[unit]} (${bytes.toLocaleString('en-US')} bytes)`
}

/** Unambiguous for anyone anywhere; the <time> element carries the exact instant. */
function formatDate(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
