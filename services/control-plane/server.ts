// One control-plane process: storage (PostgreSQL, embedded when no URL is
// given), Redis (jobs and fan-out), the gRPC server agents connect to, the
// report ingester and the HTTP API. Several such processes can share one
// PostgreSQL and one Redis (replicas). stop() drains in reverse order.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { ControlPlaneConfig } from './config.ts';
import { ensureAdminToken } from './auth/api-tokens.ts';
import { createFanout } from './fanout/fanout.ts';
import { startGrpcServer } from './grpc/server.ts';
import { buildApp } from './http/app.ts';
import { createReportQueue } from './ingest/queue.ts';
import { startReportIngester } from './ingest/ingester.ts';
import { createMetrics } from './metrics.ts';
import { startRolloutDriver } from './rollouts/driver.ts';
import { connectDatabase } from './store/db.ts';
import { startEmbeddedPostgres } from './store/embedded.ts';
import { MigrationError } from './store/migrate.ts';

/** A dependency the control plane cannot start without is unreachable. */
export class StartError extends Error {
  constructor(
    message: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StartError';
  }
}

/** Where a URL points, without its password. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

export interface ControlPlane {
  httpUrl: string;
  grpcPort: number;
  /** Printed once, on the first start against an empty database. */
  adminToken?: string;
  stop(): Promise<void>;
}

export async function startControlPlane(
  config: ControlPlaneConfig,
  log: (line: string) => void,
): Promise<ControlPlane> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) {
      try {
        await s();
      } catch (err) {
        log(`control plane: stopping: ${(err as Error).message}`);
      }
    }
  };
  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      const embedded = await startEmbeddedPostgres(config.dataDir, log);
      stops.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    const db = await connectDatabase(databaseUrl, {
      migrate: true,
      max: 20,
      ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
    }).catch((err: unknown) => {
      if (err instanceof MigrationError) throw err;
      throw new StartError(
        `cannot use PostgreSQL at ${redact(databaseUrl)}: ${(err as Error).message}`,
        'check DATABASE_URL (or --database) and that the server is up; unset it to use the embedded PostgreSQL',
        { cause: err },
      );
    });
    const prefix = config.redisPrefix ?? 'oomfleet';
    stops.push(() => db.close());
    const adminToken = await ensureAdminToken(db);

    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    redis.on('error', () => {
      // ioredis reconnects by itself; /readyz reports Redis as down meanwhile.
    });
    stops.push(() => {
      redis.disconnect();
      return Promise.resolve();
    });
    // Once reachable at start, a Redis outage later is survived (503s, then
    // recovery); unreachable at start is a setting to fix, said plainly.
    await redis.connect().catch((err: unknown) => {
      throw new StartError(
        `cannot reach Redis at ${redact(config.redisUrl)}: ${(err as Error).message}`,
        'start Redis, or point REDIS_URL (or --redis) at it',
        { cause: err },
      );
    });
    const metrics = createMetrics();
    const fanout = await createFanout({ redisUrl: config.redisUrl, channel: `${prefix}:desired` });
    stops.push(() => fanout.close());
    const reports = createReportQueue({ redis: { url: config.redisUrl }, prefix, metrics });
    stops.push(() => reports.close());
    const ingester = startReportIngester({ db, redis: { url: config.redisUrl }, prefix, metrics });
    stops.push(() => ingester.close());

    const tls = config.tls && {
      cert: readFileSync(config.tls.certFile),
      key: readFileSync(config.tls.keyFile),
      ...(config.tls.caFile ? { ca: readFileSync(config.tls.caFile) } : {}),
      requireClientCert: config.tls.requireClientCert,
    };
    const grpc = await startGrpcServer({
      db,
      metrics,
      reports,
      fanout,
      replicaId: config.replicaId,
      address: `${config.grpc.host.includes(':') ? `[${config.grpc.host}]` : config.grpc.host}:${config.grpc.port}`,
      ...(tls ? { tls } : {}),
    });
    stops.push(() => grpc.close({ graceMs: 2000 }));

    const rollouts = startRolloutDriver({
      db,
      redis: { url: config.redisUrl },
      prefix,
      onDesiredChanged: (hostIds) => fanout.publish(hostIds),
      oldestPendingReport: () => reports.oldestPending(),
      log,
    });
    stops.push(() => rollouts.close());

    const app = await buildApp({
      db,
      redis,
      metrics,
      rollouts,
      onDesiredChanged: (hostIds) => fanout.publish(hostIds),
      ...(tls
        ? {
            https: {
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca ? { ca: tls.ca } : {}),
              requestCert: tls.requireClientCert,
            },
          }
        : {}),
    });
    stops.push(() => app.close());
    const httpUrl = await app.listen({ host: config.http.host, port: config.http.port });
    log(`control plane ${config.replicaId}: HTTP ${httpUrl}, gRPC port ${grpc.port}`);
    return { httpUrl, grpcPort: grpc.port, ...(adminToken ? { adminToken } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
