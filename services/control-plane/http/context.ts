// What the app hands its plugins: dependencies as decorators (routes never
// build their own clients), the authenticated actor on the request, and the
// role a route needs in its config.
import type { Redis } from 'ioredis';
import type { Actor } from '../audit/audit.ts';
import type { Role } from '../auth/api-tokens.ts';
import type { Metrics } from '../metrics.ts';
import type { Database } from '../store/db.ts';
import type { RolloutDriver } from '../rollouts/driver.ts';

export interface AppDeps {
  db: Database;
  /** Checked by /readyz. */
  redis: Redis;
  metrics: Metrics;
  /** Called with the hosts whose desired version changed, after every change of desired state. */
  onDesiredChanged(hostIds: string[]): Promise<void>;
  /** Drives rollouts (services/control-plane/rollouts/driver.ts); without it /rollouts answers 503. */
  rollouts?: RolloutDriver;
  /** Fastify's logger (pino); off unless true. */
  logger?: boolean;
  /** Largest accepted request body in bytes; 1 MiB unless given. */
  bodyLimit?: number;
  /**
   * Serve HTTPS with this certificate and key; with requestCert, only
   * clients with a certificate that chains to ca are served (mutual TLS).
   */
  https?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean };
}

export interface RequestActor extends Actor {
  role: Role;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: AppDeps;
  }
  interface FastifyRequest {
    actor: RequestActor | null;
  }
  interface FastifyContextConfig {
    /** The lowest role allowed; every /api/v1 route needs at least viewer. */
    role?: Role;
  }
}
