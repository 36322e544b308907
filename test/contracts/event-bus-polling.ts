import { setTimeout as sleep } from 'node:timers/promises'

/** Polls until `condition` holds, failing after `timeoutMs`: no test waits longer than it must. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(10)
  }
}
