// The lean entry of `oomfleet agent run` (bin/oomfleet.js routes here): the
// supervisor is the process that must not be stuck or large, so it parses
// its few flags with node:util instead of loading the whole CLI. Anything it
// does not understand goes to the full CLI, which prints usage and exits 2.
import { parseArgs } from 'node:util';
import { CGROUP_MODES, DEFAULT_SOCKET_PATH, DEFAULT_STATE_DIR, runAgent } from './run.ts';

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
      },
    });
    const mode = CGROUP_MODES.find((m) => m === values['cgroup-mode']);
    if (positionals.length > 0 || !mode) return undefined;
    return {
      stateDir: values['state-dir'],
      socket: values.socket,
      cgroupMode: mode,
      ...(values.policy ? { policy: values.policy } : {}),
      ...(values['cgroup-root'] ? { cgroupRoot: values['cgroup-root'] } : {}),
    };
  } catch {
    return undefined;
  }
}
