// Event ids: ULIDs (https://github.com/ulid/spec) — 48 bits of milliseconds
// and 80 random bits in Crockford base32, 26 characters that sort by time as
// plain strings. Written here (40 lines) rather than taken from npm so the
// agent gains no dependency. Monotonic: within one millisecond, or when the
// clock steps back, the next id is the previous one plus one, so ids sort in
// the order they were made, which is what `since(id)` relies on.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_LEN = 10;
const RANDOM_LEN = 16;
const MAX_TIME = 2 ** 48 - 1;

export const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function isEventId(s: string): boolean {
  return ID_PATTERN.test(s);
}

function encodeTime(ms: number): string {
  let t = Math.min(MAX_TIME, Math.max(0, Math.floor(ms)));
  let out = '';
  for (let i = 0; i < TIME_LEN; i++) {
    out = (ALPHABET[t % 32] ?? '0') + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function decodeTime(id: string): number {
  let t = 0;
  for (const c of id.slice(0, TIME_LEN)) t = t * 32 + ALPHABET.indexOf(c);
  return t;
}

function randomDigits(): number[] {
  // 5 bits per digit from one byte each: 80 random bits, uniform (256 % 32 === 0).
  return [...randomBytes(RANDOM_LEN)].map((b) => b & 31);
}

/** digits + 1 in base 32; undefined on overflow (2^80 ids in one millisecond: never). */
function increment(digits: number[]): number[] | undefined {
  const out = [...digits];
  for (let i = out.length - 1; i >= 0; i--) {
    const d = out[i] ?? 0;
    if (d < 31) {
      out[i] = d + 1;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

export type IdGenerator = () => string;

/**
 * A monotonic id generator. `after`: the last id already issued (e.g. the last
 * line of the event file), so ids stay ordered across an agent restart even if
 * the wall clock went back meanwhile.
 */
export function createIdGenerator(now: () => number = Date.now, after?: string): IdGenerator {
  let lastTime = -1;
  let lastRandom: number[] = [];
  if (after !== undefined && isEventId(after)) {
    lastTime = decodeTime(after);
    lastRandom = Array.from(after.slice(TIME_LEN), (c) => ALPHABET.indexOf(c));
  }
  return () => {
    const t = Math.floor(now());
    let random: number[] | undefined;
    if (t > lastTime) {
      lastTime = t;
      random = randomDigits();
    } else {
      random = increment(lastRandom);
      if (!random) {
        lastTime += 1;
        random = randomDigits();
      }
    }
    lastRandom = random;
    return encodeTime(lastTime) + random.map((d) => ALPHABET[d] ?? '0').join('');
  };
}

/** The millisecond timestamp an id carries. */
export function idTime(id: string): number {
  return decodeTime(id);
}
