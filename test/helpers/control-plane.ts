// A real control plane for tests: startControlPlane (the same code as
// `oomfleet server`) on loopback ports chosen by the kernel, against the
// machine's PostgreSQL in a schema of its own and the machine's Redis under a
// key prefix of its own. Several may share one schema and prefix: replicas.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../../services/control-plane/config.ts';
import { startControlPlane, type ControlPlane } from '../../services/control-plane/server.ts';
import { TEST_DATABASE_URL } from './db.ts';

export interface TestControlPlane extends ControlPlane {
  schema: string;
  redisPrefix: string;
  grpcAddress: string;
  /** The admin token: from the first start, or passed in. */
  token: string;
  /** A request to the HTTP API; the caller names the body it expects. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: T }>;
}

export interface Shared {
  schema: string;
  redisPrefix: string;
  token?: string;
}

export function newShared(): Shared {
  const id = randomBytes(5).toString('hex');
  return { schema: `cp_${id}`, redisPrefix: `oomfleet-test-${id}` };
}

export async function startTestControlPlane(
  shared: Shared = newShared(),
  options: { replicaId?: string; grpcPort?: number } = {},
): Promise<TestControlPlane> {
  const config = {
    ...loadConfig({
      DATABASE_URL: TEST_DATABASE_URL,
      OOMFLEET_HTTP_ADDR: '127.0.0.1:0',
      OOMFLEET_GRPC_ADDR: `127.0.0.1:${options.grpcPort ?? 0}`,
      OOMFLEET_REPLICA_ID: options.replicaId ?? `test-${randomBytes(3).toString('hex')}`,
    }),
    databaseSchema: shared.schema,
    redisPrefix: shared.redisPrefix,
  };
  const cp = await startControlPlane(config, () => {});
  if (cp.adminToken) shared.token = cp.adminToken;
  const token = shared.token;
  if (!token) throw new Error('no admin token: start the first replica on an empty schema');
  return {
    ...cp,
    schema: shared.schema,
    redisPrefix: shared.redisPrefix,
    grpcAddress: `127.0.0.1:${cp.grpcPort}`,
    token,
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
    api: async <T>(method: string, path: string, body?: unknown, t = token) => {
      const res = await fetch(`${cp.httpUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${t}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
  };
}

/** Drops the shared schema and the Redis keys under the prefix. */
export async function dropShared(
  shared: Shared,
  redisUrl = 'redis://127.0.0.1:6379',
): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${shared.schema}" CASCADE`);
  } finally {
    await c.end();
  }
  const { Redis } = await import('ioredis');
  const r = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${shared.redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
