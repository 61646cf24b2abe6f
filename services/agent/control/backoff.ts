// Reconnect delays: exponential backoff with "full jitter" (AWS Architecture
// Blog, "Exponential Backoff And Jitter"): sleep = random(0, min(cap, base·2^n)).
// A fleet that lost its control plane at the same moment does not come back
// in one thundering wave; the spread grows with every failed attempt.

export interface BackoffOptions {
  /** The ceiling of the first delay (default 1 s). */
  baseMs?: number;
  /** The ceiling no delay exceeds (default 60 s). */
  capMs?: number;
  /** [0, 1); Math.random unless a test fixes it. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_CAP_MS = 60_000;

/** The delay before attempt `attempt` (0 = the first retry): uniform in [0, min(cap, base·2^attempt)). */
export function fullJitterDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
  const random = options.random ?? Math.random;
  // 2^attempt overflows nothing here: min() caps it, and attempt is clamped.
  const ceiling = Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt), 52));
  return Math.floor(random() * ceiling);
}

/** Counts failed attempts; reset() after a connection that held. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const d = fullJitterDelay(this.attempt, this.options);
    this.attempt++;
    return d;
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
