// The control plane's database: one pg pool shared by Prisma (through
// @prisma/adapter-pg, no query engine binary) and by the few raw statements
// (migrations, bulk inserts). A PostgreSQL schema other than public can be
// chosen, so that tests (and several control planes on one server) can each
// have their own.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';
import { migrate } from './migrate.ts';

export interface Database {
  prisma: PrismaClient;
  pool: pg.Pool;
  schema: string;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** PostgreSQL schema; "public" unless given. */
  schema?: string;
  /** Pool size. */
  max?: number;
  /** Apply prisma/migrations first (the control plane does at start). */
  migrate?: boolean;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function connectDatabase(url: string, o: ConnectOptions = {}): Promise<Database> {
  const schema = o.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema))
    throw new Error(
      `invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`,
    );
  const pool = new pg.Pool({
    connectionString: url,
    max: o.max ?? 10,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5000,
  });
  // A pool with no error listener crashes the process when an idle
  // connection dies (PostgreSQL restarted): the next query reconnects.
  pool.on('error', () => {});
  if (o.migrate) {
    const client = await pool.connect();
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await migrate(client);
    } finally {
      client.release();
    }
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }) });
  return {
    prisma,
    pool,
    schema,
    close: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
