import { chmod, lstat, opendir } from 'node:fs/promises'
import { join } from 'node:path'

// DATA_DIR holds the database, generated secrets and users' files: nothing there is for
// another local user, whether DATA_DIR sits on a shared host or on a bind mount.
const GROUP_AND_OTHERS = 0o077

/** Files and directories this process creates from now on are 0600/0700 (before any I/O). */
export function restrictNewFiles(): void {
  process.umask(GROUP_AND_OTHERS)
}

/**
 * Takes every group and other permission off `dir` and everything under it. For libraries
 * that chmod their files past the umask: PGlite lays out its cluster 0666.
 */
export async function makePrivate(path: string): Promise<void> {
  try {
    const stats = await lstat(path)
    // A link's own mode means nothing, and following it could reach outside the tree.
    if (stats.isSymbolicLink()) return
    if (stats.mode & GROUP_AND_OTHERS) await chmod(path, stats.mode & 0o7777 & ~GROUP_AND_OTHERS)
    if (!stats.isDirectory()) return
    for await (const entry of await opendir(path)) await makePrivate(join(path, entry.name))
  } catch (err) {
    // The database may remove a temporary file between listing and chmod: nothing to protect.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
