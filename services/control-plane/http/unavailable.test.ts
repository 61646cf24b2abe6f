// PostgreSQL or Redis going away: what needs them answers 503 (never 500),
// /readyz names which one, and the app recovers by itself when they return.
// Each dependency is reached through a TCP proxy the test can cut and
// restore, so the machine's servers are never touched.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { createApiToken } from '../auth/api-tokens.ts';
import { createMetrics } from '../metrics.ts';
import { connectDatabase, type Database } from '../store/db.ts';
import { buildApp } from './app.ts';
import type { FastifyInstance } from 'fastify';

/** A TCP proxy to host:port that can be cut (refusing and dropping connections) and restored. */
class Proxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(
    private readonly host: string,
    private readonly target: number,
  ) {}

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target, this.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server)
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
  }
}

const PG_URL = new URL(
  process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test',
);
const REDIS_URL = new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');

let fresh: TestDatabase;
let db: Database;
let redis: Redis;
let app: FastifyInstance;
let token: string;
let operator: string;
const pgProxy = new Proxy(PG_URL.hostname, Number(PG_URL.port || 5432));
const redisProxy = new Proxy(REDIS_URL.hostname, Number(REDIS_URL.port || 6379));

beforeAll(async () => {
  fresh = await freshDatabase('http_down');
  token = (await createApiToken(fresh, { name: 'v', role: 'viewer', createdBy: 'test' })).token;
  operator = (await createApiToken(fresh, { name: 'o', role: 'operator', createdBy: 'test' }))
    .token;
  await pgProxy.up();
  await redisProxy.up();
  const via = new URL(PG_URL);
  via.port = String(pgProxy.port);
  db = await connectDatabase(via.toString(), { schema: fresh.schema, max: 3 });
  redis = new Redis(redisProxy.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  app = await buildApp({
    db,
    redis,
    metrics: createMetrics({ defaults: false }),
    onDesiredChanged: () => Promise.resolve(),
  });
});

afterAll(async () => {
  await app.close();
  redis.disconnect();
  await db.close();
  await pgProxy.down();
  await redisProxy.down();
  await fresh.drop();
});

const get = (url: string) =>
  app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

async function eventually(url: string, status: number, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await get(url);
    if (res.statusCode === status) return;
    if (Date.now() > until) throw new Error(`${url}: still ${res.statusCode} ${res.body}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('dependencies down', () => {
  it('PostgreSQL down: 503 database-unavailable and /readyz names postgres; recovers', async () => {
    expect((await get('/api/v1/policies')).statusCode).toBe(200);
    await pgProxy.down();
    for (const url of ['/api/v1/policies', '/api/v1/hosts', '/api/v1/events/aggregate?by=hour']) {
      const res = await get(url);
      expect(res.statusCode, res.body).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'database-unavailable', status: 503 });
    }
    const write = await app.inject({
      method: 'POST',
      url: '/api/v1/groups',
      headers: { authorization: `Bearer ${operator}` },
      payload: { name: 'g', selector: {} },
    });
    expect(write.statusCode, write.body).toBe(503);
    const ready = await get('/readyz');
    expect(ready.statusCode).toBe(503);
    const body = JSON.parse(ready.body) as {
      code: string;
      detail: string;
      checks: { redis: string };
    };
    expect(body.code).toBe('not-ready');
    expect(body.detail).toBe('postgres unreachable');
    expect(body.checks.redis).toBe('ok');
    expect((await get('/healthz')).statusCode).toBe(200);

    await pgProxy.up();
    await eventually('/api/v1/policies', 200);
    await eventually('/readyz', 200);
  });

  it('Redis down: /readyz 503 naming redis; recovers', async () => {
    await redisProxy.down();
    const ready = await get('/readyz');
    expect(ready.statusCode).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({
      code: 'not-ready',
      detail: 'redis unreachable',
    });
    // The API itself does not need Redis.
    expect((await get('/api/v1/policies')).statusCode).toBe(200);
    await redisProxy.up();
    await eventually('/readyz', 200);
  });
});
