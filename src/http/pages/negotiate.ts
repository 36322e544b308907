/**
 * Whether the client would rather have a page than the file: it names text/html (or XHTML)
 * itself, ranked at least as high as anything else it accepts. Browsers do when a person
 * opens a link; curl, wget and fetch send * / * or nothing, and keep getting the bytes.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false
  let html = 0
  let other = 0
  for (const entry of accept.split(',')) {
    const [type, ...params] = entry.split(';').map((part) => part.trim().toLowerCase())
    const weight = params.find((p) => p.startsWith('q='))
    const q = weight ? Number(weight.slice(2)) : 1
    if (!(q > 0)) continue
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q)
    else other = Math.max(other, q)
  }
  return html > 0 && html >= other
}
