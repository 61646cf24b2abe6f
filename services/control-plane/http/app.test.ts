// The HTTP API against real PostgreSQL and Redis: every route with every
// role, the policy version lifecycle, groups and assignments driving desired
// state, audit entries, problems, health, metrics and the OpenAPI document.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import type { Role } from '../auth/api-tokens.ts';
import { as, harness, insertHost, policyYaml, type Harness } from './test-support.ts';

type InjectPayload = InjectOptions['payload'];

let h: Harness;
let hostA: string; // zone=a env=prod
let hostB: string; // zone=b env=prod
let hostC: string; // zone=a, no env

beforeAll(async () => {
  h = await harness({ bodyLimit: 64 * 1024 });
  hostA = await insertHost(h.db, 'host-a', { zone: 'a', env: 'prod' }, { connectedTo: 'r1' });
  hostB = await insertHost(h.db, 'host-b', { zone: 'b', env: 'prod' });
  hostC = await insertHost(h.db, 'host-c', { zone: 'a' });
});

afterAll(async () => {
  await h.close();
});

type Json = Record<string, unknown>;
const json = (r: { body: string }): Json => JSON.parse(r.body) as Json;

describe('every route × role', () => {
  const ROLES: (Role | null)[] = [null, 'viewer', 'author', 'operator', 'admin'];
  const RANK: Record<Role, number> = { viewer: 0, author: 1, operator: 2, admin: 3 };
  const missing = randomUUID();
  let seq = 0;
  const uniq = () => `x${++seq}`;
  // Fixtures the routes act on, made once as admin.
  let groupId = '';
  beforeAll(async () => {
    await as(h, 'admin', {
      method: 'POST',
      url: '/api/v1/policies',
      payload: { source: policyYaml('matrix') },
    });
    const g = await as(h, 'admin', {
      method: 'POST',
      url: '/api/v1/groups',
      payload: { name: 'matrix', selector: { matchLabels: { zone: 'none' } } },
    });
    groupId = json(g).id as string;
  });

  interface Case {
    need: Role;
    ok: number;
    req: () => { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; payload?: InjectPayload };
  }
  const cases: Case[] = [
    {
      need: 'author',
      ok: 201,
      req: () => ({
        method: 'POST',
        url: '/api/v1/policies',
        payload: { source: policyYaml(uniq()) },
      }),
    },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/policies' }) },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/policies/matrix' }) },
    {
      need: 'viewer',
      ok: 200,
      req: () => ({ method: 'GET', url: '/api/v1/policies/matrix/versions' }),
    },
    {
      need: 'viewer',
      ok: 200,
      req: () => ({ method: 'GET', url: '/api/v1/policies/matrix/versions/1' }),
    },
    {
      need: 'viewer',
      ok: 200,
      req: () => ({ method: 'GET', url: '/api/v1/policies/matrix/diff?from=1&to=1' }),
    },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/hosts' }) },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: `/api/v1/hosts/${hostA}` }) },
    {
      need: 'operator',
      ok: 200,
      req: () => ({
        method: 'PUT',
        url: `/api/v1/hosts/${hostB}/labels`,
        payload: { labels: { zone: 'b', env: 'prod' } },
      }),
    },
    {
      need: 'operator',
      ok: 200,
      req: () => ({ method: 'DELETE', url: `/api/v1/hosts/${hostC}/labels` }),
    },
    {
      need: 'operator',
      ok: 201,
      req: () => ({
        method: 'POST',
        url: '/api/v1/groups',
        payload: { name: uniq(), selector: { matchLabels: { zone: 'none' } } },
      }),
    },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/groups' }) },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: `/api/v1/groups/${groupId}` }) },
    {
      need: 'operator',
      ok: 200,
      req: () => ({
        method: 'PUT',
        url: `/api/v1/groups/${groupId}`,
        payload: { name: 'matrix', selector: { matchLabels: { zone: 'none' } } },
      }),
    },
    {
      need: 'operator',
      ok: 404,
      req: () => ({ method: 'DELETE', url: `/api/v1/groups/${missing}` }),
    },
    {
      need: 'viewer',
      ok: 200,
      req: () => ({ method: 'GET', url: `/api/v1/groups/${groupId}/hosts` }),
    },
    {
      need: 'viewer',
      ok: 200,
      req: () => ({ method: 'POST', url: '/api/v1/groups/preview', payload: { selector: {} } }),
    },
    {
      need: 'operator',
      ok: 200,
      req: () => ({
        method: 'PUT',
        url: `/api/v1/groups/${groupId}/assignment`,
        payload: { policy: 'matrix', version: 1 },
      }),
    },
    {
      need: 'operator',
      ok: 404,
      req: () => ({ method: 'DELETE', url: `/api/v1/groups/${missing}/assignment` }),
    },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/events' }) },
    {
      need: 'viewer',
      ok: 200,
      req: () => ({ method: 'GET', url: '/api/v1/events/aggregate?by=hour' }),
    },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/audit' }) },
    {
      need: 'admin',
      ok: 201,
      req: () => ({
        method: 'POST',
        url: '/api/v1/tokens',
        payload: { name: uniq(), role: 'viewer' },
      }),
    },
    { need: 'admin', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/tokens' }) },
    { need: 'admin', ok: 404, req: () => ({ method: 'DELETE', url: `/api/v1/tokens/${missing}` }) },
    {
      need: 'admin',
      ok: 201,
      req: () => ({ method: 'POST', url: '/api/v1/enrollment-tokens', payload: { name: uniq() } }),
    },
    { need: 'admin', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/enrollment-tokens' }) },
    {
      need: 'admin',
      ok: 404,
      req: () => ({ method: 'DELETE', url: `/api/v1/enrollment-tokens/${missing}` }),
    },
    // Rollouts: a body that fails validation, and a rollout that does not exist.
    {
      need: 'operator',
      ok: 400,
      req: () => ({ method: 'POST', url: '/api/v1/rollouts', payload: { groupId: 'x' } }),
    },
    { need: 'viewer', ok: 200, req: () => ({ method: 'GET', url: '/api/v1/rollouts' }) },
    { need: 'viewer', ok: 404, req: () => ({ method: 'GET', url: `/api/v1/rollouts/${missing}` }) },
    {
      need: 'viewer',
      ok: 404,
      req: () => ({ method: 'GET', url: `/api/v1/rollouts/${missing}/history` }),
    },
    ...(['pause', 'resume', 'promote', 'abort', 'approve'] as const).map((action) => ({
      need: 'operator' as const,
      ok: 404,
      req: () => ({
        method: 'POST' as const,
        url: `/api/v1/rollouts/${missing}/${action}`,
        payload: {},
      }),
    })),
  ];

  const table = cases.flatMap((c) =>
    ROLES.map((role) => {
      const expected = role === null ? 401 : RANK[role] >= RANK[c.need] ? c.ok : 403;
      const r = c.req();
      return {
        name: `${r.method} ${r.url.replace(/[0-9a-f-]{36}/, ':id')} as ${role ?? 'anonymous'}`,
        c,
        role,
        expected,
      };
    }),
  );

  it.each(table)('$name → $expected', async ({ c, role, expected }) => {
    const res = await as(h, role, c.req());
    expect(res.statusCode, res.body).toBe(expected);
    if (expected >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const code = json(res).code;
      if (expected === 401) expect(code).toBe('unauthorized');
      if (expected === 403) expect(code).toBe('forbidden');
    }
  });

  it('covers every /api/v1 route the app declares', async () => {
    const doc = json(await h.app.inject({ method: 'GET', url: '/docs/json' }));
    const declared = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) =>
        path.startsWith('/api/v1')
          ? Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)
          : [],
    );
    const tested = new Set(
      cases.map((c) => {
        const r = c.req();
        let url = r.url.split('?')[0] ?? '';
        url = url
          .replace(/\/hosts\/[0-9a-f-]{36}/, '/hosts/:id')
          .replace(/\/(groups|tokens|enrollment-tokens|rollouts)\/[0-9a-f-]{36}/, '/$1/:id')
          .replace('/policies/matrix/versions/1', '/policies/:name/versions/:version')
          .replace(/\/policies\/matrix/, '/policies/:name');
        return `${r.method} ${url}`;
      }),
    );
    expect(declared.filter((d) => !tested.has(d))).toEqual([]);
  });
});

