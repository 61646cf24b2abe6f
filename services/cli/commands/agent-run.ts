// `oomfleet agent run`: the supervisor in this process, the worker in a
// child it restarts. SIGTERM stops both and hands every memcg back to the
// kernel's OOM killer first.
import { Option, type Command } from 'commander';
import {
  CGROUP_MODES,
  DEFAULT_SOCKET_PATH,
  DEFAULT_STATE_DIR,
  runAgent,
  type RunFlags,
} from '../../agent/supervisor/run.ts';
import type { Io } from '../output.ts';

export function addRunCommand(agent: Command, io: Io, setExit: (code: number) => void): void {
  agent
    .command('run')
    .description('run the agent: a supervisor and the worker that enforces the policy')
    .option('--policy <file>', 'a local policy, for machines without a control plane')
    .option(
      '--state-dir <dir>',
      'last-known-good policy, original settings, events',
      DEFAULT_STATE_DIR,
    )
    .option('--socket <path>', 'the local endpoint (root only)', DEFAULT_SOCKET_PATH)
    .option(
      '--cgroup-root <dir>',
      'the memory hierarchy (or a subtree of it) to manage; detected by default',
    )
    .addOption(
      new Option('--cgroup-mode <mode>', 'which hierarchy holds the memory controller')
        .choices(CGROUP_MODES)
        .default('auto'),
    )
    .action(async (o: RunFlags) => {
      setExit(
        await runAgent(o, (l) => {
          io.err(l);
        }),
      );
    });
}
