// The lean entry of `oomfleet agent run` (bin/oomfleet.js routes here): the
// supervisor is the process that must not be stuck or large, so it parses
// its few flags with node:util instead of loading the whole CLI. Anything it
// does not understand goes to the full CLI, which prints usage and exits 2.
import { parseArgs } from 'node:util';
import {
  CGROUP_MODES,
  controlPlaneOptions,
  DEFAULT_SOCKET_PATH,
  DEFAULT_STATE_DIR,
  runAgent,
  type RunFlags,
} from './run.ts';

export { runAgent };

export function parseRunFlags(argv: string[]): Parameters<typeof runAgent>[0] | undefined {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        policy: { type: 'string' },
        'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
        socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
        'cgroup-root': { type: 'string' },
        'cgroup-mode': { type: 'string', default: 'auto' },
        'control-plane': { type: 'string' },
        'enrollment-token': { type: 'string' },
        'enrollment-token-file': { type: 'string' },
        labels: { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
      },
    });
    const mode = CGROUP_MODES.find((m) => m === values['cgroup-mode']);
    if (positionals.length > 0 || !mode) return undefined;
    const flags: RunFlags = {
      stateDir: values['state-dir'],
      socket: values.socket,
      cgroupMode: mode,
      ...(values.policy ? { policy: values.policy } : {}),
      ...(values['cgroup-root'] ? { cgroupRoot: values['cgroup-root'] } : {}),
      ...(values['control-plane'] ? { controlPlane: values['control-plane'] } : {}),
      ...(values['enrollment-token'] ? { enrollmentToken: values['enrollment-token'] } : {}),
      ...(values['enrollment-token-file']
        ? { enrollmentTokenFile: values['enrollment-token-file'] }
        : {}),
      ...(values.labels !== undefined ? { labels: values.labels } : {}),
      ...(values['tls-ca'] ? { tlsCa: values['tls-ca'] } : {}),
      ...(values['tls-cert'] ? { tlsCert: values['tls-cert'] } : {}),
      ...(values['tls-key'] ? { tlsKey: values['tls-key'] } : {}),
    };
    // Wrong control-plane flags go to the full CLI, which explains them.
    controlPlaneOptions(flags);
    return flags;
  } catch {
    return undefined;
  }
}
