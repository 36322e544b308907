import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface CurlUpload {
  status: number
  /** What the server answered, as text. */
  body: string
  /** curl's own clock, from the connection to the last byte of the answer. */
  seconds: number
  bytesSent: number
}

/**
 * POSTs a file as `curl -F file=@path` does for a user: multipart/form-data, streamed from
 * disk, with its length known. `Expect: 100-continue` is turned off so no server waits out
 * curl's one-second pause for it.
 */
export async function curlUpload(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<CurlUpload> {
  const marker = '\nCURL-STATS '
  const { stdout } = await run(
    'curl',
    [
      '--silent',
      '--show-error',
      '--max-time',
      '600',
      '-H',
      'Expect:',
      ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
      '-F',
      `file=@${path};type=application/octet-stream`,
      '-w',
      `${marker}%{http_code} %{time_total} %{size_upload}`,
      url,
    ],
    { maxBuffer: 1 << 20 },
  )
  const at = stdout.lastIndexOf(marker)
  const [status, seconds, sent] = stdout
    .slice(at + marker.length)
    .trim()
    .split(' ')
  return {
    status: Number(status),
    body: stdout.slice(0, at),
    seconds: Number(seconds),
    bytesSent: Number(sent),
  }
}