describe('policy versions', () => {
  it('creates, versions, dedupes by digest, diffs, and rejects invalid documents', async () => {
    const v1 = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      payload: { source: policyYaml('lifecycle', 2), message: 'first' },
    });
    expect(v1.statusCode).toBe(201);
    expect(json(v1)).toMatchObject({
      policy: 'lifecycle',
      version: 1,
      created: true,
      author: 'a',
      message: 'first',
    });
    expect(json(v1).digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // Same document, reformatted as JSON: same digest → the existing version, 200.
    const again = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      payload: {
        source: JSON.stringify({
          apiVersion: 'oomfleet/v1',
          kind: 'OomPolicy',
          metadata: { name: 'lifecycle', description: 'test policy' },
          spec: {
            killBudget: { max: 2, per: '5m' },
            rules: [
              {
                name: 'early-kill',
                scope: '/batch.slice/*',
                when: { any: [{ usage: { of: 'limit', above: '90%' } }] },
                action: { kill: { victim: 'largest' } },
                cooldown: '20s',
              },
            ],
          },
        }),
      },
    });
    expect(again.statusCode).toBe(200);
    expect(json(again)).toMatchObject({ version: 1, created: false, id: json(v1).id });

    // Raw YAML body, message in the query.
    const v2 = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies?message=raise%20budget',
      headers: { 'content-type': 'application/yaml' },
      payload: policyYaml('lifecycle', 5),
    });
    expect(v2.statusCode).toBe(201);
    expect(json(v2)).toMatchObject({ version: 2, message: 'raise budget' });

    const list = json(await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies/lifecycle' }));
    expect(list).toMatchObject({ name: 'lifecycle', versions: 2, latest: { version: 2 } });
    const versions = json(
      await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies/lifecycle/versions' }),
    );
    expect((versions.items as Json[]).map((v) => v.version)).toEqual([2, 1]);
    const one = json(
      await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies/lifecycle/versions/1' }),
    );
    expect(one.source).toBe(policyYaml('lifecycle', 2));
    expect(one.document).toMatchObject({ metadata: { name: 'lifecycle' } });
    const all = json(await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies' }));
    expect((all.items as Json[]).find((p) => p.name === 'lifecycle')).toMatchObject({
      latest: { version: 2 },
    });

    const diff = await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies/lifecycle/diff' });
    expect(diff.statusCode).toBe(200);
    const d = json(diff);
    expect(d).toMatchObject({ from: { version: 1 }, to: { version: 2 } });
    const changes = d.changes as { path: string; summary: string }[];
    expect(changes.some((c) => c.path.startsWith('spec.killBudget'))).toBe(true);
    expect(changes.every((c) => c.summary.length > 0)).toBe(true);

    const invalid = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      payload: {
        source: policyYaml('lifecycle').replace('      action:', '      acton:'),
      },
    });
    expect(invalid.statusCode).toBe(400);
    const p = json(invalid);
    expect(p).toMatchObject({ code: 'invalid-policy', status: 400 });
    const errors = p.errors as { path: string; line?: number; column?: number }[];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => typeof e.line === 'number' && typeof e.column === 'number')).toBe(
      true,
    );
    expect(errors.map((e) => e.path)).toContain('spec.rules[0].acton');
    expect(p.detail).toMatch(/\d+:\d+ spec\.rules\[0\]\.acton/);

    const notFound = await as(h, 'viewer', {
      method: 'GET',
      url: '/api/v1/policies/lifecycle/versions/9',
    });
    expect(json(notFound)).toMatchObject({ status: 404, code: 'policy-version-not-found' });
    expect(json(await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies/nope' })).code).toBe(
      'policy-not-found',
    );
  });
});

