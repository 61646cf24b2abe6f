// The control plane's settings: from the environment (12-factor, what
// systemd units and Kubernetes manifests set), overridden by `oomfleet
// server` flags, checked at start. A bad value stops the process with the
// name of the setting and how to fix it, before anything listens.
import { hostname } from 'node:os';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA for client certificates (mutual TLS) and for agents' trust. */
  caFile?: string;
  requireClientCert: boolean;
}

export interface ControlPlaneConfig {
  /** Unset: an embedded PostgreSQL in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  redisUrl: string;
  http: { host: string; port: number };
  grpc: { host: string; port: number };
  replicaId: string;
  tls?: TlsFiles;
  /** PostgreSQL schema (default public): several control planes, or tests, on one server. */
  databaseSchema?: string;
  /** Prefix of every Redis key and channel (default "oomfleet"). */
  redisPrefix?: string;
}

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    message: string,
    readonly hint: string,
  ) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type Settings = Partial<Record<SettingName, string>>;
export const SETTINGS = {
  DATABASE_URL: 'PostgreSQL URL; unset: an embedded PostgreSQL in the data directory',
  REDIS_URL: 'Redis URL (jobs and fan-out between replicas)',
  OOMFLEET_REDIS_PREFIX: 'prefix of every Redis key and channel (default oomfleet)',
  OOMFLEET_DATA_DIR: 'where the embedded PostgreSQL keeps its data',
  OOMFLEET_HTTP_ADDR: 'host:port of the HTTP API and web UI',
  OOMFLEET_GRPC_ADDR: 'host:port agents connect to',
  OOMFLEET_REPLICA_ID: 'this replica’s name (default hostname:pid)',
  OOMFLEET_TLS_CERT: 'server certificate (PEM) for gRPC and HTTP',
  OOMFLEET_TLS_KEY: 'its private key (PEM)',
  OOMFLEET_TLS_CA: 'CA (PEM) that client certificates must chain to',
  OOMFLEET_TLS_CLIENT_AUTH: '"require" for mutual TLS',
} as const;
export type SettingName = keyof typeof SETTINGS;

function address(setting: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535)
    throw new ConfigError(
      setting,
      `${JSON.stringify(value)} is not host:port`,
      `write it as 127.0.0.1:8080, 0.0.0.0:7443 or [::1]:8080`,
    );
  return { host: m[1] ?? m[2] ?? '', port };
}

function url(setting: string, value: string, schemes: string[]): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(
      setting,
      `${JSON.stringify(value)} is not a URL`,
      `e.g. ${schemes[0]}//host:port/…`,
    );
  }
  if (!schemes.includes(u.protocol))
    throw new ConfigError(
      setting,
      `scheme ${u.protocol} is not supported`,
      `use ${schemes.join(' or ')}`,
    );
  return value;
}

function redisPrefix(value: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(value))
    throw new ConfigError(
      'OOMFLEET_REDIS_PREFIX',
      `${JSON.stringify(value)} is not a usable prefix`,
      'use letters, digits and _ . : - (at most 64)',
    );
  return value;
}

/** Settings from the environment, with flags (same names) taking precedence. */
export function loadConfig(env: Settings, flags: Settings = {}): ControlPlaneConfig {
  const get = (k: SettingName): string | undefined => flags[k] ?? env[k] ?? undefined;
  const databaseUrl = get('DATABASE_URL');
  const certFile = get('OOMFLEET_TLS_CERT');
  const keyFile = get('OOMFLEET_TLS_KEY');
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ConfigError(
      certFile ? 'OOMFLEET_TLS_KEY' : 'OOMFLEET_TLS_CERT',
      'is missing',
      'give both the certificate and its key, or neither',
    );
  const clientAuth = get('OOMFLEET_TLS_CLIENT_AUTH') ?? 'none';
  if (clientAuth !== 'none' && clientAuth !== 'require')
    throw new ConfigError(
      'OOMFLEET_TLS_CLIENT_AUTH',
      `${JSON.stringify(clientAuth)} is not known`,
      'use "require" or "none"',
    );
  const caFile = get('OOMFLEET_TLS_CA');
  if (clientAuth === 'require' && !caFile)
    throw new ConfigError(
      'OOMFLEET_TLS_CA',
      'is missing',
      'mutual TLS needs the CA client certificates chain to',
    );
  if (clientAuth === 'require' && !certFile)
    throw new ConfigError(
      'OOMFLEET_TLS_CERT',
      'is missing',
      'mutual TLS needs a server certificate',
    );
  return {
    ...(databaseUrl
      ? { databaseUrl: url('DATABASE_URL', databaseUrl, ['postgresql:', 'postgres:']) }
      : {}),
    dataDir: get('OOMFLEET_DATA_DIR') ?? '/var/lib/oomfleet-server',
    redisUrl: url('REDIS_URL', get('REDIS_URL') ?? 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    http: address('OOMFLEET_HTTP_ADDR', get('OOMFLEET_HTTP_ADDR') ?? '127.0.0.1:8080'),
    grpc: address('OOMFLEET_GRPC_ADDR', get('OOMFLEET_GRPC_ADDR') ?? '127.0.0.1:7443'),
    replicaId: get('OOMFLEET_REPLICA_ID') ?? `${hostname()}:${process.pid}`,
    ...(get('OOMFLEET_REDIS_PREFIX')
      ? { redisPrefix: redisPrefix(get('OOMFLEET_REDIS_PREFIX') ?? '') }
      : {}),
    ...(certFile && keyFile
      ? {
          tls: {
            certFile,
            keyFile,
            ...(caFile ? { caFile } : {}),
            requireClientCert: clientAuth === 'require',
          },
        }
      : {}),
  };
}
