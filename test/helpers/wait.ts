// Polling for a condition in tests: one loop for every helper that waits on
// something real (a row written, a stream reconnected, a memcg stuck).
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls check until it returns something other than undefined or false, and
 * returns that; throws naming `what` once timeoutMs has passed.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