describe('groups, assignments and desired state', () => {
  it('previews, assigns, relabels and removes, publishing exactly the hosts that moved', async () => {
    const preview = json(
      await as(h, 'viewer', {
        method: 'POST',
        url: '/api/v1/groups/preview',
        payload: { selector: { matchLabels: { zone: 'a' } } },
      }),
    );
    expect(preview).toMatchObject({ count: 2 });
    expect((preview.hosts as Json[]).map((x) => x.name)).toEqual(['host-a', 'host-c']);

    await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      payload: { source: policyYaml('zone-a') },
    });
    const created = await as(h, 'operator', {
      method: 'POST',
      url: '/api/v1/groups',
      payload: { name: 'zone-a', selector: { matchLabels: { zone: 'a' } }, description: 'A' },
    });
    expect(created.statusCode).toBe(201);
    const gid = json(created).id as string;
    const dup = await as(h, 'operator', {
      method: 'POST',
      url: '/api/v1/groups',
      payload: { name: 'zone-a', selector: {} },
    });
    expect(json(dup)).toMatchObject({ status: 409, code: 'group-name-taken' });

    const members = json(
      await as(h, 'viewer', { method: 'GET', url: `/api/v1/groups/${gid}/hosts` }),
    );
    expect(members.count).toBe(2);

    h.desiredCalls.length = 0;
    const assigned = await as(h, 'operator', {
      method: 'PUT',
      url: `/api/v1/groups/${gid}/assignment`,
      payload: { policy: 'zone-a', version: 1, priority: 10 },
    });
    expect(assigned.statusCode).toBe(200);
    expect(json(assigned)).toMatchObject({
      assignment: { priority: 10, version: { policy: 'zone-a', version: 1 } },
    });
    expect(h.desiredCalls).toEqual([[hostA, hostC].sort()]);
    const a = json(await as(h, 'viewer', { method: 'GET', url: `/api/v1/hosts/${hostA}` }));
    expect(a).toMatchObject({ desired: { policy: 'zone-a', version: 1 }, syncState: 'STALE' });

    // Moving host-b into zone a gives it the version too.
    h.desiredCalls.length = 0;
    const relabel = await as(h, 'operator', {
      method: 'PUT',
      url: `/api/v1/hosts/${hostB}/labels`,
      payload: { labels: { zone: 'a', env: 'prod' } },
    });
    expect(relabel.statusCode).toBe(200);
    expect(json(relabel)).toMatchObject({ labels: { zone: 'a' }, desired: { policy: 'zone-a' } });
    expect(h.desiredCalls).toEqual([[hostB]]);
    expect(json(relabel)).toMatchObject({ labelsSetBy: 'operator' });

    // Host filters.
    const names = async (q: string) =>
      (
        json(await as(h, 'viewer', { method: 'GET', url: `/api/v1/hosts?${q}` })).items as Json[]
      ).map((x) => x.name);
    expect(await names('label=zone=a&label=env')).toEqual(['host-a', 'host-b']);
    expect(await names('label=!env')).toEqual(['host-c']);
    expect(await names('label=env!=prod')).toEqual(['host-c']);
    expect(await names(`desired=${a.desired ? ((a.desired as Json).id as string) : ''}`)).toEqual([
      'host-a',
      'host-b',
      'host-c',
    ]);
    expect(await names('state=DISCONNECTED')).toEqual(['host-b', 'host-c']);
    expect(await names('state=STALE')).toEqual(['host-a']);
    const bad = await as(h, 'viewer', { method: 'GET', url: '/api/v1/hosts?label=%3Dx' });
    expect(json(bad).code).toBe('invalid-label-filter');

    // Narrowing the selector releases host-c only.
    h.desiredCalls.length = 0;
    const narrowed = await as(h, 'operator', {
      method: 'PUT',
      url: `/api/v1/groups/${gid}`,
      payload: { name: 'zone-a', selector: { matchLabels: { zone: 'a', env: 'prod' } } },
    });
    expect(narrowed.statusCode).toBe(200);
    expect(h.desiredCalls).toEqual([[hostC]]);

    h.desiredCalls.length = 0;
    const removed = await as(h, 'operator', {
      method: 'DELETE',
      url: `/api/v1/groups/${gid}/assignment`,
    });
    expect(removed.statusCode).toBe(204);
    expect(h.desiredCalls).toEqual([[hostA, hostB].sort()]);
    const again = await as(h, 'operator', {
      method: 'DELETE',
      url: `/api/v1/groups/${gid}/assignment`,
    });
    expect(json(again).code).toBe('assignment-not-found');

    // A failing fan-out does not undo or fail the stored change.
    h.failDesired.on = true;
    h.desiredCalls.length = 0;
    try {
      const reassigned = await as(h, 'operator', {
        method: 'PUT',
        url: `/api/v1/groups/${gid}/assignment`,
        payload: { policy: 'zone-a', version: 1 },
      });
      expect(reassigned.statusCode).toBe(200);
      expect(h.desiredCalls).toEqual([[hostA, hostB].sort()]);
    } finally {
      h.failDesired.on = false;
    }

    h.desiredCalls.length = 0;
    const deleted = await as(h, 'operator', { method: 'DELETE', url: `/api/v1/groups/${gid}` });
    expect(deleted.statusCode).toBe(204);
    expect(h.desiredCalls).toEqual([[hostA, hostB].sort()]);
    expect(json(await as(h, 'viewer', { method: 'GET', url: `/api/v1/groups/${gid}` })).code).toBe(
      'group-not-found',
    );
  });
});

