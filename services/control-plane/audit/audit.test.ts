// The audit writer against real PostgreSQL: JSON before/after (dates and
// bigints made plain), null for what did not exist, inside a transaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { actorLabel, writeAudit } from './audit.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase('aud');
});
afterAll(async () => {
  await db.drop();
});

describe('writeAudit', () => {
  it('stores actor, action, target and plain JSON before/after', async () => {
    const actor = { id: '00000000-0000-4000-8000-000000000001', name: 'ci' };
    await writeAudit(db.prisma, {
      actor,
      action: 'thing.update',
      targetType: 'thing',
      targetId: 't1',
      before: { at: new Date('2026-01-01T00:00:00Z'), n: 5n },
      after: { at: null, n: 6n },
    });
    await writeAudit(db.prisma, {
      actor,
      action: 'thing.create',
      targetType: 'thing',
      targetId: 't2',
    });
    const rows = await db.prisma.auditEntry.findMany({ orderBy: { id: 'asc' } });
    expect(rows[0]).toMatchObject({
      actor: actorLabel(actor),
      action: 'thing.update',
      targetType: 'thing',
      targetId: 't1',
      before: { at: '2026-01-01T00:00:00.000Z', n: '5' },
      after: { at: null, n: '6' },
    });
    expect(rows[1]).toMatchObject({ before: null, after: null });
    expect(actorLabel(actor)).toBe('ci (00000000-0000-4000-8000-000000000001)');
  });

  it('rolls back with the change it records', async () => {
    await expect(
      db.prisma.$transaction(async (tx) => {
        await writeAudit(tx, {
          actor: { id: 'x', name: 'x' },
          action: 'doomed',
          targetType: 'thing',
          targetId: 't3',
        });
        throw new Error('change failed');
      }),
    ).rejects.toThrow('change failed');
    expect(await db.prisma.auditEntry.count({ where: { action: 'doomed' } })).toBe(0);
  });
});
