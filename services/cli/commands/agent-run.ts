// `oomfleet agent run`: the supervisor in this process, the worker in a
// child it restarts. SIGTERM stops both and hands every memcg back to the
// kernel's OOM killer first.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_SOCKET } from '../../agent/endpoint/server.ts';
import { restoreKernelOom, STATE_FILE } from '../../agent/state/store.ts';
import { EXIT_CONFIG, startSupervisor } from '../../agent/supervisor/supervisor.ts';
import type { WorkerOptions } from '../../agent/worker.ts';
import { EXIT_INVALID, EXIT_OK } from '../errors.ts';
import type { Io } from '../output.ts';

export const DEFAULT_STATE_DIR = '/var/lib/oomfleet';

interface RunFlags {
  policy?: string;
  stateDir: string;
  socket: string;
  cgroupRoot?: string;
  cgroupMode: 'auto' | 'v1' | 'v2' | 'none';
}

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
    .option('--socket <path>', 'the local endpoint (root only)', DEFAULT_SOCKET)
    .option(
      '--cgroup-root <dir>',
      'the memory hierarchy (or a subtree of it) to manage; detected by default',
    )
    .option('--cgroup-mode <mode>', 'auto, v1, v2 or none', 'auto')
    .action(async (o: RunFlags) => {
      const worker: WorkerOptions = {
        stateDir: o.stateDir,
        socketPath: o.socket,
        cgroupMode: o.cgroupMode,
        ...(o.policy ? { policyFile: o.policy } : {}),
        ...(o.cgroupRoot ? { cgroupRoot: o.cgroupRoot } : {}),
      };
      const workerModule = fileURLToPath(new URL('../../agent/worker-main.ts', import.meta.url));
      const code = await new Promise<number>((resolve) => {
        const sup = startSupervisor({
          workerModule,
          workerArgs: [JSON.stringify(worker)],
          // The worker is TypeScript too: load it through tsx, found from here, not the cwd.
          execArgv: ['--import', import.meta.resolve('tsx')],
          restoreKernelOom: () => restoreKernelOom(join(o.stateDir, STATE_FILE)),
          log: (l) => {
            io.err(l);
          },
          onGiveUp: (c) => {
            resolve(c === EXIT_CONFIG ? EXIT_INVALID : c);
          },
        });
        const stop = (): void => {
          void sup.stop().then(() => {
            resolve(EXIT_OK);
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      setExit(code);
    });
}
