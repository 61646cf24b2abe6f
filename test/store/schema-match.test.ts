// The migrations in prisma/migrations, applied by the control plane itself,
// must build exactly the database schema.prisma describes: the Prisma client
// is generated from the one, and queries run against the other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, readMigrations } from '../../services/control-plane/store/migrate.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { expectedSchema, type ExpectedColumn } from '../helpers/prisma-schema.ts';

/** Element types of array columns, by their udt_name (information_schema says only ARRAY). */
const ARRAY_ELEMENTS: Record<string, string> = { _int4: 'integer', _text: 'text' };

const root = join(import.meta.dirname, '..', '..');
const expected = expectedSchema(readFileSync(join(root, 'prisma', 'schema.prisma'), 'utf8'));

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase('schema');
});
afterAll(async () => {
  await db.drop();
});

async function rows<T>(sql: string): Promise<T[]> {
  return (await db.pool.query<T & object>(sql, [db.schema])).rows;
}

describe('the migrated database matches prisma/schema.prisma', () => {
  it('has every table and column, with its type, nullability and default, and nothing else', async () => {
    const cols = await rows<{
      table_name: string;
      column_name: string;
      data_type: string;
      udt_name: string;
      is_nullable: string;
      column_default: string | null;
      datetime_precision: number | null;
    }>(
      `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default, datetime_precision
         FROM information_schema.columns WHERE table_schema = $1 AND table_name <> '_prisma_migrations'`,
    );
    const actual: Record<string, Record<string, ExpectedColumn>> = {};
    for (const c of cols) {
      const type =
        c.data_type === 'USER-DEFINED'
          ? `enum ${c.udt_name}`
          : c.data_type === 'ARRAY'
            ? `${ARRAY_ELEMENTS[c.udt_name] ?? c.udt_name}[]`
            : c.data_type.startsWith('timestamp')
              ? c.data_type.replace('timestamp', `timestamp(${c.datetime_precision ?? 6})`)
              : c.data_type;
      (actual[c.table_name] ??= {})[c.column_name] = {
        type,
        nullable: c.is_nullable === 'YES',
        hasDefault: c.column_default !== null,
      };
    }
    expect(actual).toEqual(expected.tables);
  });

  it('has the unique indexes, indexes and foreign keys, with their delete rules', async () => {
    const idx = await rows<{ tablename: string; indexdef: string }>(
      `SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename <> '_prisma_migrations'`,
    );
    const unique = new Set<string>();
    const plain = new Set<string>();
    for (const i of idx) {
      const cols = /\(([^)]*)\)\s*$/.exec(i.indexdef)?.[1]?.replace(/"|\s/g, '') ?? '';
      (i.indexdef.startsWith('CREATE UNIQUE') ? unique : plain).add(`${i.tablename}(${cols})`);
    }
    expect(unique).toEqual(expected.uniqueIndexes);
    expect(plain).toEqual(expected.indexes);

    const fks = await rows<{ def: string }>(
      `SELECT format('%s(%s)->%s(%s) on delete %s', kcu.table_name, kcu.column_name,
                     ccu.table_name, ccu.column_name, rc.delete_rule) AS def
         FROM information_schema.referential_constraints rc
         JOIN information_schema.key_column_usage kcu
           ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
         JOIN information_schema.constraint_column_usage ccu
           ON ccu.constraint_name = rc.constraint_name AND ccu.constraint_schema = rc.constraint_schema
        WHERE rc.constraint_schema = $1`,
    );
    expect(new Set(fks.map((f) => f.def))).toEqual(expected.foreignKeys);
  });

  it('has the enums with their values in order', async () => {
    const e = await rows<{ typname: string; labels: string[] }>(
      `SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = $1 GROUP BY t.typname`,
    );
    expect(Object.fromEntries(e.map((x) => [x.typname, x.labels]))).toEqual(expected.enums);
  });
});

describe('migrations are recorded as prisma migrate deploy records them', () => {
  it('one finished row per migration with the sha256 of its SQL; a second run applies nothing', async () => {
    const recorded = await rows<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
    }>(
      `SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE $1::text IS NOT NULL ORDER BY migration_name`,
    );
    const files = readMigrations();
    expect(recorded.map((r) => [r.migration_name, r.checksum])).toEqual(
      files.map((m) => [m.name, m.checksum]),
    );
    expect(recorded.every((r) => r.finished_at !== null)).toBe(true);
    const client = await db.pool.connect();
    try {
      expect(await migrate(client)).toEqual([]);
    } finally {
      client.release();
    }
  });

  it('refuses a migration that was changed after it was applied', async () => {
    const client = await db.pool.connect();
    try {
      await client.query(
        `UPDATE "_prisma_migrations" SET checksum = 'x' WHERE migration_name = $1`,
        [readMigrations()[0]?.name],
      );
      await expect(migrate(client)).rejects.toThrow(/was changed after it was applied/);
      await client.query(
        `UPDATE "_prisma_migrations" SET checksum = $2 WHERE migration_name = $1`,
        [readMigrations()[0]?.name, readMigrations()[0]?.checksum],
      );
    } finally {
      client.release();
    }
  });
});
