// The batcher's retry of writes PostgreSQL aborted to break a deadlock, on a
// real deadlock between two transactions updating the same rows in opposite
// orders, and its refusal to retry anything else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { Batcher } from './batcher.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase('batcher');
  await db.pool.query('CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)');
  await db.pool.query('INSERT INTO t (id) VALUES (1), (2)');
});
afterAll(async () => {
  await db.drop();
});

describe('Batcher', () => {
  it('writes a batch again when PostgreSQL aborted it to break a deadlock', async () => {
    // Another transaction holds row 2. The batch takes row 1 and waits for
    // row 2; then the other one waits for row 1. The batch waited first, so
    // its deadlock check runs first and PostgreSQL aborts it (40P01).
    const other = await db.pool.connect();
    let attempts = 0;
    const batcher = new Batcher<number>(async (items) => {
      attempts++;
      const c = await db.pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('UPDATE t SET n = n + 1 WHERE id = 1');
        await c.query('UPDATE t SET n = n + 1 WHERE id = 2');
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      } finally {
        c.release();
      }
      return items.map(() => undefined);
    }, 0);
    try {
      await other.query('BEGIN');
      await other.query('UPDATE t SET n = n + 10 WHERE id = 2');
      const written = batcher.add(1);
      await new Promise((r) => setTimeout(r, 200));
      await other.query('UPDATE t SET n = n + 10 WHERE id = 1');
      await other.query('COMMIT');
      await written;
    } finally {
      other.release();
    }
    expect(attempts).toBe(2);
    const { rows } = await db.pool.query<{ n: number }>('SELECT n FROM t ORDER BY id');
    // Both transactions' writes, each once.
    expect(rows.map((r) => r.n)).toEqual([11, 11]);
  });

  it('writes one batch at a time; what arrives meanwhile goes in the next', async () => {
    let inFlight = 0;
    let most = 0;
    const sizes: number[] = [];
    const batcher = new Batcher<number>(async (items) => {
      inFlight++;
      most = Math.max(most, inFlight);
      sizes.push(items.length);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      return items.map(() => undefined);
    }, 1);
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      all.push(batcher.add(i));
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(all);
    expect(most).toBe(1);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50);
    expect(sizes.length).toBeLessThan(50);
  });

  it('does not retry other failures', async () => {
    let attempts = 0;
    const batcher = new Batcher<number>(() => {
      attempts++;
      return Promise.reject(Object.assign(new Error('no such column'), { code: '42703' }));
    }, 0);
    await expect(batcher.add(1)).rejects.toThrow('no such column');
    expect(attempts).toBe(1);
  });
});
