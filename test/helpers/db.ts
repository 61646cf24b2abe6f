// A database of its own for each test file: a fresh PostgreSQL schema on the
// machine's server (DATABASE_URL, or 127.0.0.1:5432/test), migrated, and
// dropped afterwards. Test files run in parallel; schemas keep them apart.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectDatabase, type Database } from '../../services/control-plane/store/db.ts';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export interface TestDatabase extends Database {
  url: string;
  /** Drops the schema and closes the pool. */
  drop(): Promise<void>;
}

export async function freshDatabase(prefix = 't'): Promise<TestDatabase> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const db = await connectDatabase(TEST_DATABASE_URL, { schema, migrate: true, max: 5 });
  return {
    ...db,
    url: TEST_DATABASE_URL,
    drop: async () => {
      await db.close();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
