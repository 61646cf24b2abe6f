import { describe, expect, it } from 'vitest';
import { createIdGenerator, idTime, isEventId } from './id.ts';

describe('event ids (ULID)', () => {
  it('are 26 Crockford base32 characters carrying the time', () => {
    const id = createIdGenerator(() => 1_764_090_000_123)();
    expect(isEventId(id)).toBe(true);
    expect(idTime(id)).toBe(1_764_090_000_123);
  });

  it('are unique and sort in creation order, within one millisecond too', () => {
    let t = 1_000;
    const next = createIdGenerator(() => t);
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i % 1000 === 0) t++;
      ids.push(next());
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('keep sorting when the clock steps back', () => {
    let t = 5_000;
    const next = createIdGenerator(() => t);
    const a = next();
    t = 4_000;
    const b = next();
    expect(b > a).toBe(true);
    expect(idTime(b)).toBe(5_000);
  });

  it('continue after a given id (an earlier agent run), even from an earlier clock', () => {
    const earlier = createIdGenerator(() => 9_000)();
    const next = createIdGenerator(() => 8_000, earlier);
    const id = next();
    expect(id > earlier).toBe(true);
    expect(createIdGenerator(() => 10_000, earlier)() > earlier).toBe(true);
  });

  it('ignore a malformed seed', () => {
    expect(isEventId(createIdGenerator(() => 1, 'not-an-id')())).toBe(true);
  });
});
