import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Returns the secret stored in dataDir/secrets/<name>, creating it on first use. The embedded
 * mode uses this so a laptop install needs no setup yet keeps its tokens valid across restarts.
 */
export async function persistentSecret(dataDir: string, name: string, bytes = 32): Promise<string> {
  const dir = join(dataDir, 'secrets')
  const file = join(dir, name)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  try {
    await writeFile(file, randomBytes(bytes).toString('base64'), { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  return (await readFile(file, 'utf8')).trim()
}