describe('audit', () => {
  it('records actor, action, target, before and after for every change', async () => {
    const g = json(
      await as(h, 'operator', {
        method: 'POST',
        url: '/api/v1/groups',
        payload: { name: 'audited', selector: { matchLabels: { zone: 'q' } } },
      }),
    );
    await as(h, 'operator', {
      method: 'PUT',
      url: `/api/v1/groups/${g.id as string}`,
      payload: { name: 'audited', selector: { matchLabels: { zone: 'r' } }, description: 'moved' },
    });
    const res = await as(h, 'viewer', {
      method: 'GET',
      url: `/api/v1/audit?targetType=group&targetId=${g.id as string}`,
    });
    const items = json(res).items as Json[];
    expect(items.map((i) => i.action)).toEqual(['group.update', 'group.create']);
    const operator = await h.db.prisma.apiToken.findFirstOrThrow({ where: { name: 'o' } });
    expect(items[0]).toMatchObject({
      actor: `o (${operator.id})`,
      before: { selector: { matchLabels: { zone: 'q' } }, description: '' },
      after: { selector: { matchLabels: { zone: 'r' } }, description: 'moved' },
    });
    expect(items[1]).toMatchObject({ before: null, after: { name: 'audited' } });

    // Paging.
    const page1 = json(await as(h, 'viewer', { method: 'GET', url: '/api/v1/audit?limit=1' }));
    expect((page1.items as Json[]).length).toBe(1);
    const page2 = json(
      await as(h, 'viewer', {
        method: 'GET',
        url: `/api/v1/audit?limit=1&cursor=${page1.nextCursor as string}`,
      }),
    );
    expect(Number((page2.items as Json[])[0]?.id)).toBeLessThan(
      Number((page1.items as Json[])[0]?.id),
    );

    // Label changes keep the labels before and after.
    const labels = json(
      await as(h, 'viewer', {
        method: 'GET',
        url: `/api/v1/audit?action=host.labels.update&targetId=${hostB}`,
      }),
    ).items as Json[];
    expect(labels[0]).toMatchObject({
      before: { labels: { zone: 'b' } },
      after: { labels: { zone: 'a' } },
    });
  });
});

