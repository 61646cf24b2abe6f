// The array literals the insert sends, read back by PostgreSQL.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../../../test/helpers/db.ts';
import { textArray } from './insert.ts';

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
});
afterAll(async () => {
  await client.end();
});

it('sends text arrays PostgreSQL reads back unchanged', async () => {
  const xs = [
    'a',
    '',
    'NULL',
    'null',
    'x"y',
    'b\\c',
    '{"k":"v\\"w","n":[1,2]}',
    ' spaced ',
    'é ☃ 𝄞',
    ',',
    '{}',
    '\\"',
  ];
  const r = await client.query<{ a: string[] }>('SELECT $1::text[] AS a', [textArray(xs)]);
  expect(r.rows[0]?.a).toEqual(xs);
  const empty = await client.query<{ a: string[] }>('SELECT $1::text[] AS a', [textArray([])]);
  expect(empty.rows[0]?.a).toEqual([]);
});
