import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createFanout, type Fanout } from './fanout.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const open: Fanout[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});

async function pair(): Promise<[Fanout, Fanout]> {
  const channel = `oomfleet-test:${randomBytes(6).toString('hex')}`;
  const a = await createFanout({ redisUrl: REDIS_URL, channel });
  const b = await createFanout({ redisUrl: REDIS_URL, channel });
  open.push(a, b);
  return [a, b];
}

const next = (f: Fanout): Promise<string[]> =>
  new Promise((resolve) => {
    const off = f.subscribe((ids) => {
      off();
      resolve(ids);
    });
  });

describe('fan-out', () => {
  it('delivers a publish to every replica, the publisher included', async () => {
    const [a, b] = await pair();
    const got = Promise.all([next(a), next(b)]);
    await a.publish(['h1', 'h2']);
    expect(await got).toEqual([
      ['h1', 'h2'],
      ['h1', 'h2'],
    ]);
  });

  it('sends "all hosts" as one message and large lists in chunks', async () => {
    const [a, b] = await pair();
    const all = next(b);
    await a.publish(['x', '*']);
    expect(await all).toEqual(['*']);
    const seen: string[] = [];
    b.subscribe((ids) => seen.push(...ids));
    const ids = Array.from({ length: 12_001 }, (_, i) => `h${i}`);
    await a.publish(ids);
    const deadline = Date.now() + 5000;
    while (seen.length < ids.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(seen).toEqual(ids);
  });

  it('keeps channels apart and ignores junk on its channel', async () => {
    const [a] = await pair();
    const [c] = await pair();
    const seen: string[][] = [];
    c.subscribe((ids) => seen.push(ids));
    await a.publish(['only-a']);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([]);
  });

  it('publishing nothing is a no-op; a throwing handler does not stop the others', async () => {
    const [a, b] = await pair();
    await a.publish([]);
    b.subscribe(() => {
      throw new Error('boom');
    });
    const got = next(b);
    await a.publish(['h']);
    expect(await got).toEqual(['h']);
  });
});