describe('tokens', () => {
  it('returns a secret once, which works until revoked', async () => {
    const created = await as(h, 'admin', {
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { name: 'ci', role: 'author' },
    });
    expect(created.statusCode).toBe(201);
    const t = json(created);
    expect(t.token).toMatch(/^oft_/);
    const listed = json(await as(h, 'admin', { method: 'GET', url: '/api/v1/tokens' }));
    expect(JSON.stringify(listed)).not.toContain(t.token as string);
    const use = () =>
      h.app.inject({
        method: 'GET',
        url: '/api/v1/policies',
        headers: { authorization: `Bearer ${t.token as string}` },
      });
    expect((await use()).statusCode).toBe(200);
    expect(
      (await as(h, 'admin', { method: 'DELETE', url: `/api/v1/tokens/${t.id as string}` }))
        .statusCode,
    ).toBe(204);
    expect((await use()).statusCode).toBe(401);

    const e = await as(h, 'admin', {
      method: 'POST',
      url: '/api/v1/enrollment-tokens',
      payload: { name: 'rack-7', labels: { rack: '7' }, expiresAt: '2030-01-01T00:00:00Z' },
    });
    expect(e.statusCode).toBe(201);
    expect(json(e)).toMatchObject({
      labels: { rack: '7' },
      expiresAt: '2030-01-01T00:00:00.000Z',
      uses: 0,
    });
    expect(json(e).token).toMatch(/^ofe_/);

    // Revoking keeps the row and marks it; a second revoke changes nothing. Both are audited.
    const revoke = () =>
      as(h, 'admin', {
        method: 'DELETE',
        url: `/api/v1/enrollment-tokens/${json(e).id as string}`,
      });
    expect((await revoke()).statusCode).toBe(204);
    const listedAfter = json(
      await as(h, 'admin', { method: 'GET', url: '/api/v1/enrollment-tokens' }),
    ).items as Json[];
    const revoked = listedAfter.find((x) => x.id === json(e).id);
    expect(revoked?.revokedAt).toEqual(expect.any(String));
    expect((await revoke()).statusCode).toBe(204);
    const again = json(await as(h, 'admin', { method: 'GET', url: '/api/v1/enrollment-tokens' }))
      .items as Json[];
    expect(again.find((x) => x.id === json(e).id)?.revokedAt).toBe(revoked?.revokedAt);
    const audit = json(
      await as(h, 'admin', {
        method: 'GET',
        url: `/api/v1/audit?targetId=${json(e).id as string}`,
      }),
    ).items as Json[];
    expect(audit.map((a) => a.action)).toEqual([
      'enrollment-token.revoke',
      'enrollment-token.revoke',
      'enrollment-token.create',
    ]);
  });

  it('ensureAdminToken creates nothing once tokens exist', async () => {
    const { ensureAdminToken } = await import('../auth/api-tokens.ts');
    expect(await ensureAdminToken(h.db)).toBeUndefined();
  });
});

