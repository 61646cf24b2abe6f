// API token bootstrap and lookup against real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { createApiToken, ensureAdminToken, lookupApiToken, roleAllows } from './api-tokens.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase('tok');
});
afterAll(async () => {
  await db.drop();
});

describe('api tokens', () => {
  it('bootstraps exactly one admin token, even when replicas start together', async () => {
    const secrets = await Promise.all([
      ensureAdminToken(db),
      ensureAdminToken(db),
      ensureAdminToken(db),
    ]);
    const given = secrets.filter((s) => s !== undefined);
    expect(given).toHaveLength(1);
    expect(given[0]).toMatch(/^oft_/);
    expect(await db.prisma.apiToken.count()).toBe(1);
    expect(await ensureAdminToken(db)).toBeUndefined();
    const found = await lookupApiToken(db, given[0] ?? '');
    expect(found).toMatchObject({ role: 'admin', name: 'bootstrap-admin' });
    expect(JSON.stringify(found)).not.toContain(given[0]);
  });

  it('looks up live tokens only', async () => {
    const { token, record } = await createApiToken(db, {
      name: 'x',
      role: 'author',
      createdBy: 't',
    });
    expect((await lookupApiToken(db, token))?.id).toBe(record.id);
    expect(await lookupApiToken(db, `${token}x`)).toBeUndefined();
    expect(await lookupApiToken(db, 'not-a-token')).toBeUndefined();
    await db.prisma.apiToken.update({ where: { id: record.id }, data: { revokedAt: new Date() } });
    expect(await lookupApiToken(db, token)).toBeUndefined();
  });

  it('orders roles viewer < author < operator < admin', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('author', 'operator')).toBe(false);
    expect(roleAllows('viewer', 'author')).toBe(false);
  });
});
