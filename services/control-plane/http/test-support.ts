// Shared by the HTTP tests: an app on a fresh PostgreSQL schema and the real
// Redis, with one API token per role and a recorder for onDesiredChanged.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { createApiToken, ensureAdminToken, type Role } from '../auth/api-tokens.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import { hashToken } from '../auth/tokens.ts';
import { buildApp } from './app.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Harness {
  app: FastifyInstance;
  db: TestDatabase;
  redis: Redis;
  metrics: Metrics;
  tokens: Record<Role, string>;
  /** Every onDesiredChanged call, in order. */
  desiredCalls: string[][];
  /** When set, onDesiredChanged records the call, then rejects (a fan-out failure). */
  failDesired: { on: boolean };
  close(): Promise<void>;
}

export async function harness(options: { bodyLimit?: number } = {}): Promise<Harness> {
  const db = await freshDatabase('http');
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const metrics = createMetrics({ defaults: false });
  const desiredCalls: string[][] = [];
  const failDesired = { on: false };
  const admin = await ensureAdminToken(db);
  if (!admin) throw new Error('expected a bootstrap admin token');
  const tokens: Record<Role, string> = {
    admin,
    viewer: (await createApiToken(db, { name: 'v', role: 'viewer', createdBy: 'test' })).token,
    author: (await createApiToken(db, { name: 'a', role: 'author', createdBy: 'test' })).token,
    operator: (await createApiToken(db, { name: 'o', role: 'operator', createdBy: 'test' })).token,
  };
  const app = await buildApp({
    db,
    redis,
    metrics,
    onDesiredChanged: (ids) => {
      desiredCalls.push([...ids].sort());
      return failDesired.on ? Promise.reject(new Error('fan-out down')) : Promise.resolve();
    },
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
  });
  return {
    app,
    db,
    redis,
    metrics,
    tokens,
    desiredCalls,
    failDesired,
    close: async () => {
      await app.close();
      redis.disconnect();
      await db.drop();
    },
  };
}

export function as(
  h: Harness,
  role: Role | null,
  opts: InjectOptions,
): Promise<LightMyRequestResponse> {
  const headers = { ...(opts.headers ?? {}) };
  if (role) headers.authorization = `Bearer ${h.tokens[role]}`;
  return h.app.inject({ ...opts, headers });
}

export async function insertHost(
  db: TestDatabase,
  name: string,
  labels: Record<string, string>,
  extra: { connectedTo?: string | null } = {},
): Promise<string> {
  const h = await db.prisma.host.create({
    data: {
      id: randomUUID(),
      name,
      labels,
      agentLabels: labels,
      secretHash: hashToken(`ofh_${name}`),
      connectedTo: extra.connectedTo ?? null,
    },
  });
  return h.id;
}

export function policyYaml(name: string, maxKills = 2): string {
  return `apiVersion: oomfleet/v1
kind: OomPolicy
metadata:
  name: ${name}
  description: test policy
spec:
  killBudget: { max: ${maxKills}, per: 5m }
  rules:
    - name: early-kill
      scope: /batch.slice/*
      when:
        any:
          - usage: { of: limit, above: 90% }
      action:
        kill: { victim: largest }
      cooldown: 20s
`;
}