describe('events', () => {
  it('lists newest first with a cursor, and aggregates by hour, version and group', async () => {
    await as(h, 'admin', {
      method: 'POST',
      url: '/api/v1/groups',
      payload: { name: 'ev-zone-a', selector: { matchLabels: { zone: 'a' } } },
    });
    const base = Date.parse('2026-01-01T10:15:00Z');
    const rows = [
      { hostId: hostA, kind: 'kill', time: new Date(base), policyDigest: 'sha256:aa' },
      { hostId: hostA, kind: 'kill', time: new Date(base + 60_000), policyDigest: 'sha256:aa' },
      { hostId: hostB, kind: 'oom', time: new Date(base + 3_600_000), policyDigest: null },
      { hostId: hostC, kind: 'kill', time: new Date(base + 3_700_000), policyDigest: 'sha256:bb' },
    ];
    let n = 0;
    for (const r of rows)
      await h.db.prisma.outcomeEvent.create({ data: { ...r, eventId: `e${++n}` } });

    const page1 = json(await as(h, 'viewer', { method: 'GET', url: '/api/v1/events?limit=3' }));
    expect((page1.items as Json[]).map((e) => e.eventId)).toEqual(['e4', 'e3', 'e2']);
    const page2 = json(
      await as(h, 'viewer', {
        method: 'GET',
        url: `/api/v1/events?limit=3&cursor=${page1.nextCursor as string}`,
      }),
    );
    expect((page2.items as Json[]).map((e) => e.eventId)).toEqual(['e1']);
    expect(page2.nextCursor).toBeNull();
    const kills = json(
      await as(h, 'viewer', { method: 'GET', url: `/api/v1/events?kind=kill&host=${hostA}` }),
    );
    expect((kills.items as Json[]).length).toBe(2);
    const digest = json(
      await as(h, 'viewer', { method: 'GET', url: '/api/v1/events?digest=sha256:bb' }),
    );
    expect((digest.items as Json[]).map((e) => e.host)).toEqual(['host-c']);

    const hours = json(
      await as(h, 'viewer', { method: 'GET', url: '/api/v1/events/aggregate?by=hour' }),
    );
    expect(hours.buckets).toEqual([
      { key: '2026-01-01T10:00:00.000Z', count: 2 },
      { key: '2026-01-01T11:00:00.000Z', count: 2 },
    ]);
    const byVersion = json(
      await as(h, 'viewer', {
        method: 'GET',
        url: '/api/v1/events/aggregate?by=version&kind=kill',
      }),
    );
    expect(byVersion.buckets).toEqual([
      { key: 'sha256:aa', count: 2 },
      { key: 'sha256:bb', count: 1 },
    ]);
    const byGroup = json(
      await as(h, 'viewer', {
        method: 'GET',
        url: '/api/v1/events/aggregate?by=group&since=2026-01-01T11:00:00Z',
      }),
    );
    // host-b was relabelled into zone a earlier; both 11:00 events are in zone a.
    expect((byGroup.buckets as Json[]).find((b) => b.label === 'ev-zone-a')).toMatchObject({
      count: 2,
    });
  });
});

