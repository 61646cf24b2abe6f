// `oomfleet server`: one control-plane replica. Settings come from the
// environment (see services/control-plane/config.ts); flags override them.
import type { Command } from 'commander';
import { Command as Cmd } from 'commander';
import { ConfigError, loadConfig, SETTINGS, type Settings } from '../../control-plane/config.ts';
import { CliError, EXIT_INVALID } from '../errors.ts';
import type { Io } from '../output.ts';

interface ServerFlags {
  database?: string;
  redis?: string;
  dataDir?: string;
  http?: string;
  grpc?: string;
  replicaId?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  mtls?: boolean;
}

function settingsFrom(o: ServerFlags): Settings {
  const s: Settings = {};
  if (o.database) s.DATABASE_URL = o.database;
  if (o.redis) s.REDIS_URL = o.redis;
  if (o.dataDir) s.OOMFLEET_DATA_DIR = o.dataDir;
  if (o.http) s.OOMFLEET_HTTP_ADDR = o.http;
  if (o.grpc) s.OOMFLEET_GRPC_ADDR = o.grpc;
  if (o.replicaId) s.OOMFLEET_REPLICA_ID = o.replicaId;
  if (o.tlsCert) s.OOMFLEET_TLS_CERT = o.tlsCert;
  if (o.tlsKey) s.OOMFLEET_TLS_KEY = o.tlsKey;
  if (o.tlsCa) s.OOMFLEET_TLS_CA = o.tlsCa;
  if (o.mtls) s.OOMFLEET_TLS_CLIENT_AUTH = 'require';
  return s;
}

export function serverCommand(io: Io, setExit: (code: number) => void): Command {
  const envHelp = Object.entries(SETTINGS)
    .map(([k, v]) => `  ${k.padEnd(26)} ${v}`)
    .join('\n');
  return new Cmd('server')
    .description('run a control-plane replica: HTTP API, gRPC for agents, report ingestion')
    .option('--database <url>', 'PostgreSQL URL (DATABASE_URL); default: embedded PostgreSQL')
    .option('--redis <url>', 'Redis URL (REDIS_URL)')
    .option('--data-dir <dir>', 'data directory for the embedded PostgreSQL (OOMFLEET_DATA_DIR)')
    .option('--http <host:port>', 'HTTP API address (OOMFLEET_HTTP_ADDR)')
    .option('--grpc <host:port>', 'agent gRPC address (OOMFLEET_GRPC_ADDR)')
    .option('--replica-id <name>', 'this replica’s name (OOMFLEET_REPLICA_ID)')
    .option('--tls-cert <file>', 'server certificate, PEM (OOMFLEET_TLS_CERT)')
    .option('--tls-key <file>', 'its key, PEM (OOMFLEET_TLS_KEY)')
    .option('--tls-ca <file>', 'client CA, PEM (OOMFLEET_TLS_CA)')
    .option('--mtls', 'require client certificates (OOMFLEET_TLS_CLIENT_AUTH=require)')
    .addHelpText('after', `\nEnvironment:\n${envHelp}`)
    .action(async (o: ServerFlags) => {
      let config;
      try {
        config = loadConfig(process.env, settingsFrom(o));
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, EXIT_INVALID, err.hint);
        throw err;
      }
      // Loaded here: the rest of the CLI should not pay for fastify, Prisma and gRPC.
      const { startControlPlane, StartError } = await import('../../control-plane/server.ts');
      const { MigrationError } = await import('../../control-plane/store/migrate.ts');
      const cp = await startControlPlane(config, (l) => {
        io.err(l);
      }).catch((err: unknown) => {
        if (err instanceof StartError || err instanceof MigrationError)
          throw new CliError(err.message, EXIT_INVALID, err.hint);
        throw err;
      });
      if (cp.adminToken)
        io.out(
          `First start: an admin API token was created. It is shown once; keep it safe:\n  ${cp.adminToken}\n`,
        );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void cp.stop().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      setExit(0);
    });
}
