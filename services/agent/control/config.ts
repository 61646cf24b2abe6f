// The control-plane flags, checked where they are given (the supervisor, the
// CLI) and resolved where they are used (the worker). Node built-ins only:
// the supervisor imports this and must stay lean.
import { readFileSync } from 'node:fs';

/** How the worker reaches the control plane (part of WorkerOptions, passed as JSON). */
export interface ControlPlaneOptions {
  /** host:port of the control plane's gRPC endpoint. */
  address: string;
  /** Trades for a host identity at the first start; not needed once enrolled. */
  enrollmentToken?: string;
  /** A file holding the token (so it stays out of `ps`). */
  enrollmentTokenFile?: string;
  labels?: Record<string, string>;
  /** PEM files. Any of them turns TLS on; cert and key go together (mutual TLS). */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Tuning, mostly for tests. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  heartbeatMs?: number;
  connectTimeoutMs?: number;
  /** A stream that lasted this long resets the backoff. */
  stableMs?: number;
  reportDelayMs?: number;
  reportBatchSize?: number;
}

export class ControlConfigError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ControlConfigError';
  }
}

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9_./-]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9_./:@-]*$/;

/** `k=v,k2=v2` → { k: 'v', k2: 'v2' }; throws ControlConfigError on anything else. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? undefined : item.slice(eq + 1);
    if (value === undefined || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value))
      throw new ControlConfigError(
        `--labels: ${JSON.stringify(item)} is not key=value`,
        'e.g. --labels zone=a,tier=batch (keys: letters, digits, _ . / -)',
      );
    labels[key] = value;
  }
  return labels;
}

/** Checks a host:port address (IPv6 in brackets). */
export function checkAddress(address: string): string {
  const a = address.trim();
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(a);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new ControlConfigError(
      `--control-plane: ${JSON.stringify(address)} is not host:port`,
      'e.g. --control-plane oomfleet.example.com:7443',
    );
  return a;
}

/** Checks the options as the flags gave them (no files are read). */
export function checkControlPlaneOptions(o: ControlPlaneOptions): ControlPlaneOptions {
  checkAddress(o.address);
  if (o.enrollmentToken && o.enrollmentTokenFile)
    throw new ControlConfigError(
      'give --enrollment-token or --enrollment-token-file, not both',
      'prefer the file: a token on the command line shows in ps',
    );
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey))
    throw new ControlConfigError(
      '--tls-cert and --tls-key go together',
      'give both (mutual TLS), or neither',
    );
  return o;
}

export interface ResolvedControlPlane {
  address: string;
  enrollmentToken?: string;
  labels: Record<string, string>;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ControlConfigError(
      `${flag} ${path}: ${(err as Error).message}`,
      `check the ${flag} path`,
    );
  }
}

/** Reads the token and TLS files; throws ControlConfigError when one cannot be read. */
export function resolveControlPlane(o: ControlPlaneOptions): ResolvedControlPlane {
  checkControlPlaneOptions(o);
  const token = o.enrollmentTokenFile
    ? readFlagFile('--enrollment-token-file', o.enrollmentTokenFile).toString('utf8').trim()
    : o.enrollmentToken?.trim();
  // Any TLS flag given turns TLS on (an empty --tls-ca must not turn it off
  // while --tls-cert and --tls-key are given).
  const tlsOn = [o.tlsCa, o.tlsCert, o.tlsKey].some(Boolean);
  return {
    address: o.address.trim(),
    ...(token ? { enrollmentToken: token } : {}),
    labels: { ...(o.labels ?? {}) },
    ...(tlsOn
      ? {
          tls: {
            ...(o.tlsCa ? { ca: readFlagFile('--tls-ca', o.tlsCa) } : {}),
            ...(o.tlsCert ? { cert: readFlagFile('--tls-cert', o.tlsCert) } : {}),
            ...(o.tlsKey ? { key: readFlagFile('--tls-key', o.tlsKey) } : {}),
          },
        }
      : {}),
  };
}