describe('problems', () => {
  it('401 without or with an unknown token, 403 for a low role', async () => {
    const none = await h.app.inject({ method: 'GET', url: '/api/v1/hosts' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(json(none)).toMatchObject({
      type: 'urn:oomfleet:problem:unauthorized',
      code: 'unauthorized',
    });
    const unknown = await h.app.inject({
      method: 'GET',
      url: '/api/v1/hosts',
      headers: { authorization: 'Bearer oft_nope' },
    });
    expect(unknown.statusCode).toBe(401);
    const low = await as(h, 'viewer', { method: 'GET', url: '/api/v1/tokens' });
    expect(json(low)).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('400 with the paths of schema violations', async () => {
    const res = await as(h, 'operator', {
      method: 'POST',
      url: '/api/v1/groups',
      payload: { selector: { matchLabels: { zone: 5 } }, extra: true },
    });
    expect(res.statusCode).toBe(400);
    const p = json(res);
    expect(p.code).toBe('validation-failed');
    const paths = (p.errors as Json[]).map((e) => e.path);
    expect(paths).toContain('body.name');
    expect(paths).toContain('body.extra');
    const q = await as(h, 'viewer', { method: 'GET', url: '/api/v1/events/aggregate?by=week' });
    expect(json(q).code).toBe('validation-failed');
    expect(((json(q).errors as Json[])[0]?.path as string).startsWith('querystring.by')).toBe(true);
    const badId = await as(h, 'viewer', { method: 'GET', url: '/api/v1/groups/not-a-uuid' });
    expect(json(badId)).toMatchObject({ status: 400, code: 'validation-failed' });
    const badJson = await as(h, 'operator', {
      method: 'POST',
      url: '/api/v1/groups',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(json(badJson)).toMatchObject({ status: 400, code: 'malformed-body' });
  });

  it('413 for an oversized body, 415 for an unknown content type', async () => {
    const big = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      payload: { source: 'x'.repeat(70 * 1024) },
    });
    expect(big.statusCode).toBe(413);
    expect(json(big).code).toBe('body-too-large');
    const bigYaml = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      headers: { 'content-type': 'application/yaml' },
      payload: `# ${'x'.repeat(70 * 1024)}`,
    });
    expect(bigYaml.statusCode).toBe(413);
    const odd = await as(h, 'author', {
      method: 'POST',
      url: '/api/v1/policies',
      headers: { 'content-type': 'application/x-odd' },
      payload: 'x',
    });
    expect(json(odd)).toMatchObject({ status: 415, code: 'unsupported-media-type' });
  });

  it('404 problem for unknown routes', async () => {
    for (const url of ['/nope', '/api/v1/nope']) {
      const res = await as(h, 'admin', { method: 'GET', url });
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(json(res).code).toBe('route-not-found');
    }
  });
});

describe('health, metrics, docs', () => {
  it('/healthz and /readyz answer 200 with both dependencies up', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(json(ready)).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('/metrics serves Prometheus text counting requests', async () => {
    await as(h, 'viewer', { method: 'GET', url: '/api/v1/policies' });
    const res = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toMatch(
      /oomfleet_http_requests_total\{route="\/api\/v1\/policies",method="GET",status="200"\} \d+/,
    );
  });

  it('/docs/json is an OpenAPI document listing the routes', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = json(res);
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys((doc.components as { schemas: object }).schemas)).toContain('Problem');
    const paths = Object.keys(doc.paths as object);
    for (const p of [
      '/api/v1/policies',
      '/api/v1/policies/{name}/diff',
      '/api/v1/hosts/{id}/labels',
      '/api/v1/groups/{id}/assignment',
      '/api/v1/events/aggregate',
      '/api/v1/audit',
      '/api/v1/tokens',
      '/api/v1/enrollment-tokens/{id}',
      '/readyz',
    ])
      expect(paths).toContain(p);
    expect((await h.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});
